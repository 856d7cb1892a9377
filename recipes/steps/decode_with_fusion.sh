#!/usr/bin/env bash
# The sentence recipes' decoding: greedy search, modified beam search with up to --beam-max-sym
# tokens a frame, and ILME fusion with a token n-gram of the LM text (steps/make_token_lm.sh,
# written to <exp-dir>/lm/sentences_<order>gram.arpa beside MODEL_DIR), each with full context and
# 320 ms chunks (steps/decode_transducer.sh, whose .done markers make a rerun skip what is done).
#
#   steps/decode_with_fusion.sh [--cmd run.pl] [--nj 1] [--force false] [--beam-max-sym 3] [--lm-order 8]
#       [--fusion-beam 8] [--lm-scale 0.8] [--ilme-scale 0.6] --lm-text "KALDI_TEXT [TEXT ...]" \
#       MODEL_DIR DECODE_DIR CUTS [CUTS ...]
#
# --lm-text is the training transcripts (utt-id words...) and more LM text, one sentence a line, as
# steps/make_token_lm.sh takes them; never test transcripts. --lm-order 0 skips the fusion decode.
set -euo pipefail

cmd=run.pl
nj=1  # decodes run at once
force=false
beam_max_sym=3
lm_order=8
fusion_beam=8
lm_scale=0.8
ilme_scale=0.6
lm_text=
. utils/parse_options.sh
. utils/log.sh

if [ $# -lt 3 ]; then
  echo "Usage: $0 [--beam-max-sym 3] [--lm-order 8] [--fusion-beam 8] [--lm-scale 0.8] [--ilme-scale 0.6] --lm-text '...' <model-dir> <decode-dir> <cuts>..." 1>&2
  exit 1
fi
model_dir=$1 decode_dir=$2
shift 2

steps/decode_transducer.sh --cmd "$cmd" --nj $nj --chunks "full 320" --force $force --methods greedy_search \
  $model_dir $decode_dir "$@"
steps/decode_transducer.sh --cmd "$cmd" --nj $nj --chunks "full 320" --force $force --methods modified_beam_search \
  --opts "--method-option max_sym_per_frame=$beam_max_sym" $model_dir $decode_dir "$@"
[ "$lm_order" -gt 0 ] || exit 0
[ -n "$lm_text" ] || die "--lm-text is needed for the fusion decode (or --lm-order 0)"
lm=$(dirname "$model_dir")/lm/sentences_${lm_order}gram.arpa
log "ILME fusion with a token ${lm_order}-gram of the LM text ($lm)"
steps/make_token_lm.sh --order $lm_order $model_dir $lm $lm_text
fusion_opts="--method-option lm=$lm --method-option lm_scale=$lm_scale --method-option ilme_scale=$ilme_scale"
# the LM's hash in the .done markers: the same LM path rebuilt from other text is decoded again
steps/decode_transducer.sh --cmd "$cmd" --nj $nj --chunks "full 320" --force $force --methods modified_beam_search_ilme \
  --beam $fusion_beam --marker-key "$(cat "$lm.hash")" --opts "$fusion_opts --method-option max_sym_per_frame=$beam_max_sym" $model_dir $decode_dir "$@"
