#!/usr/bin/env bash
# Run a command, or an array of jobs, on this machine: the local counterpart of slurm.pl.
# (Named run.pl for Kaldi's cmd.sh convention; it is a bash script.)
#
#   run.pl [options] [JOB=1:N] LOGFILE COMMAND ARGS...
#
# With JOB=1:N, runs N jobs; in each, every "JOB" in LOGFILE and in the command is replaced by the
# job index.  Each job's log holds the command, start time, output (stdout+stderr), end time,
# exit status and elapsed time.  Jobs run in parallel, at most --max-jobs-run at a time (default:
# the number of CPUs).  Exits 1 if any job fails, naming the failed logs.
# Arguments without white space are passed to bash as they are, so `\|` or "ark:foo|" pipes work
# as in Kaldi; arguments with white space are quoted.
# Queue options (--mem, --gpu, --num-threads, --time, --partition, ...) are accepted and ignored,
# so one $cmd works with both run.pl and slurm.pl.

set -u
prog=run.pl
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/job_args.sh"
max_jobs_run=$(nproc 2>/dev/null || echo 1)
parse_job_args "$@"

statusdir=$(mktemp -d "${TMPDIR:-/tmp}/run_pl.XXXXXX")
pids=()
on_signal() {
  echo "$prog: interrupted, killing running jobs" 1>&2
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  wait; rm -rf "$statusdir"; exit 130
}
trap on_signal INT TERM

run_one() {  # run_one JOBID; writes the job's exit status to $statusdir/JOBID
  local id=$1 this_cmd=$cmd this_log start end code
  this_log=$(job_log "$id")
  if [ -n "$jobvar" ]; then this_cmd=${cmd//$jobvar/$id}; fi
  mkdir -p "$(dirname "$this_log")" || { echo 1 > "$statusdir/$id"; return; }
  start=$(date +%s)
  printf '# %s\n# Started at %s\n#\n' "$this_cmd" "$(date)" > "$this_log"
  bash -c "$this_cmd" >> "$this_log" 2>&1 < /dev/null
  code=$?
  end=$(date +%s)
  printf '# Accounting: time=%d threads=%d\n# Ended (code %d) at %s, elapsed time %d seconds\n' \
    $((end - start)) "$num_threads" "$code" "$(date)" $((end - start)) >> "$this_log"
  echo "$code" > "$statusdir/$id"
}

for ((id = first; id <= last; id++)); do
  while [ "$(jobs -rp | wc -l)" -ge "$max_jobs_run" ]; do wait -n; done
  run_one "$id" &
  pids+=($!)
done
wait

report_failures "$statusdir"; status=$?
rm -rf "$statusdir"
exit $status
