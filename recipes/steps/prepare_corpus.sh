#!/usr/bin/env bash
# Prepare a corpus: cut manifests data/manifests/<corpus>_cuts_<split>.jsonl.gz and validated
# Kaldi data dirs data/<split>/, with asr.corpora.<corpus>.
#
#   steps/prepare_corpus.sh [--cmd local] [--opts "..."] CORPUS CORPUS_DIR DATA
#
# --cmd local (default) runs in the foreground, so progress bars show, and keeps a copy of the
# output in DATA/log/prepare_<corpus>.log; any other --cmd (run.pl, slurm.pl ...) runs it as a job
# with that log. --opts passes extra options to `python -m asr.corpora.<corpus> prepare`.
# Skips when DATA/manifests/.prepare_<corpus>.done exists (unless --force true).
set -euo pipefail

cmd=local
opts=
force=false
. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

if [ $# -ne 3 ]; then
  echo "Usage: $0 [--cmd local] [--opts '...'] <corpus> <corpus-dir> <data-dir>" 1>&2
  exit 1
fi
corpus=$1 corpus_dir=$2 data=$3
log_file=$data/log/prepare_$corpus.log

if stage_done "$data/manifests" "prepare_$corpus"; then
  log "$corpus already prepared ($data/manifests/.prepare_$corpus.done), skipping"
  exit 0
fi
mkdir -p "$data/log" "$data/manifests"
log "preparing $corpus from $corpus_dir -> $data/manifests, $data/<split>/ (log: $log_file)"
# shellcheck disable=SC2086  # $opts is a list of options
if [ "$cmd" == local ]; then
  python -m "asr.corpora.$corpus" prepare "$corpus_dir" "$data/manifests" --kaldi-dir "$data" $opts 2>&1 | tee "$log_file"
else
  $cmd "$log_file" python -m "asr.corpora.$corpus" prepare "$corpus_dir" "$data/manifests" --kaldi-dir "$data" $opts \
    || die "preparing $corpus failed, see $log_file"
  grep -E "cuts, .* h ->" "$log_file" 1>&2 || true
fi
mark_done "$data/manifests" "prepare_$corpus"
