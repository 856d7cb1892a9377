#!/usr/bin/env bash
# A token-level n-gram of a model's tokens for shallow and ILME fusion in beam search
# (python -m asr.lm.train_token_lm; decode with --method modified_beam_search_ilme
# --method-option lm=OUT.arpa).
#
#   steps/make_token_lm.sh [--order 8] MODEL_DIR OUT.arpa KALDI_TEXT [TEXT ...]
#
# KALDI_TEXT is the training transcripts (utt-id words...); each TEXT is more LM text, one
# sentence a line: the same arguments as steps/make_hybrid_lang.sh, so a recipe gives both LMs
# the same text. Never pass test transcripts. Repeated sentences (the same prompt read twice, a
# sentence synthesized in several voices) are counted once. The sentences go to OUT.txt beside
# the LM; the LM is rebuilt only when that text, the order or the model's tokens changed.
set -euo pipefail

order=8
. utils/parse_options.sh
. utils/log.sh

if [ $# -lt 3 ]; then
  echo "Usage: $0 [--order 8] <model-dir> <out.arpa> <kaldi-text> [<text> ...]" 1>&2
  exit 1
fi
model_dir=$1 out=$2 kaldi_text=$3; shift 3
[ -f "$model_dir/tokens.txt" ] || die "$model_dir has no tokens.txt: not a model dir"
for f in "$kaldi_text" "$@"; do [ -f "$f" ] || die "$f does not exist"; done

mkdir -p "$(dirname "$out")"
text=${out%.arpa}.txt
tmp=$(mktemp "$text.XXXXXX")
trap 'rm -f "$tmp"' EXIT
{ cut -d' ' -f2- "$kaldi_text"; [ $# -eq 0 ] || cat "$@"; } | LC_ALL=C sort -u | sed '/^[[:space:]]*$/d' > "$tmp"
stamp=$( (cat "$tmp" "$model_dir/tokens.txt"; echo "order=$order") | sha1sum | cut -d' ' -f1)
if [ -f "$out" ] && [ "$(cat "$out.hash" 2>/dev/null)" == "$stamp" ]; then
  log "$out is up to date ($(wc -l < "$text") sentences, order $order)"
  exit 0
fi
mv "$tmp" "$text"
python -m asr.lm.train_token_lm --model-dir "$model_dir" --text "$text" --order $order --out "$out"
echo "$stamp" > "$out.hash"
