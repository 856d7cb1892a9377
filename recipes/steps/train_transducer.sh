#!/usr/bin/env bash
# Train a streaming transducer with `python -m asr.training.train` (torchrun when --nproc > 1) and
# export the averaged model dir EXP_DIR/model.
#
#   steps/train_transducer.sh [--cmd run.pl] [--nproc 1] [--opts "--set k=v ..."] \
#       CONFIG LANG_DIR EXP_DIR DEV_CUTS TRAIN_CUTS [TRAIN_CUTS ...]
#
# DEV_CUTS "-" means no dev set (no per-epoch dev loss). One log: EXP_DIR/log/train.log;
# TensorBoard: EXP_DIR/tensorboard. Skips when EXP_DIR/.train.done exists. An interrupted run
# continues from its newest checkpoint when rerun. --force true trains from scratch: an existing
# EXP_DIR is first moved aside to EXP_DIR.old-<time> (kept, never deleted), because resuming its
# checkpoints after the data or lang dir changed would mix two trainings.
set -euo pipefail

cmd=run.pl
nproc=1
opts=
force=false
. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

if [ $# -lt 5 ]; then
  echo "Usage: $0 [--cmd run.pl] [--nproc 1] [--opts ''] <config> <lang-dir> <exp-dir> <dev-cuts> <train-cuts>..." 1>&2
  exit 1
fi
config=$1 lang_dir=$2 exp_dir=$3 dev_cuts=$4
shift 4
for f in "$config" "$lang_dir/tokens.txt" "$dev_cuts" "$@"; do
  [ "$f" == - ] || [ -f "$f" ] || die "$f does not exist: run the earlier stages first"
done

if stage_done "$exp_dir" train; then
  log "$exp_dir already trained, skipping"
  exit 0
fi
if [ "$force" == true ]; then
  old_dir=$(move_aside "$exp_dir")
  [ -z "$old_dir" ] || log "--force true: moved the earlier $exp_dir to $old_dir; training from scratch"
fi
mkdir -p "$exp_dir/log"
# run.pl starts the log afresh: keep the log of an earlier (interrupted) run beside it
[ -f "$exp_dir/log/train.log" ] && mv "$exp_dir/log/train.log" "$exp_dir/log/train.$(date +%Y%m%d-%H%M%S).log"
dev_opt=
[ "$dev_cuts" != - ] && dev_opt="--dev-cuts $dev_cuts"
launcher="python -m"
[ "$nproc" -gt 1 ] && launcher="torchrun --standalone --nproc_per_node $nproc -m"
log "training $exp_dir ($nproc process(es); log: $exp_dir/log/train.log)"
# shellcheck disable=SC2086  # $opts, $dev_opt and $launcher are word lists
$cmd "$exp_dir/log/train.log" \
  $launcher asr.training.train --config "$config" --lang-dir "$lang_dir" --exp-dir "$exp_dir" \
    $dev_opt --train-cuts "$@" $opts \
  || die "training failed, see $exp_dir/log/train.log"
[ -f "$exp_dir/model/config.json" ] || die "training stopped before exporting $exp_dir/model, see $exp_dir/log/train.log"
mark_done "$exp_dir" train
