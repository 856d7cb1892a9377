#!/usr/bin/env bash
# Train SURT (asr/models/surt.py) in the steps that work (docs/surt.md), each a
# steps/train_transducer.sh run that starts from the one before:
#
#   steps/train_surt.sh [--cmd run.pl] [--nproc 1] [--force false] [--init-from MODEL_DIR]
#       [--unmixer-epochs "15 15 15 15 15"] [--joint-epochs "8 8"] [--fresh-cuts "A B"] [--fresh-epochs 6]
#       [--average-runs 1] [--average-last 3] [--eos-chunk-sizes ""] [--eos-cuts ""] [--eos-seeds ""]
#       [--mask-loss 0] [--eos-epochs 3] [--eos-penalties "0.05"] [--eos-window-penalties "1.0"]
#       [--eos-window "0.1 0.4"] CONFIG LANG_DIR EXP_ROOT DEV_CUTS TRAIN_CUTS
#
#   EXP_ROOT/unmix_pre, unmix_pre2, ...: the mask estimator alone (loss.unmixer_only) on the masked
#     features' MSE against the channel sources, one run per --unmixer-epochs entry, each restarting
#     the learning rate; the encoder, predictor and joiner are --init-from's (a single-talker model
#     dir), not trained. The cuts need their channel sources (asr.corpora.mixtures --write-sources).
#     No SpecAugment here (asr/training/loop.py: the sources are not augmented). "0" skips it.
#   EXP_ROOT/surt_noeos, surt_noeos2, ...: everything jointly, from the last of them (or from
#     --init-from, or from scratch with --init-from ""), without <eos> in the targets: <eos> from
#     the start kept the model on the blank plateau. One run on TRAIN_CUTS per --joint-epochs entry
#     ("": one run of the config's num_epochs), then one of --fresh-epochs on each --fresh-cuts set
#     (sessions simulated anew from the same strings, so that later epochs see new mixtures), each
#     from the run before with the learning rate restarted. --mask-loss S adds the mask loss to the
#     runs on TRAIN_CUTS, fading out over the warm-up (the fresh sets need no channel sources).
#   EXP_ROOT/surt_noeos_avg (--average-runs K > 1): a model dir whose weights average the last
#     --average-last epoch checkpoints of each of the last K joint runs (`asr export average`); the
#     <eos> fine-tunings start from it (docs/surt.md: the last two runs averaged beat either one).
#   EXP_ROOT/surt: <eos> fine-tuning from the last joint run (or its average) for --eos-epochs epochs on TRAIN_CUTS
#     (3 there beat 1 on a fresh set of 3x the sessions: docs/surt.md), no penalty;
#     EXP_ROOT/surt_ep<P>: the same with the delay penalty P on the <eos> arcs (loss.eos_penalty);
#     EXP_ROOT/surt_win<P>: the same with the endpoint window (loss.eos_window_penalty P outside
#     --eos-window "START END", seconds from each sentence's end of speech). --eos-chunk-sizes "8":
#     the fine-tunings train at these chunk sizes only (encoder frames), never with full context, so
#     that <eos> is learnt with the look-ahead it is decoded with ("": the config's schedule).
#     --eos-cuts CUTS: the fine-tunings train on these sessions instead of TRAIN_CUTS (egs/fsdd_mix:
#     the train sessions with a talker's sentences 0.6 s apart, so that no sentence end is
#     followed by less silence than a pause inside a sentence). --eos-seeds "S1 S2 ...": each fine-tuning
#     runs once per seed (S1 in EXP_ROOT/surt, the others in surt_seed<S>, surt_win1.0_seed<S>, ...;
#     "": once, with the config's seed), and with two or more EXP_ROOT/surt_avg, surt_win1.0_avg, ...
#     average the last --average-last epochs of the runs; they stand for the fine-tuning in surt_models.txt (docs/surt.md: two seeds of one
#     fine-tuning read 6.11% and 5.40% ORC-WER, their average 5.09%;
#     a third 6.95%, the three averaged 5.42%).
#   EXP_ROOT/surt_models.txt: the model dirs to compare, one a line (the last pretraining run,
#     the last joint run, then the <eos> models), for the recipe's endpoint table.
set -euo pipefail

cmd=run.pl
nproc=1
force=false
init_from=
unmixer_epochs="15 15 15 15 15"
joint_epochs=
fresh_cuts=
fresh_epochs=6
average_runs=1
average_last=3
eos_chunk_sizes=
eos_cuts=
eos_seeds=
mask_loss=0
eos_epochs=3
eos_penalties=
eos_window_penalties=
eos_window="0.1 0.4"
. utils/parse_options.sh
. utils/log.sh

