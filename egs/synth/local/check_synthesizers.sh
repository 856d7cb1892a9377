#!/usr/bin/env bash
# Stage 0 of egs/synth: check that the text exists and the synthesizers (espeak-ng, flite) work,
# and count the voices.
#
#   local/check_synthesizers.sh TEXT
#
# Run from egs/synth. Nothing is downloaded: the corpus is synthesized in stage 1.
set -euo pipefail
. utils/parse_options.sh
. utils/log.sh

[ $# -eq 1 ] || { echo "Usage: $0 <text>" 1>&2; exit 1; }
text=$1
[ -f "$text" ] || die "text file $text not found"
log "synthesizers and text ($text)"
python -m asr.corpora.synth download data >/dev/null
python -m asr.corpora.synth prepare "$text" data/manifests --list-voices \
  | awk '{n++; if ($2) t++} END {print n " voices, " t " of them test only"}'
