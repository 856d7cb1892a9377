#!/usr/bin/env bash
# Compute 80-bin fbank for prepared CutSets with `python -m asr.features.compute`, one after another.
#
#   steps/compute_fbank.sh [--cmd run.pl] [--nj 2] [--speed-perturb false] CUTS_IN [CUTS_IN ...] FBANK_DIR
#
# Each CUTS_IN is data/manifests/<corpus>_cuts_<split>.jsonl.gz; writes FBANK_DIR/<corpus>_cuts_<split>.jsonl.gz
# and the features in FBANK_DIR/<corpus>_feats_<split>/ (docs/design.md), one log per manifest in
# FBANK_DIR/log/. Skips a manifest when FBANK_DIR/.fbank_<corpus>_<split>.done exists (unless --force true).
# Each computation writes a fresh <corpus>_feats_<split>/run-<time>-<hex>/ and swaps the manifest in
# atomically before removing the earlier run's features, so a recompute (or one interrupted) never
# rewrites files the previous manifest, or a training reading it, points at.
# All CUTS_IN are checked before any work starts.
#
# --speed-perturb true: for each <corpus>_cuts_train.jsonl.gz among CUTS_IN, first writes
# <corpus>_cuts_train_sp.jsonl.gz beside it (train + 0.9x/1.1x speed copies, ids _sp0.9/_sp1.1,
# `python -m asr.augment speed`; skipped when .speed_perturb_<corpus>_cuts_train.done is there), then
# computes its fbank after the others, as one more CUTS_IN.
set -euo pipefail

cmd=run.pl
nj=2
force=false
speed_perturb=false
. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

if [ $# -lt 2 ]; then
  echo "Usage: $0 [--cmd run.pl] [--nj 2] [--speed-perturb false] <cuts-in> [<cuts-in> ...] <fbank-dir>" 1>&2
  exit 1
fi
fbank_dir=${!#}
cuts_ins=("${@:1:$#-1}")

for cuts_in in "${cuts_ins[@]}"; do
  [ -f "$cuts_in" ] || die "$cuts_in does not exist: run the prepare stage first"
  case $(basename "$cuts_in" .jsonl.gz) in
    *_cuts_*) ;;
    *) die "$cuts_in: expected a name like <corpus>_cuts_<split>.jsonl.gz" ;;
  esac
done

if $speed_perturb; then
  sp_ins=()
  for cuts_in in "${cuts_ins[@]}"; do
    name=$(basename "$cuts_in" .jsonl.gz)
    [[ $name == *_cuts_train ]] || continue
    manifest_dir=$(dirname "$cuts_in")
    sp=$manifest_dir/${name}_sp.jsonl.gz
    if stage_done "$manifest_dir" "speed_perturb_$name"; then
      log "$sp already written, skipping"
    else
      log "speed perturbation $cuts_in -> $sp"
      python -m asr.augment speed "$cuts_in" "$sp" || die "speed perturbation of $cuts_in failed"
      mark_done "$manifest_dir" "speed_perturb_$name"
    fi
    sp_ins+=("$sp")
  done
  [ ${#sp_ins[@]} -gt 0 ] || die "--speed-perturb true needs a <corpus>_cuts_train.jsonl.gz among: ${cuts_ins[*]}"
  cuts_ins+=("${sp_ins[@]}")
fi

for cuts_in in "${cuts_ins[@]}"; do
  name=$(basename "$cuts_in" .jsonl.gz)          # <corpus>_cuts_<split>
  corpus=${name%%_cuts_*} split=${name#*_cuts_}
  if stage_done "$fbank_dir" "fbank_${corpus}_$split"; then
    log "fbank for $name already computed, skipping"
    continue
  fi
  mkdir -p "$fbank_dir/log"
  log "fbank $cuts_in -> $fbank_dir/$name.jsonl.gz (log: $fbank_dir/log/compute_$name.log)"
  $cmd "$fbank_dir/log/compute_$name.log" \
    python -m asr.features.compute --cuts-in "$cuts_in" --cuts-out "$fbank_dir/$name.jsonl.gz" \
      --storage-dir "$fbank_dir/${corpus}_feats_$split" --num-jobs "$nj" \
    || die "fbank for $name failed, see $fbank_dir/log/compute_$name.log"
  mark_done "$fbank_dir" "fbank_${corpus}_$split"
done