if [ $# -ne 5 ]; then
  echo "Usage: $0 [options] <config> <lang-dir> <exp-root> <dev-cuts> <train-cuts>" 1>&2
  exit 1
fi
config=$1 lang_dir=$2 exp_root=$3 dev=$4 train=$5

models=()  # the model dirs trained, in table order (EXP_ROOT/surt_models.txt)
train() {  # train EXP_DIR OPTS [TRAIN_CUTS]
  steps/train_transducer.sh --cmd "$cmd" --nproc "$nproc" --force "$force" --opts "$2" \
    "$config" "$lang_dir" "$1" "$dev" "${3:-$train}"
}
average() {  # average OUT_MODEL_DIR MODEL_DIR RUN_DIR...: the last --average-last epochs of each run, one model dir
  local out=$1 model_dir=$2
  shift 2
  if [ -f "$out/model.pt" ] && ! $force; then
    log "${out%/model} already averaged, skipping"
  else
    log "average the last $average_last epochs of each of $* -> $out"
    python -m asr.cli export average --overwrite --model-dir "$model_dir" --out "$out" --last "$average_last" "$@" ||
      die "averaging $* failed"
  fi
}

if [ -n "$init_from" ] && [ ! -f "$init_from/config.json" ]; then
  die "--init-from $init_from is not a model dir: train the single-talker model first, or give --init-from '' to train from scratch"
fi
if [ "$unmixer_epochs" != 0 ]; then
  [ -n "$init_from" ] || die "--unmixer-epochs needs --init-from: the recognizer is not trained while the unmixer is"
  run=0
  for epochs in $unmixer_epochs; do
    run=$((run + 1))
    dir=$exp_root/unmix_pre
    [ $run -gt 1 ] && dir=$exp_root/unmix_pre$run
    log "pretrain the mask estimator alone on the channel sources, run $run ($epochs epochs) -> $dir"
    train "$dir" "--num-epochs $epochs --set loss.unmixer_only=true --set model.eos_id=-1 --set init_from=$init_from"
    init_from=$dir/model
  done
  models=("$init_from")  # the last pretraining run: the masks before joint training
fi

for cuts in $fresh_cuts; do
  [ -f "$cuts" ] || die "--fresh-cuts: $cuts does not exist"
done
[ -z "$eos_cuts" ] || [ -f "$eos_cuts" ] || die "--eos-cuts: $eos_cuts does not exist"
# one joint run per entry: "EPOCHS CUTS MASK_LOSS" ("-": the config's num_epochs)
runs=()
for epochs in ${joint_epochs:--}; do runs+=("$epochs $train $mask_loss"); done
for cuts in $fresh_cuts; do runs+=("$fresh_epochs $cuts 0"); done
[ "$average_runs" -ge 1 ] && [ "$average_runs" -le ${#runs[@]} ] ||
  die "--average-runs $average_runs: between 1 and the number of joint runs (${#runs[@]})"
run=0
joint_dirs=()
for spec in "${runs[@]}"; do
  read -r epochs cuts run_mask_loss <<< "$spec"
  run=$((run + 1))
  dir=$exp_root/surt_noeos
  [ $run -gt 1 ] && dir=$exp_root/surt_noeos$run
  joint_opt="--set loss.mask_loss_scale=$run_mask_loss --set model.eos_id=-1"
  [ "$epochs" != - ] && joint_opt="$joint_opt --num-epochs $epochs"
  [ -n "$init_from" ] && joint_opt="$joint_opt --set init_from=$init_from"
  log "train SURT without <eos> (rule endpointing; the start of the <eos> models), run $run on $cuts -> $dir"
  train "$dir" "$joint_opt" "$cuts"
  init_from=$dir/model
  joint_dirs+=("$dir")
done
if [ "$average_runs" -gt 1 ]; then
  average "$exp_root/surt_noeos_avg/model" "$init_from" "${joint_dirs[@]: -$average_runs}"
  init_from=$exp_root/surt_noeos_avg/model
fi
models+=("$init_from")

# fine-tuning: half the learning rate, a short warm-up, the pruned loss at full weight from the start
finetune_opt="--set loss.mask_loss_scale=$mask_loss --num-epochs $eos_epochs --set init_from=$init_from"
finetune_opt="$finetune_opt --set optim.base_lr=0.001 --set optim.warmup_batches=50 --set loss.warm_step=0"
if [ -n "$eos_chunk_sizes" ]; then
  finetune_opt="$finetune_opt --set model.chunk_sizes=[${eos_chunk_sizes// /,}] --set model.full_context_prob=0"
fi
read -r -a seeds <<< "$eos_seeds"
finetune() {  # finetune EXP_DIR OPTS: a run per --eos-seeds seed (none given: one, the config's seed), averaged if 2+
  local dir=$1 opts=$2 seed run_dir runs=()
  for seed in "${seeds[@]:-}"; do
    run_dir=$dir
    [ ${#runs[@]} -gt 0 ] && run_dir=${dir}_seed$seed
    train "$run_dir" "$opts${seed:+ --set seed=$seed}" "${eos_cuts:-$train}"
    runs+=("$run_dir")
  done
  if [ ${#runs[@]} -eq 1 ]; then
    models+=("$dir/model")
  else
    average "${dir}_avg/model" "$dir/model" "${runs[@]}"
    models+=("${dir}_avg/model")
  fi
}
for p in 0 $eos_penalties; do
  dir=$exp_root/surt_ep$p
  [ "$p" == 0 ] && dir=$exp_root/surt
  log "fine-tune with <eos>, latency penalty $p -> $dir"
  finetune "$dir" "$finetune_opt --set loss.eos_penalty=$p"
done
read -r window_start window_end <<< "$eos_window"
for p in $eos_window_penalties; do
  log "fine-tune with <eos>, endpoint window [$window_start, $window_end] s, penalty $p -> $exp_root/surt_win$p"
  finetune "$exp_root/surt_win$p" \
    "$finetune_opt --set loss.eos_window_penalty=$p --set loss.eos_window_start=$window_start --set loss.eos_window_end=$window_end"
done
printf '%s\n' "${models[@]}" > "$exp_root/surt_models.txt.tmp"
mv "$exp_root/surt_models.txt.tmp" "$exp_root/surt_models.txt"
