# Shared argument parsing for run.pl and slurm.pl (sourced, not run).
#
#   parse_job_args "$@"
# sets: max_jobs_run mem gpu num_threads time_limit partition account qos config dry_run
#       jobvar first last logfile cmd
# `cmd` is the command as one bash string, quoted the Kaldi way: words without white space go as
# they are (so `\|` and "ark:foo|" pipes work), words with white space are quoted.

job_args_usage() {
  echo "Usage: $prog [options] [JOB=1:N] <log-file> <command...>" 1>&2
  echo "  --max-jobs-run N   run at most N jobs at a time" 1>&2
  echo "  --mem M --gpu N --num-threads N --time T --partition P --account A --qos Q  queue resources" 1>&2
  echo "  --config FILE      (slurm.pl) extra sbatch options, one a line" 1>&2
  exit 1
}

parse_job_args() {
  mem=""; gpu=0; num_threads=1; time_limit=""; partition=""; account=""; qos=""; config=""
  dry_run=${SLURM_PL_DRY_RUN:-false}
  while [ $# -gt 0 ]; do
    case "$1" in
      --max-jobs-run|-tc) [ $# -ge 2 ] || job_args_usage; max_jobs_run=$2; shift 2 ;;
      --mem) [ $# -ge 2 ] || job_args_usage; mem=$2; shift 2 ;;
      --gpu) [ $# -ge 2 ] || job_args_usage; gpu=$2; shift 2 ;;
      --num-threads) [ $# -ge 2 ] || job_args_usage; num_threads=$2; shift 2 ;;
      --time) [ $# -ge 2 ] || job_args_usage; time_limit=$2; shift 2 ;;
      --partition) [ $# -ge 2 ] || job_args_usage; partition=$2; shift 2 ;;
      --account) [ $# -ge 2 ] || job_args_usage; account=$2; shift 2 ;;
      --qos) [ $# -ge 2 ] || job_args_usage; qos=$2; shift 2 ;;
      --config) [ $# -ge 2 ] || job_args_usage; config=$2; shift 2 ;;
      --dry-run) [ $# -ge 2 ] || job_args_usage; dry_run=$2; shift 2 ;;
      --*) [ $# -ge 2 ] || job_args_usage; echo "$prog: ignoring unknown option $1 $2" 1>&2; shift 2 ;;
      *) break ;;
    esac
  done
  if ! [[ "$max_jobs_run" =~ ^[1-9][0-9]*$ ]]; then
    echo "$prog: --max-jobs-run must be a positive integer, got '$max_jobs_run'" 1>&2; exit 1
  fi

  jobvar=""; first=1; last=1
  if [ $# -gt 0 ] && [[ "$1" =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+):([0-9]+)$ ]]; then
    jobvar=${BASH_REMATCH[1]}; first=${BASH_REMATCH[2]}; last=${BASH_REMATCH[3]}; shift
    if [ "$first" -gt "$last" ]; then echo "$prog: invalid job range $jobvar=$first:$last" 1>&2; exit 1; fi
  elif [ $# -gt 0 ] && [[ "$1" =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+)$ ]]; then
    jobvar=${BASH_REMATCH[1]}; first=${BASH_REMATCH[2]}; last=$first; shift
  elif [ $# -gt 0 ] && [[ "$1" =~ ^[A-Za-z_][A-Za-z0-9_]*=.*$ ]]; then
    echo "$prog: invalid job specification '$1' (expected e.g. JOB=1:4)" 1>&2; exit 1
  fi
  [ $# -ge 2 ] || job_args_usage
  logfile=$1; shift

  if [ -n "$jobvar" ] && [ "$first" != "$last" ] && [[ "$logfile" != *"$jobvar"* ]]; then
    echo "$prog: you are running $((last - first + 1)) jobs but their logs all go to $logfile (put $jobvar in its name)" 1>&2
    exit 1
  fi

  cmd=""
  local arg
  for arg in "$@"; do
    if [[ "$arg" =~ [[:space:]] ]]; then cmd+="$(printf '%q' "$arg") "; else cmd+="$arg "; fi
  done
  cmd=${cmd% }
}

job_log() {  # job_log ID: the log file of job ID
  if [ -n "$jobvar" ]; then echo "${logfile//$jobvar/$1}"; else echo "$logfile"; fi
}

report_failures() {  # report_failures STATUS_DIR: exit 1 naming the failed logs if any job failed
  local statusdir=$1 id code failed=0 failed_logs=()
  for ((id = first; id <= last; id++)); do
    code=$(cat "$statusdir/$id" 2>/dev/null || echo missing)
    if [ "$code" != 0 ]; then failed=$((failed + 1)); failed_logs+=("$(job_log "$id")"); fi
  done
  if [ "$failed" -gt 0 ]; then
    if [ $((last - first + 1)) -eq 1 ]; then
      echo "$prog: job failed, log is in ${failed_logs[0]}" 1>&2
    else
      echo "$prog: $failed / $((last - first + 1)) failed, log is in ${failed_logs[*]}" 1>&2
    fi
    return 1
  fi
  return 0
}
