#!/usr/bin/env bash
# Train a tokenizer on Kaldi `text` files and write a lang dir (tokens.txt with <blk> 0, bpe.model,
# transcript_words.txt) with asr.text.train_tokenizer.
#
#   steps/make_lang.sh [--model-type bpe|unigram|char] [--vocab-size 500] LANG_DIR TEXT [TEXT ...]
#
# Skips when LANG_DIR/.lang.done exists (unless --force true).
set -euo pipefail

model_type=bpe
vocab_size=500
force=false
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
# Kaldi text lines are "<utt-id> <transcript>": the transcript is everything after the first space.
cut -d' ' -f2- "$@" > "$lang_dir/.train_text.tmp"
python - "$lang_dir" "$vocab_size" "$model_type" "$lang_dir/.train_text.tmp" <<'PY'
import sys

from asr.text import train_tokenizer

lang_dir, vocab_size, model_type, text_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(text_file, encoding="utf-8") as f:
    texts = [line.strip() for line in f if line.strip()]
train_tokenizer(texts, lang_dir, vocab_size, model_type=model_type)
PY
rm -f "$lang_dir/.train_text.tmp"
log "$lang_dir: $(wc -l < "$lang_dir/tokens.txt") tokens"
mark_done "$lang_dir" lang
