#!/usr/bin/env bash
# LibriSpeech (OpenSLR 12) in its standard layout, for users who have it or can download it.
#
#   ./run.sh [--stage 0] [--stop-stage 100] [--data-dir download] [--parts "..."] [--nj 2]
#            [--vocab-size 500] [--force false]
#
# --data-dir is the LibriSpeech root (holding dev-clean/, ...) or its parent; stage 0 downloads the
# --parts that are missing there. Each part is a split: data/manifests/librispeech_cuts_<part>.jsonl.gz.
# Stages: 0 download, 1 prepare, 2 fbank, 3 lang (BPE on --train-part), 4-6 train/decode/score.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0
stop_stage=100
data_dir=download
parts="train-clean-100 dev-clean test-clean"
train_part=train-clean-100
nj=2
vocab_size=500
force=false
nproc=1               # stage 4: >1 runs torchrun with that many processes (gloo on CPU, nccl on GPU)
. utils/parse_options.sh
. utils/log.sh

corpus=librispeech
lang_dir=data/lang_bpe_$vocab_size

# shellcheck disable=SC2086  # $parts is a list
steps/data_stages.sh --stage $stage --stop-stage $stop_stage --force $force --nj $nj --feats-cmd "$feats_cmd" \
  --download-opts "--parts $parts" --prepare-opts "--parts $parts" \
  --splits "$parts" --model-type bpe --vocab-size $vocab_size \
  $corpus "$data_dir" $lang_dir data/$train_part/text

# Stages 4-6 (train, decode, score) follow.
# Stages 4-6 (asr/training): train on --train-part (use --nproc N for N GPUs), decode dev/test
# with full context and 320 ms chunks, print the WER table.
train_config=conf/train.yaml
exp_dir=exp/transducer
test_parts="dev-clean test-clean"

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "Stage 4: train $exp_dir on $train_part ($nproc process(es))"
  steps/train_transducer.sh --cmd "$train_cmd" --nproc $nproc --force $force \
    $train_config $lang_dir $exp_dir data/fbank/${corpus}_cuts_dev-clean.jsonl.gz \
    data/fbank/${corpus}_cuts_$train_part.jsonl.gz
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "Stage 5: decode $test_parts (full context and 320 ms chunks)"
  cuts=()
  for part in $test_parts; do cuts+=(data/fbank/${corpus}_cuts_$part.jsonl.gz); done
  steps/decode_transducer.sh --cmd "$decode_cmd" --chunks "full 320" --force $force \
    $exp_dir/model $exp_dir/decode "${cuts[@]}"
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  log "Stage 6: WER table"
  python -m asr.training.report $exp_dir/decode
fi
