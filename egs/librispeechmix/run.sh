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
# Stages: 0 download, 1 simulate + prepare, 2 fbank, 3 lang (BPE). Training and decoding on the
# mixtures come with the two-talker (SURT) model; there are no stages 4-6 yet.
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
. utils/parse_options.sh
. utils/log.sh

corpus=librispeechmix
lang_dir=data/lang_bpe_$vocab_size
if [ -z "$list" ]; then
  list=$data_dir/list/dev-clean-2mix.jsonl
  [ -f "$list" ] || list=$ASR_ROOT/../shared/data/text/librispeechmix_dev-clean-2mix.jsonl
fi
[ -f "$list" ] || die "mixing list $list not found (give --list, or --data-dir with list/dev-clean-2mix.jsonl)"
splits=$(python -m asr.corpora.librispeechmix splits "$list")  # manifest names: the list's id prefixes
limit_opt=
[ "$limit" != 0 ] && limit_opt="--limit $limit"

steps/data_stages.sh --stage $stage --stop-stage $stop_stage --force $force --nj $nj --feats-cmd "$feats_cmd" \
  --prepare-opts "--list $list $limit_opt" \
  --splits "$splits" --model-type bpe --vocab-size $vocab_size \
  $corpus "$data_dir" $lang_dir $(printf "data/%s/text " $splits)
