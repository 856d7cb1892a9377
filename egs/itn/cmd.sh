# Where jobs run: run.pl on this machine, slurm.pl on a cluster (same arguments).
export train_cmd="utils/run.pl"
export decode_cmd="utils/run.pl"
