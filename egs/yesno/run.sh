#!/usr/bin/env bash
# yesno (OpenSLR 1): 60 recordings of 8 Hebrew yes/no words, one speaker, 8 kHz.
#
#   ./run.sh [--stage 0] [--stop-stage 100] [--data-dir download] [--split kaldi] [--nj 2] [--force false]
#
# --data-dir holds waves_yesno/ (or yesno/waves_yesno/, as ../shared/data does); stage 0 downloads
# it there only when it is missing. --split kaldi (default): the first 31 sorted names train, the
# last 29 test, as Kaldi's egs/yesno/s5; --split lhotse: alternate names (30/30), as lhotse and
# icefall, which puts the mislabeled 0_1_0_1_0_0_0_0 (7 words spoken, 8 named) in test.
# Changing --split needs --force true from stage 1 on.
# Stages: 0 download, 1 prepare (data/manifests, data/{train,test}), 2 fbank (data/fbank; training
# adds every file's word suffixes and prefixes, cut at its pauses: asr/augment/pauses.py),
# 3 lang (character tokenizer, data/lang_char), 4-6 train/decode/score, 7-8 monophone GMM-HMM
# (phone lang dir data/lang_phone, exp/mono: train with a yes/no loop grammar, decode and score test),
# 9-10 DNN-HMM on its alignments (exp/dnn), decode and score test.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0
stop_stage=100
data_dir=download
split=kaldi
nj=2
force=false
nproc=1               # stage 4: >1 runs torchrun with that many processes (gloo on CPU, nccl on GPU)
. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

corpus=yesno
splits="train test"
lang_dir=data/lang_char

steps/data_stages.sh --stage $stage --stop-stage $stop_stage --force $force --nj $nj --feats-cmd "$feats_cmd" \
  --prepare-opts "--split $split" --before-fbank "local/pause_cuts.sh --force $force" \
  --splits "$splits train_pauses" --model-type char --vocab-size 8 \
  $corpus "$data_dir" $lang_dir data/train/text

# Stages 4-6 (train, decode, score) follow.
# Stages 4-6 (asr/training): train a small streaming transducer, decode the test half with full
# context and 320 ms chunks (greedy and modified beam search), print the WER table.
train_config=conf/train.yaml
exp_dir=exp/transducer

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "Stage 4: train $exp_dir ($train_config)"
  steps/train_transducer.sh --cmd "$train_cmd" --nproc $nproc --force $force \
    $train_config $lang_dir $exp_dir - data/fbank/${corpus}_cuts_train_pauses.jsonl.gz
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "Stage 5: decode test (full context and 320 ms chunks)"
  steps/decode_transducer.sh --cmd "$decode_cmd" --chunks "full 320" --force $force \
    $exp_dir/model $exp_dir/decode data/fbank/${corpus}_cuts_test.jsonl.gz
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  log "Stage 6: WER table"
  python -m asr.training.report $exp_dir/decode
fi

# Stages 7-8 (asr/hybrid/gmm.py, issue 11): a monophone GMM-HMM, Kaldi's egs/yesno/s5 in Python. A
# phone lang dir from cmudict (YES Y EH S, NO N OW), MFCC + deltas at the corpus's 8 kHz, equal
# alignment then 40 EM passes with re-alignment and Gaussian splitting, HCLG with a yes/no loop.
phone_lang=data/lang_phone
if [ $stage -le 7 ] && [ $stop_stage -ge 7 ]; then
  log "Stage 7: phone lang dir $phone_lang, monophone GMM-HMM exp/mono"
  if ! stage_done $phone_lang phone_lang; then
    python -m asr.hybrid.prepare $phone_lang --kaldi-text data/train/text --no-graph
    mark_done $phone_lang phone_lang
  fi
  steps/train_gmm_mono.sh --cmd "$train_cmd" --sample-rate 8000 --force $force \
    $phone_lang data/train exp/mono --loop-of YES NO
fi

if [ $stage -le 8 ] && [ $stop_stage -ge 8 ]; then
  log "Stage 8: decode test with the GMM-HMM"
  steps/decode_gmm.sh --cmd "$decode_cmd" --force $force exp/mono/model exp/mono/decode data/test
fi

# Stages 9-10 (asr/hybrid/dnn_hmm.py): a DNN-HMM on the GMM-HMM's alignments (23 hires MFCCs at
# 8 kHz; no dev split here, so the last of 10 epochs is kept), decoded over the same yes/no loop.
if [ $stage -le 9 ] && [ $stop_stage -ge 9 ]; then
  log "Stage 9: DNN-HMM on exp/mono's alignments -> exp/dnn/model"
  steps/train_dnn_hmm.sh --cmd "$train_cmd" --force $force exp/mono/model $phone_lang data/train exp/dnn
fi

if [ $stage -le 10 ] && [ $stop_stage -ge 10 ]; then
  log "Stage 10: decode test with the DNN-HMM"
  steps/decode_gmm.sh --cmd "$decode_cmd" --force $force exp/dnn/model exp/dnn/decode data/test
fi
