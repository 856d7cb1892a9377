#!/usr/bin/env bash
# LM text from the ITN sentences: the spoken form of every line of ITN_DIR's google_tn_train.jsonl
# and LibriTTS.json, normalized like a transcript (python -m asr.training.adapt_text --lines all),
# written to OUT_DIR/adapt_text.txt once (a .done marker; --force true remakes it). Without those
# two files it does nothing and says so, so a recipe adds the text only where the file exists.
#
#   steps/make_itn_lm_text.sh [--force false] [--exclude "FILE ..."] [--lang-dir DIR] ITN_DIR OUT_DIR
#
# --exclude: sentence-per-line texts whose sentences (and those inside their lines) are left out,
# e.g. the file test sentences are drawn from; --lang-dir drops lines its tokens cannot spell.
set -euo pipefail

force=false
exclude=
lang_dir=
. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

if [ $# -ne 2 ]; then
  echo "Usage: $0 [--exclude 'FILE ...'] [--lang-dir DIR] <itn-dir> <out-dir>" 1>&2
  exit 1
fi
itn_dir=$1 out_dir=$2
files=("$itn_dir/google_tn_train.jsonl" "$itn_dir/LibriTTS.json")
for f in "${files[@]}"; do
  [ -f "$f" ] || { log "$f not found: no ITN sentences in the LM text"; exit 0; }
done
stage_done $out_dir text && exit 0
opts=()
[ -z "$lang_dir" ] || opts+=(--lang-dir "$lang_dir")
for f in $exclude; do opts+=(--exclude "$f"); done
python -m asr.training.adapt_text --lines all --num-test 0 "${opts[@]}" $out_dir "${files[@]}"
mark_done $out_dir text
