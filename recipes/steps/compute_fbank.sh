#!/usr/bin/env bash
# Compute 80-bin fbank for one prepared CutSet with `python -m asr.features.compute`.
#
#   steps/compute_fbank.sh [--cmd run.pl] [--nj 2] CUTS_IN FBANK_DIR
#
# CUTS_IN is data/manifests/<corpus>_cuts_<split>.jsonl.gz; writes FBANK_DIR/<corpus>_cuts_<split>.jsonl.gz
# and the features in FBANK_DIR/<corpus>_feats_<split>/ (docs/design.md), one log in
# FBANK_DIR/log/. Skips when FBANK_DIR/.fbank_<corpus>_<split>.done exists (unless --force true).
set -euo pipefail

cmd=run.pl
nj=2
force=false
. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

if [ $# -ne 2 ]; then
  echo "Usage: $0 [--cmd run.pl] [--nj 2] <cuts-in> <fbank-dir>" 1>&2
  exit 1
fi
cuts_in=$1 fbank_dir=$2
[ -f "$cuts_in" ] || die "$cuts_in does not exist: run the prepare stage first"
name=$(basename "$cuts_in" .jsonl.gz)          # <corpus>_cuts_<split>
case $name in
  *_cuts_*) ;;
  *) die "$cuts_in: expected a name like <corpus>_cuts_<split>.jsonl.gz" ;;
esac
corpus=${name%%_cuts_*} split=${name#*_cuts_}

if stage_done "$fbank_dir" "fbank_${corpus}_$split"; then
  log "fbank for $name already computed, skipping"
  exit 0
fi
mkdir -p "$fbank_dir/log"
log "fbank $cuts_in -> $fbank_dir/$name.jsonl.gz (log: $fbank_dir/log/compute_$name.log)"
$cmd "$fbank_dir/log/compute_$name.log" \
  python -m asr.features.compute --cuts-in "$cuts_in" --cuts-out "$fbank_dir/$name.jsonl.gz" \
    --storage-dir "$fbank_dir/${corpus}_feats_$split" --num-jobs "$nj" \
  || die "fbank for $name failed, see $fbank_dir/log/compute_$name.log"
mark_done "$fbank_dir" "fbank_${corpus}_$split"
