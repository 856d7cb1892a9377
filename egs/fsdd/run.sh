#!/usr/bin/env bash
# Free Spoken Digit Dataset: isolated digits plus connected digit strings (3-10 digits of one
# speaker joined with random pauses, written as 8 kHz wavs), words ZERO ... NINE.
#
#   ./run.sh [--stage 0] [--stop-stage 100] [--data-dir download] [--nj 2] [--seed 0] [--force false]
#            [--connected-ratio 0.5] [--test-connected-ratio 5.0] [--split-scheme idx]
#
# --data-dir holds recordings/ (or fsdd/recordings/, as ../shared/data does).
# Splits (asr/corpora/fsdd.py): *_spk speaker-disjoint (test theo, dev lucas), *_idx
# recording-disjoint with all speakers (test indices 5-9, dev 10-14). Ids of connected strings
# contain -conn- (<speaker>-conn-<split>-<n>), so isolated and connected results can be scored apart.
# The test splits get 10x as many strings per recording (1,500 strings, ~9,700 words in test_idx),
# so that a 10% relative difference between streaming and full context is more than a few errors.
# Stages: 0 download, 1 prepare, 2 fbank, 3 lang (character tokenizer), 4-6 train/decode/score,
# 7-9 the HMM first pass with a digit-loop grammar: 7 phone lang dir + monophone GMM-HMM, 8 DNN-HMM on
# its alignments, 9 decode test with both.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0
stop_stage=100
data_dir=download
nj=2
seed=0
connected_ratio=0.5   # connected strings per train/dev split = ratio * isolated recordings in it
test_connected_ratio=5.0  # the same for the test splits
force=false
split_scheme=idx      # stages 4-6: idx (recording-disjoint) or spk (speaker-disjoint)
nproc=1               # stage 4: >1 runs torchrun with that many processes
. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

corpus=fsdd
splits="train_spk dev_spk test_spk train_idx dev_idx test_idx"
lang_dir=data/lang_char

steps/data_stages.sh --stage $stage --stop-stage $stop_stage --force $force --nj $nj --feats-cmd "$feats_cmd" \
  --prepare-opts "--seed $seed --connected-ratio $connected_ratio --test-connected-ratio $test_connected_ratio" \
  --splits "$splits" --model-type char --vocab-size 32 \
  $corpus "$data_dir" $lang_dir data/train_spk/text data/train_idx/text

# Stages 4-6 (train, decode, score) follow.
# Stages 4-6 (asr/training): train a small streaming transducer on --train-split (isolated digits
# and connected strings), decode the matching test split -- all of it, and its connected strings
# alone (ids <speaker>-conn-*) -- with full context and 320 ms chunks, print the WER table.
# --split-scheme idx: recording-disjoint, all speakers; spk: speaker-disjoint (theo held out).
train_config=conf/train.yaml
exp_dir=exp/transducer_$split_scheme
test_cuts=data/fbank/${corpus}_cuts_test_$split_scheme.jsonl.gz
conn_cuts=data/fbank/${corpus}_cuts_test_${split_scheme}_connected.jsonl.gz

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "Stage 4: train $exp_dir on train_$split_scheme ($train_config)"
  steps/train_transducer.sh --cmd "$train_cmd" --nproc $nproc --force $force \
    $train_config $lang_dir $exp_dir data/fbank/${corpus}_cuts_dev_$split_scheme.jsonl.gz \
    data/fbank/${corpus}_cuts_train_$split_scheme.jsonl.gz
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "Stage 5: decode test_$split_scheme and its connected strings (full context and 320 ms chunks)"
  python -m asr.corpora.fsdd connected "$test_cuts" "$conn_cuts"
  steps/decode_transducer.sh --cmd "$decode_cmd" --chunks "full 320" --force $force \
    $exp_dir/model $exp_dir/decode $test_cuts $conn_cuts
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  log "Stage 6: WER table"
  python -m asr.training.report $exp_dir/decode
fi

# Stages 7-9 (asr/hybrid/gmm.py, asr/hybrid/dnn_hmm.py; issue 11): the HMM first pass over a
# digit-loop grammar (any sequence of ZERO ... NINE), as egs/yesno stages 7-8 and egs/kathleen 11-15:
# a phone lang dir from cmudict, a monophone GMM-HMM on MFCC + deltas at 8 kHz, a DNN-HMM on its
# alignments (dev_$split_scheme picks the epoch), both decoded on test_$split_scheme (isolated digits
# and connected strings).
phone_lang=data/lang_phone
digits="ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE"
hmm_decode_opts="--acoustic-scale 0.05"  # dev_idx: 0.05 better than 0.1 for both HMMs (fewer inserted digits)
hmm_exp=exp/mono_$split_scheme
dnn_exp=exp/dnn_$split_scheme
if [ $stage -le 7 ] && [ $stop_stage -ge 7 ]; then
  log "Stage 7: phone lang dir $phone_lang, monophone GMM-HMM $hmm_exp"
  if ! stage_done $phone_lang phone_lang; then
    python -m asr.hybrid.prepare $phone_lang --kaldi-text data/train_$split_scheme/text --no-graph
    mark_done $phone_lang phone_lang
  fi
  steps/train_gmm_mono.sh --cmd "$train_cmd" --sample-rate 8000 --force $force \
    $phone_lang data/train_$split_scheme $hmm_exp --loop-of $digits
fi

if [ $stage -le 8 ] && [ $stop_stage -ge 8 ]; then
  log "Stage 8: DNN-HMM on $hmm_exp's alignments -> $dnn_exp/model"
  steps/train_dnn_hmm.sh --cmd "$train_cmd" --force $force --dev data/dev_$split_scheme \
    $hmm_exp/model $phone_lang data/train_$split_scheme $dnn_exp
fi

if [ $stage -le 9 ] && [ $stop_stage -ge 9 ]; then
  log "Stage 9: decode test_$split_scheme with the GMM-HMM and the DNN-HMM"
  for exp in $hmm_exp $dnn_exp; do
    steps/decode_gmm.sh --cmd "$decode_cmd" --force $force --opts "$hmm_decode_opts" $exp/model $exp/decode data/test_$split_scheme
  done
fi
