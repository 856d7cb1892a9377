#!/usr/bin/env bash
# Decode Kaldi data dirs with a GMM-HMM model dir (python -m asr.hybrid.gmm decode) and score them:
# DECODE_DIR/<data-name>/{text,ref,wer.txt,wer.json (with RTF),per_utt}. Each data dir skips when
# its .done marker exists (unless --force true).
#
#   steps/decode_gmm.sh [--cmd run.pl] [--opts "--acoustic-scale 0.1 --beam 13"] MODEL_DIR DECODE_DIR DATA_DIR...
set -euo pipefail

cmd=run.pl
opts=""
force=false
. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

if [ $# -lt 3 ]; then
  echo "Usage: $0 [--cmd run.pl] [--opts '...'] <model-dir> <decode-dir> <data-dir>..." 1>&2
  exit 1
fi
model_dir=$1 decode_dir=$2
shift 2
[ -f "$model_dir/gmm.json" ] || die "$model_dir is not a GMM-HMM model dir (steps/train_gmm_mono.sh)"
mkdir -p "$decode_dir/log"
for data in "$@"; do
  [ -f "$data/wav.scp" ] || die "$data is not a data dir"
  name=$(basename "$data")
  if stage_done "$decode_dir/$name" decode_gmm; then
    log "$name already decoded, skipping"
    continue
  fi
  log "decoding $data (log: $decode_dir/log/decode_$name.log)"
  $cmd "$decode_dir/log/decode_$name.log" \
    python -m asr.hybrid.gmm decode --model-dir "$model_dir" --data-dir "$data" --out-dir "$decode_dir/$name" $opts \
    || die "decoding $name failed, see $decode_dir/log/decode_$name.log"
  mark_done "$decode_dir/$name" decode_gmm
  cat "$decode_dir/$name/wer.txt"
done
