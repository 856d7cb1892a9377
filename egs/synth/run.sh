#!/usr/bin/env bash
# A synthesized corpus: every line of a text file spoken by espeak-ng and flite voices with random
# rate and pitch (asr/corpora/synth.py; voices m4/f4 of espeak and flite rms only in test).
# Needs no download: the corpus any fresh machine can build.
#
#   ./run.sh [--stage 0] [--stop-stage 100] [--data-dir ../shared/data] [--text FILE]
#            [--hours 2.5] [--num-jobs 2] [--repeats 1] [--seed 0] [--vocab-size 500] [--force false]
#
# Text: --text if given, else <data-dir>/text/librispeech_dev_clean.txt if it exists, else
# conf/sentences.txt (shipped, written for this project, public domain). --hours caps the total
# audio (0 = no cap). Audio: data/synth_audio/<voice>/<utt>.wav, 16 kHz; a rerun of stage 1 after
# an interruption (with --force true, or after removing the .done marker) resumes.
# Stages: 0 check synthesizers and pick the text, 1 synthesize + prepare, 2 fbank, 3 lang (BPE),
# 4-6 train/decode/score.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0
stop_stage=100
data_dir=$ASR_ROOT/../shared/data
text=
hours=2.5
num_jobs=$(nproc)
repeats=1
seed=0
nj=2
vocab_size=500
force=false
help_message=$(sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$(basename "$0")")  # the header above
. utils/parse_options.sh
. utils/log.sh

corpus=synth
splits="train dev test"
lang_dir=data/lang_bpe_$vocab_size
if [ -z "$text" ]; then
  text=conf/sentences.txt
  [ -f "$data_dir/text/librispeech_dev_clean.txt" ] && text=$data_dir/text/librispeech_dev_clean.txt
fi
hours_opt=
[ "$hours" != 0 ] && hours_opt="--hours $hours"

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: synthesizers and text ($text)"
  [ -f "$text" ] || die "text file $text not found"
  python -m asr.corpora.synth download data >/dev/null
  python -m asr.corpora.synth prepare "$text" data/manifests --list-voices | awk '{n++; if ($2) t++} END {print n " voices, " t " of them test only"}'
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: synthesize $text ($hours h cap, $num_jobs jobs) and prepare"
  steps/prepare_corpus.sh --force $force \
    --opts "--seed $seed --repeats $repeats --num-jobs $num_jobs --audio-dir data/synth_audio $hours_opt" \
    $corpus "$text" data
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: compute fbank"
  for split in $splits; do
    steps/compute_fbank.sh --cmd "$feats_cmd" --nj $nj --force $force \
      data/manifests/${corpus}_cuts_$split.jsonl.gz data/fbank
  done
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: BPE lang dir $lang_dir"
  steps/make_lang.sh --model-type bpe --vocab-size $vocab_size --force $force $lang_dir data/train/text
fi

# Stages 4-6 (train, decode, score) follow.
