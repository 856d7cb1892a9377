#!/usr/bin/env bash
# Train a tokenizer on Kaldi `text` files and write a lang dir (tokens.txt with <blk> 0, bpe.model,
# transcript_words.txt) with `python -m asr.text.make_lang`.
#
#   steps/make_lang.sh [--model-type bpe|unigram|char] [--vocab-size 500] [--eos false] LANG_DIR TEXT [TEXT ...]
#
# --eos true adds SURT's end-of-sentence token <eos> as id 1, right after <blk> (asr/data/heat.py).
# Skips when LANG_DIR/.lang.done exists (unless --force true).
set -euo pipefail

model_type=bpe
vocab_size=500
force=false
eos=false
. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

if [ $# -lt 2 ]; then
  echo "Usage: $0 [--model-type bpe] [--vocab-size 500] <lang-dir> <kaldi-text> [<kaldi-text> ...]" 1>&2
  exit 1
fi
lang_dir=$1; shift
for f in "$@"; do [ -f "$f" ] || die "$f does not exist: run the prepare stage first"; done

if stage_done "$lang_dir" lang; then
  log "$lang_dir already made, skipping"
  exit 0
fi
mkdir -p "$lang_dir"
log "training a $model_type tokenizer (vocab $vocab_size) on $* -> $lang_dir"
eos_opt=
[ "$eos" == true ] && eos_opt="--user-symbol <eos>"
# shellcheck disable=SC2086  # an optional option
python -m asr.text.make_lang --model-type "$model_type" --vocab-size "$vocab_size" $eos_opt "$lang_dir" "$@" \
  || die "training the tokenizer for $lang_dir failed"
if [ "$eos" == true ] && [ "$(awk '$1 == "<eos>" {print $2}' "$lang_dir/tokens.txt")" != 1 ]; then
  die "$lang_dir: <eos> is not token 1"
fi
log "$lang_dir: $(wc -l < "$lang_dir/tokens.txt") tokens"
mark_done "$lang_dir" lang
