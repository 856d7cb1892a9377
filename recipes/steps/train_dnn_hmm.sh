#!/usr/bin/env bash
# DNN-HMM (asr.hybrid.dnn_hmm; Kaldi's steps/align_si.sh + a frame cross-entropy TDNN): align
# DATA_DIR (and --dev DEV_DIR, which picks the epoch kept) with the GMM-HMM of GMM_DIR, train a TDNN
# on the alignments' pdfs -> EXP_DIR/model, a model dir every GMM-HMM command takes (its HCLG is the
# GMM's). Alignments and a per-epoch checkpoint stay in EXP_DIR: an interrupted run continues;
# --force true first moves EXP_DIR aside to EXP_DIR.old-<time> (kept, never deleted).
# Skips when its .done marker exists (unless --force true).
#
#   steps/train_dnn_hmm.sh [--cmd run.pl] [--dev DEV_DIR] [--opts "--num-epochs 10"] [--force false] \
#       GMM_DIR LANG_DIR DATA_DIR EXP_DIR
set -euo pipefail

cmd=run.pl
dev=
opts=""
force=false
. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

if [ $# -ne 4 ]; then
  echo "Usage: $0 [--cmd run.pl] [--dev DEV_DIR] [--opts '...'] <gmm-dir> <lang-dir> <data-dir> <exp-dir>" 1>&2
  exit 1
fi
gmm_dir=$1 lang_dir=$2 data_dir=$3 exp_dir=$4
[ -f "$gmm_dir/gmm.json" ] || die "$gmm_dir is not an HMM model dir (steps/train_gmm_mono.sh, steps/train_dnn_hmm.sh)"
[ -f "$data_dir/text" ] || die "$data_dir has no text"
if stage_done "$exp_dir" train_dnn_hmm; then
  log "$exp_dir/model already trained, skipping"
  exit 0
fi
if [ "$force" == true ]; then  # a fresh start: the earlier checkpoint and alignments are not resumed
  old_dir=$(move_aside "$exp_dir")
  [ -z "$old_dir" ] || log "--force true: moved the earlier $exp_dir to $old_dir; training from scratch"
fi
mkdir -p "$exp_dir/log"
# run.pl starts the log afresh: keep the log of an earlier (interrupted) run beside it
[ -f "$exp_dir/log/train.log" ] && mv "$exp_dir/log/train.log" "$exp_dir/log/train.$(date +%Y%m%d-%H%M%S).log"
log "training a DNN-HMM on $gmm_dir's alignments of $data_dir -> $exp_dir/model (log: $exp_dir/log/train.log)"
$cmd "$exp_dir/log/train.log" \
  python -m asr.hybrid.dnn_hmm train --gmm-dir "$gmm_dir" --lang-dir "$lang_dir" --data-dir "$data_dir" \
    ${dev:+--dev-data-dir "$dev"} --out-dir "$exp_dir" $opts \
  || die "training failed, see $exp_dir/log/train.log"
mark_done "$exp_dir" train_dnn_hmm
