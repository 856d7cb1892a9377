#!/usr/bin/env bash
# yesno (OpenSLR 1): 60 recordings of 8 Hebrew yes/no words, one speaker, 8 kHz.
#
#   ./run.sh [--stage 0] [--stop-stage 100] [--data-dir download] [--nj 2] [--force false]
#
# --data-dir holds waves_yesno/ (or yesno/waves_yesno/, as ../shared/data does); stage 0 downloads
# it there only when it is missing. Split: sorted names, even positions train, odd test (30/30).
# Stages: 0 download, 1 prepare (data/manifests, data/{train,test}), 2 fbank (data/fbank),
# 3 lang (character tokenizer, data/lang_char), 4-6 train/decode/score.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0
stop_stage=100
data_dir=download
nj=2
force=false
. utils/parse_options.sh
. utils/log.sh

corpus=yesno
splits="train test"
lang_dir=data/lang_char

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: find or download $corpus in $data_dir"
  python -m asr.corpora.$corpus download "$data_dir"
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: prepare manifests and Kaldi data dirs"
  steps/prepare_corpus.sh --force $force $corpus "$data_dir" data
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: compute fbank"
  for split in $splits; do
    steps/compute_fbank.sh --cmd "$feats_cmd" --nj $nj --force $force \
      data/manifests/${corpus}_cuts_$split.jsonl.gz data/fbank
  done
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: character lang dir $lang_dir"
  steps/make_lang.sh --model-type char --vocab-size 8 --force $force $lang_dir data/train/text
fi

# Stages 4-6 (train, decode, score) follow.
