# How this recipe runs its long jobs (see recipes/cmd.sh.example). On this machine run.pl runs them
# locally, one log per job; on a Slurm cluster use the slurm.pl lines instead.
export train_cmd="run.pl"
export decode_cmd="run.pl"
export feats_cmd="run.pl"
# export train_cmd="slurm.pl --mem 16G --gpu 1 --num-threads 8 --time 24:00:00"
# export decode_cmd="slurm.pl --mem 8G --num-threads 4"
# export feats_cmd="slurm.pl --mem 4G --max-jobs-run 50"
