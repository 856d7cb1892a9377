#!/usr/bin/env bash
# One US-English female speaker reading CMU ARCTIC prompts, 16 kHz (CC0).
#
#   ./run.sh [--stage 0] [--stop-stage 100] [--data-dir download] [--nj 2] [--vocab-size 256] [--force false]
#
# --data-dir holds transcripts.tsv and wav/ (or kathleen/ with them, as ../shared/data does). The
# recordings have no public download: point --data-dir at a local copy. Splits are prompt-disjoint
# (every take of a prompt on one side; asr/corpora/kathleen.py): train, dev (5%), test (8%).
# Stages: 0 locate, 1 prepare, 2 fbank, 3 lang (BPE), 4-6 train/decode/score.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0
stop_stage=100
data_dir=download
nj=2
seed=0
vocab_size=256
force=false
help_message=$(sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$(basename "$0")")  # the header above
. utils/parse_options.sh
. utils/log.sh

corpus=kathleen
splits="train dev test"
lang_dir=data/lang_bpe_$vocab_size

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: locate $corpus in $data_dir"
  python -m asr.corpora.$corpus download "$data_dir"
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: prepare manifests and Kaldi data dirs"
  steps/prepare_corpus.sh --force $force --opts "--seed $seed" $corpus "$data_dir" data
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: compute fbank"
  for split in $splits; do
    steps/compute_fbank.sh --cmd "$feats_cmd" --nj $nj --force $force \
      data/manifests/${corpus}_cuts_$split.jsonl.gz data/fbank
  done
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: BPE lang dir $lang_dir"
  steps/make_lang.sh --model-type bpe --vocab-size $vocab_size --force $force $lang_dir data/train/text
fi

# Stages 4-6 (train, decode, score) follow.
