#!/usr/bin/env bash
# Hybrid first-pass lang dir, LM and decoding graph (issue 11) with asr.hybrid.prepare:
# lexicon (cmudict, then G2P for the rest), words/phones/tokens.txt, L.fst, L_disambig.fst,
# G.arpa (modified Kneser-Ney), G.fst (kaldilm) and HLG.fst for a phone-CTC model; with
# --tokens-dir MODEL_DIR the words are spelled in that transducer's tokens instead (no G2P), and
# HLG decodes its CTC head (a token lang dir, asr.hybrid.lang.write_token_lang_dir).
#
#   steps/make_hybrid_lang.sh [--g2p-model exp/g2p/g2p.arpa.gz] [--tokens-dir MODEL_DIR] [--extra-words FILE]
#       [--lm-order 3] [--cmudict-vocabulary false] LANG_DIR KALDI_TEXT [TEXT ...]
#
# KALDI_TEXT is the training transcripts (utt-id words...); each TEXT is more LM text, one sentence
# a line. Never pass test transcripts. The G2P model is trained first when the file is missing
# (about 2 minutes). Each step is rebuilt only when what it reads changed (hashes in
# LANG_DIR/.build_hashes.json), so rerunning is cheap; words pronounced by G2P are listed in the
# log and LANG_DIR/g2p_words.txt. Add words later with: asr lexicon add LANG_DIR WORD [PHONES].
set -euo pipefail

g2p_model=exp/g2p/g2p.arpa.gz
extra_words=
lm_order=3
tokens_dir=
cmudict_vocabulary=false  # true: every cmudict word joins the vocabulary (phone lang dirs)
. utils/parse_options.sh
. utils/log.sh

if [ $# -lt 2 ]; then
  echo "Usage: $0 [--g2p-model M] [--extra-words FILE] [--lm-order 3] <lang-dir> <kaldi-text> [<text> ...]" 1>&2
  exit 1
fi
lang_dir=$1 kaldi_text=$2; shift 2
for f in "$kaldi_text" "$@"; do [ -f "$f" ] || die "$f does not exist"; done

extra=()
[ -n "$extra_words" ] && extra=(--extra-words "$extra_words")
[ "$cmudict_vocabulary" == true ] && extra+=(--cmudict-vocabulary)
if [ -n "$tokens_dir" ]; then
  [ -f "$tokens_dir/tokens.txt" ] || die "$tokens_dir has no tokens.txt: not a model dir"
  extra+=(--tokens-dir "$tokens_dir")
else
  if [ ! -f "$g2p_model" ]; then
    log "training the G2P model on cmudict -> $g2p_model"
    python -m asr.text.g2p train "$g2p_model"
  fi
  extra+=(--g2p-model "$g2p_model")
fi
log "lang dir, LM and HLG -> $lang_dir"
python -m asr.hybrid.prepare "$lang_dir" --kaldi-text "$kaldi_text" --text "$@" --lm-order "$lm_order" "${extra[@]}"
