#!/usr/bin/env bash
# LibriSpeechMix: two-talker mixtures simulated from a mixing list (jsonl) and LibriSpeech audio,
# one supervision per talker with its start offset (asr/corpora/librispeechmix.py).
#
#   ./run.sh [--stage 0] [--stop-stage 100] [--data-dir download] [--list FILE] [--limit 0]
#            [--nj 2] [--vocab-size 500] [--force false]
#
# --data-dir is the LibriSpeech root (or its parent) with dev-clean/ and test-clean/; stage 0
# downloads them and the lists into it when missing. --list defaults to
# <data-dir>/list/dev-clean-2mix.jsonl, else ../shared/data/text/librispeechmix_dev-clean-2mix.jsonl.
# --limit N keeps the first N mixtures (0 = all). Mixtures: data/manifests/librispeechmix_audio/.
# Stages: 0 download, 1 simulate + prepare, 2 fbank, 3 lang (BPE), 4-6 train/decode/score.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0
stop_stage=100
data_dir=download
list=
limit=0
nj=2
vocab_size=500
force=false
help_message=$(sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$(basename "$0")")  # the header above
. utils/parse_options.sh
. utils/log.sh

corpus=librispeechmix
lang_dir=data/lang_bpe_$vocab_size
if [ -z "$list" ]; then
  list=$data_dir/list/dev-clean-2mix.jsonl
  [ -f "$list" ] || list=$ASR_ROOT/../shared/data/text/librispeechmix_dev-clean-2mix.jsonl
fi
split=$(head -n 1 "$list" | python -c 'import json, sys; print(json.loads(sys.stdin.readline())["id"].rpartition("/")[0])')
limit_opt=
[ "$limit" != 0 ] && limit_opt="--limit $limit"

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: LibriSpeech dev-clean/test-clean and mixing lists in $data_dir"
  python -m asr.corpora.$corpus download "$data_dir"
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: simulate the mixtures of $list and prepare"
  steps/prepare_corpus.sh --force $force --opts "--list $list $limit_opt" $corpus "$data_dir" data
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: compute fbank"
  steps/compute_fbank.sh --cmd "$feats_cmd" --nj $nj --force $force \
    data/manifests/${corpus}_cuts_$split.jsonl.gz data/fbank
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: BPE lang dir $lang_dir"
  steps/make_lang.sh --model-type bpe --vocab-size $vocab_size --force $force $lang_dir data/$split/text
fi

# Stages 4-6 (train, decode, score) follow.
