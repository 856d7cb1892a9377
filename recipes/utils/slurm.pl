#!/usr/bin/env bash
# Submit a command, or an array of jobs, to Slurm and wait for it: the cluster counterpart of run.pl.
# (Named slurm.pl for Kaldi's cmd.sh convention; it is a bash script.)
#
#   slurm.pl [options] [JOB=1:N] LOGFILE COMMAND ARGS...
#
# Same interface and log format as run.pl.  Writes an sbatch array script to
# <log dir>/q/<log name>.sh, submits it with `sbatch --wait`, and when the array ends reports every
# job whose exit status is not 0 (or that left none: killed, out of time or memory).
# Options: --mem 4G, --gpu 1, --num-threads 4, --time 4:00:00, --partition P, --account A, --qos Q,
#   --max-jobs-run N (array throttle %N), --config FILE (extra sbatch options, one a line, e.g.
#   `--exclude=node[1-3]`), --dry-run true (or SLURM_PL_DRY_RUN=true): write the script, print the
#   sbatch command line and exit 0 without submitting.

set -u
prog=slurm.pl
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/job_args.sh"
max_jobs_run=1000000
parse_job_args "$@"

logdir=$(dirname "$logfile")
qdir=$logdir/q
name=$(basename "$logfile" .log)
[ -n "$jobvar" ] && { name=${name//.$jobvar/}; name=${name//$jobvar/}; }; name=${name//[^A-Za-z0-9_.-]/}; name=${name:-job}
mkdir -p "$qdir" || exit 1
script=$qdir/$name.sh
statusdir=$qdir/$name.status
rm -rf "$statusdir"; mkdir -p "$statusdir"

sbatch_opts=(--job-name="$name" --array="$first-$last" --output="$qdir/$name.%a.out"
  --cpus-per-task="$num_threads" --chdir="$PWD")
[ "$max_jobs_run" -lt $((last - first + 1)) ] && sbatch_opts[1]="--array=$first-$last%$max_jobs_run"
[ -n "$mem" ] && sbatch_opts+=(--mem="$mem")
[ "$gpu" != 0 ] && sbatch_opts+=(--gres="gpu:$gpu")
[ -n "$time_limit" ] && sbatch_opts+=(--time="$time_limit")
[ -n "$partition" ] && sbatch_opts+=(--partition="$partition")
[ -n "$account" ] && sbatch_opts+=(--account="$account")
[ -n "$qos" ] && sbatch_opts+=(--qos="$qos")
if [ -n "$config" ]; then
  [ -r "$config" ] || { echo "$prog: cannot read config $config" 1>&2; exit 1; }
  while read -r line; do
    line=${line%%#*}; line=${line## }; line=${line%% }
    [ -n "$line" ] && sbatch_opts+=("$line")
  done < "$config"
fi

abs_log=$logfile; [[ "$abs_log" = /* ]] || abs_log=$PWD/$logfile
abs_status=$statusdir; [[ "$abs_status" = /* ]] || abs_status=$PWD/$statusdir
{
  echo "#!/usr/bin/env bash"
  for opt in "${sbatch_opts[@]}"; do echo "#SBATCH $opt"; done
  echo "# Written by slurm.pl; one array task per job."
  echo "cd $(printf '%q' "$PWD")"
  echo "task=\${SLURM_ARRAY_TASK_ID:-$first}"
  echo "cmd=$(printf '%q' "$cmd")"
  echo "log=$(printf '%q' "$abs_log")"
  if [ -n "$jobvar" ]; then
    echo "cmd=\${cmd//$jobvar/\$task}"
    echo "log=\${log//$jobvar/\$task}"
  fi
  cat <<'BODY'
mkdir -p "$(dirname "$log")"
start=$(date +%s)
printf '# %s\n# Started at %s on %s\n#\n' "$cmd" "$(date)" "$(hostname)" > "$log"
bash -c "$cmd" >> "$log" 2>&1 < /dev/null
code=$?
end=$(date +%s)
printf '# Accounting: time=%d threads=%d\n# Ended (code %d) at %s, elapsed time %d seconds\n' \
  $((end - start)) "${SLURM_CPUS_PER_TASK:-1}" "$code" "$(date)" $((end - start)) >> "$log"
BODY
  echo "echo \$code > $(printf '%q' "$abs_status")/\$task"
  echo "exit \$code"
} > "$script"
chmod +x "$script"

if [ "$dry_run" == true ] || [ "$dry_run" == 1 ]; then
  echo "sbatch --wait $script"
  exit 0
fi

command -v sbatch > /dev/null || { echo "$prog: sbatch not found; use run.pl on a machine without Slurm" 1>&2; exit 1; }
# sbatch --wait blocks until every array task ends; its own exit code only says "some task
# failed", so the per-task status files decide which logs to name.
sbatch --wait "$script" > "$qdir/$name.sbatch.out" 2>&1
sbatch_code=$?
report_failures "$statusdir"; status=$?
if [ $status -eq 0 ] && [ $sbatch_code -ne 0 ]; then
  echo "$prog: sbatch failed (code $sbatch_code), see $qdir/$name.sbatch.out" 1>&2
  status=1
fi
exit $status
