#!/usr/bin/env bash
# Decode CutSets with a model dir (`python -m asr.decoding.evaluate`) for every method and chunk size,
# and score them.
#
#   steps/decode_transducer.sh [--cmd run.pl] [--nj 1] [--methods "greedy_search modified_beam_search"] \
#       [--chunks "full 320"] [--beam 4] [--opts "--max-sym-per-frame 1 --tail-padding-ms 0"] \
#       MODEL_DIR DECODE_DIR CUTS [CUTS ...]
#
# --chunks lists encoder chunk sizes in ms ("full" = whole-utterance context). Results go to
# DECODE_DIR/<cuts-name>/ (wer_<method>_<chunk>.txt, hyps, refs, alignments), logs to DECODE_DIR/log/.
# The decoder's defaults let greedy search emit up to 3 tokens a frame, as the training topology
# does, and append 160 ms of silence-level frames so a causal model can finish a word that ends
# the audio (FSDD's trimmed digits): the same as `asr transcribe` and `asr serve`, so the WER is
# that of the text users get. --opts passes more options to python -m asr.decoding.evaluate (e.g.
# the ones above, which reproduce the former max-sym 1, no-padding scoring). Each (cuts, method,
# chunk, and --opts with --beam when --opts is given, and --marker-key) skips when its .done marker
# exists (unless --force true).
set -euo pipefail

cmd=run.pl
methods="greedy_search modified_beam_search"
chunks="full 320"
beam=4
opts=""  # more options for python -m asr.decoding.evaluate
marker_key=""  # more text for the .done marker, e.g. the hash of an LM file the --opts name: a new LM decodes anew
force=false
nj=1     # decodes run at once (each is one single-threaded process)
. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

if [ $# -lt 3 ]; then
  echo "Usage: $0 [--cmd run.pl] [--methods '...'] [--chunks 'full 320'] <model-dir> <decode-dir> <cuts>..." 1>&2
  exit 1
fi
model_dir=$1 decode_dir=$2
shift 2
[ -f "$model_dir/config.json" ] || die "$model_dir is not a model dir: run the training stage first"
mkdir -p "$decode_dir/log"
failed=$(mktemp)
trap 'rm -f "$failed"' EXIT
decode_one() {  # CUTS NAME METHOD CHUNK TAG MARKER: one decode; a failure is recorded in $failed
  $cmd "$decode_dir/log/decode_$5.log" \
    python -m asr.decoding.evaluate --model-dir "$model_dir" --cuts "$1" --out-dir "$decode_dir/$2" \
      --method "$3" --chunk-ms "$4" --beam "$beam" $opts \
    && mark_done "$decode_dir/$2" "$6" \
    || { echo "$decode_dir/log/decode_$5.log" >> "$failed"; return 1; }
}
running=0
for cuts in "$@"; do
  [ -f "$cuts" ] || die "$cuts does not exist"
  name=$(basename "$cuts" .jsonl.gz)
  for method in $methods; do
    for chunk in $chunks; do
      tag=${name}_${method}_$chunk
      marker=decode_${method}_$chunk
      # another --opts or --beam is another decode (its WER file's name carries the method options)
      [ -z "$opts" ] || marker=${marker}_$(echo "$opts beam=$beam" | sha1sum | cut -c1-8)
      [ -z "$marker_key" ] || marker=${marker}_$(echo "$marker_key" | sha1sum | cut -c1-8)
      if stage_done "$decode_dir/$name" "$marker"; then
        log "$tag already decoded, skipping"
        continue
      fi
      log "decoding $tag (log: $decode_dir/log/decode_$tag.log)"
      if [ "$nj" -le 1 ]; then
        decode_one "$cuts" "$name" "$method" "$chunk" "$tag" "$marker" || die "decoding $tag failed, see $decode_dir/log/decode_$tag.log"
        continue
      fi
      decode_one "$cuts" "$name" "$method" "$chunk" "$tag" "$marker" &
      running=$((running + 1))
      if [ $running -ge "$nj" ]; then
        wait -n || true
        running=$((running - 1))
      fi
    done
  done
done
wait
[ ! -s "$failed" ] || die "decoding failed, see $(tr '\n' ' ' < "$failed")"
