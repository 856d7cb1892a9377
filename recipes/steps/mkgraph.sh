#!/usr/bin/env bash
# Kaldi's utils/mkgraph.sh for a trained HMM (python -m asr.hybrid.gmm mkgraph): OUT_DIR becomes a
# model dir with MODEL_DIR's acoustic model (GMM-HMM or DNN-HMM) and the HCLG of LANG_DIR's lexicon
# and G.arpa (the same phones, e.g. a larger vocabulary); --opts "--acoustic-scale 0.2" records the
# search settings tuned for the new graph as the model dir's defaults. Skips when its .done marker
# exists (unless --force true).
#
#   steps/mkgraph.sh [--force false] [--opts "--acoustic-scale 0.2"] LANG_DIR MODEL_DIR OUT_DIR
set -euo pipefail

force=false
opts=
. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

if [ $# -ne 3 ]; then
  echo "Usage: $0 [--force false] <lang-dir> <model-dir> <out-dir>" 1>&2
  exit 1
fi
lang_dir=$1 model_dir=$2 out_dir=$3
[ -f "$model_dir/gmm.json" ] || die "$model_dir is not an HMM model dir (steps/train_gmm_mono.sh, steps/train_dnn_hmm.sh)"
[ -f "$lang_dir/G.arpa" ] || die "$lang_dir has no G.arpa (steps/make_hybrid_lang.sh)"
if stage_done "$out_dir" mkgraph; then
  log "$out_dir already built, skipping"
  exit 0
fi
python -m asr.hybrid.gmm mkgraph --model-dir "$model_dir" --lang-dir "$lang_dir" --arpa "$lang_dir/G.arpa" \
  --out-dir "$out_dir" $opts || die "mkgraph $model_dir over $lang_dir failed"
mark_done "$out_dir" mkgraph
