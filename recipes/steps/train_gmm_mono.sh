#!/usr/bin/env bash
# Monophone GMM-HMM (asr.hybrid.gmm; Kaldi's steps/train_mono.sh + utils/mkgraph.sh): MFCC + deltas
# with per-utterance CMVN, equal alignment then EM with re-alignment and Gaussian splitting, and the
# HCLG of G (an ARPA LM, or a grammar) -> EXP_DIR/model. Skips when its .done marker exists.
#
#   steps/train_gmm_mono.sh [--cmd run.pl] [--sample-rate 16000] [--opts "--target-gaussians 1000"] \
#       [--force false] LANG_DIR DATA_DIR EXP_DIR (--arpa G.arpa | --loop-of W... | --one-of W...)
#
# LANG_DIR is a phone lang dir (steps/make_hybrid_lang.sh without --tokens-dir: it has the topo);
# DATA_DIR a Kaldi data dir with text.
set -euo pipefail

cmd=run.pl
sample_rate=16000
opts=""
force=false
. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

if [ $# -lt 5 ]; then
  echo "Usage: $0 [--cmd run.pl] [--sample-rate 16000] <lang-dir> <data-dir> <exp-dir> (--arpa F | --loop-of W... | --one-of W...)" 1>&2
  exit 1
fi
lang_dir=$1 data_dir=$2 exp_dir=$3
shift 3
[ -f "$lang_dir/topo" ] || die "$lang_dir has no topo: not a phone lang dir (steps/make_hybrid_lang.sh without --tokens-dir)"
[ -f "$data_dir/text" ] || die "$data_dir has no text"
if stage_done "$exp_dir" train_gmm_mono; then
  log "$exp_dir/model already trained, skipping"
  exit 0
fi
mkdir -p "$exp_dir/log"
log "training a monophone GMM-HMM on $data_dir -> $exp_dir/model (log: $exp_dir/log/train.log)"
$cmd "$exp_dir/log/train.log" \
  python -m asr.hybrid.gmm train --lang-dir "$lang_dir" --data-dir "$data_dir" --out-dir "$exp_dir/model" \
    --sample-rate "$sample_rate" $opts "$@" \
  || die "training failed, see $exp_dir/log/train.log"
mark_done "$exp_dir" train_gmm_mono
