#!/usr/bin/env bash
# yesno's training set with word suffixes and prefixes cut at the pauses (asr/augment/pauses.py):
# data/manifests/yesno_cuts_train.jsonl.gz -> data/manifests/yesno_cuts_train_pauses.jsonl.gz, wavs
# in data/train_pauses_wav/. Kaldi's split trains only on files starting with NO: the suffixes (each
# with its file's lead-in silence) also start with YES; the prefixes end soon after their last word.
#
#   local/pause_cuts.sh [--force false]
#
# Run from egs/yesno (stage 2 of run.sh). Skips when data/manifests/.pauses_yesno_cuts_train.done exists.
set -euo pipefail

force=false
. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

[ $# -eq 0 ] || { echo "Usage: $0 [--force false]" 1>&2; exit 1; }
pauses=data/manifests/yesno_cuts_train_pauses.jsonl.gz
if stage_done data/manifests pauses_yesno_cuts_train; then
  log "$pauses already written, skipping"
  exit 0
fi
python -m asr.augment pauses --audio-dir data/train_pauses_wav data/manifests/yesno_cuts_train.jsonl.gz $pauses
mark_done data/manifests pauses_yesno_cuts_train
