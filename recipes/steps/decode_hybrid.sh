#!/usr/bin/env bash
# Decode CutSets with the hybrid first pass alone (MODEL_DIR a hybrid model dir) or the cascade
# (--first-pass HYBRID_DIR, MODEL_DIR the transducer), for every chunk size, and score them
# (python -m asr.hybrid.evaluate: WER, RTF, OOV rate; the cascade also its first pass's WER).
#
#   steps/decode_hybrid.sh [--cmd run.pl] [--chunks "full 320"] [--first-pass HYBRID_DIR] \
#       [--opts "--am-weight 0.3 --lm-weight 0.5"] MODEL_DIR DECODE_DIR CUTS [CUTS ...]
#
# Results go to DECODE_DIR/<cuts-name>/ (wer_hybrid_<chunk>.txt or wer_cascade_<chunk>.txt, hyps,
# refs; the cascade's segments.jsonl), logs to DECODE_DIR/log/; python -m asr.training.report
# DECODE_DIR prints the table. Each (cuts, chunk) skips when its .done marker exists (unless --force true).
set -euo pipefail

cmd=run.pl
chunks="full 320"
first_pass=
opts=""
force=false
. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

if [ $# -lt 3 ]; then
  echo "Usage: $0 [--cmd run.pl] [--chunks 'full 320'] [--first-pass HYBRID_DIR] <model-dir> <decode-dir> <cuts>..." 1>&2
  exit 1
fi
model_dir=$1 decode_dir=$2
shift 2
kind=hybrid
if [ -n "$first_pass" ]; then
  kind=cascade
  [ -f "$first_pass/hybrid.json" ] || die "$first_pass is not a hybrid model dir (make it with python -m asr.hybrid.model_dir)"
  opts="--first-pass $first_pass $opts"
else
  [ -f "$model_dir/hybrid.json" ] || die "$model_dir is not a hybrid model dir (make it with python -m asr.hybrid.model_dir)"
fi
mkdir -p "$decode_dir/log"
for cuts in "$@"; do
  [ -f "$cuts" ] || die "$cuts does not exist"
  name=$(basename "$cuts" .jsonl.gz)
  for chunk in $chunks; do
    tag=${name}_${kind}_$chunk
    if stage_done "$decode_dir/$name" "decode_${kind}_$chunk"; then
      log "$tag already decoded, skipping"
      continue
    fi
    log "decoding $tag (log: $decode_dir/log/decode_$tag.log)"
    $cmd "$decode_dir/log/decode_$tag.log" \
      python -m asr.hybrid.evaluate --model-dir "$model_dir" --cuts "$cuts" --out-dir "$decode_dir/$name" \
        --chunk-ms "$chunk" $opts \
      || die "decoding $tag failed, see $decode_dir/log/decode_$tag.log"
    mark_done "$decode_dir/$name" "decode_${kind}_$chunk"
  done
done
