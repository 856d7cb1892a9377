#!/usr/bin/env bash
# --add-synth true, before stage 4 of egs/kathleen: egs/synth's training corpus joins kathleen's.
#   1. a copy of SYNTH_DIR/data/fbank/synth_cuts_train.jsonl.gz with its feature paths (relative to
#      SYNTH_DIR) made absolute, written to CUTS_OUT (`python -m asr.corpora.kathleen rebase-features`);
#   2. a lang dir LANG_DIR trained on both training texts (steps/make_lang.sh).
#
#   local/add_synth.sh [--force false] [--model-type char] [--vocab-size 256] SYNTH_DIR CUTS_OUT LANG_DIR
#
# Run from egs/kathleen; needs egs/synth's stages 0-2 (and 1 for its data/train/text) done.
set -euo pipefail

force=false
model_type=char
vocab_size=256
. utils/parse_options.sh
. utils/log.sh

if [ $# -ne 3 ]; then
  echo "Usage: $0 [--force false] [--model-type char] [--vocab-size 256] <synth-dir> <cuts-out> <lang-dir>" 1>&2
  exit 1
fi
synth_dir=$1 cuts_out=$2 lang_dir=$3
synth_cuts=$synth_dir/data/fbank/synth_cuts_train.jsonl.gz
[ -f "$synth_cuts" ] || die "--add-synth true needs $synth_cuts: run $synth_dir/run.sh --stop-stage 2"
python -m asr.corpora.kathleen rebase-features "$synth_cuts" "$synth_dir" "$cuts_out"
log "$model_type lang dir $lang_dir from kathleen + synth training text"
steps/make_lang.sh --model-type "$model_type" --vocab-size "$vocab_size" --force "$force" "$lang_dir" \
  data/train/text "$synth_dir/data/train/text"
