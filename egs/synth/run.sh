#!/usr/bin/env bash
# A synthesized corpus: every line of a text file spoken by espeak-ng and flite voices with random
# rate and pitch (asr/corpora/synth.py; voices m4/f4 of espeak and flite rms only in test).
# Needs no download: the corpus any fresh machine can build.
#
#   ./run.sh [--stage 0] [--stop-stage 100] [--data-dir ../shared/data] [--text FILE]
#            [--hours 2.5] [--num-jobs 2] [--repeats 1] [--seed 0] [--extra-repeats 2] [--nonspeech-per-kind 100]
#            [--token-type char] [--vocab-size 500] [--speed-perturb false] [--train-config conf/train.yaml]
#            [--num-epochs N] [--nproc 1] [--force false]
#
# Text: --text if given, else <data-dir>/text/librispeech_dev_clean.txt if it exists, else
# conf/sentences.txt (shipped, written for this project, public domain). --hours caps the total
# audio of train/dev/test (0 = no cap). More training material goes to the split train_extra
# (uncapped, never touching dev or test): every train sentence in --extra-repeats more voices, plus
# <data-dir>/text/harvard_sentences.txt and the Kathleen corpus's training prompts where those exist.
# --nonspeech-per-kind cuts each of silence, low-level noise, DC offset and hum (the split
# nonspeech, empty transcripts) teach the model to say nothing. Audio: data/synth_audio/<voice>/<utt>.wav,
# 16 kHz; a rerun of stage 1 after an interruption (with --force true, or after removing the .done
# marker) resumes.
# Stages: 0 check synthesizers and pick the text, 1 synthesize + prepare, 2 non-speech cuts + fbank,
# 3 lang (char, or BPE with --token-type bpe), 4 train, 5 decode, 6 WER table.
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
extra_repeats=2      # stage 1: more voices for every train sentence (train_extra); 0: none
nonspeech_per_kind=100  # stage 2: silence/noise/DC/hum cuts of each kind (split nonspeech); 0: none
nj=2
token_type=char      # stage 3: char (a few hours of audio learn it fastest) or bpe (of --vocab-size)
vocab_size=500
speed_perturb=false  # stage 2: also train_sp = train + 0.9x/1.1x speed copies (ids _sp0.9/_sp1.1)
train_config=conf/train.yaml  # stage 4: model and training settings
num_epochs=          # stage 4: override the config's num_epochs
nproc=1              # stage 4: >1 runs torchrun with that many processes (gloo on CPU, nccl on GPU)
force=false
. utils/parse_options.sh
. utils/log.sh

corpus=synth
splits="train dev test"
lang_dir=data/lang_char
[ $token_type = bpe ] && lang_dir=data/lang_bpe_$vocab_size
if [ -z "$text" ]; then
  text=conf/sentences.txt
  [ -f "$data_dir/text/librispeech_dev_clean.txt" ] && text=$data_dir/text/librispeech_dev_clean.txt
fi
hours_opt=
[ "$hours" != 0 ] && hours_opt="--hours $hours"
extra_opts=
if [ "$extra_repeats" -gt 0 ]; then
  splits="$splits train_extra"
  extra_opts="--extra-repeats $extra_repeats"
  [ -f "$data_dir/text/harvard_sentences.txt" ] && extra_opts="$extra_opts --extra-train-text $data_dir/text/harvard_sentences.txt"
  if [ -f "$data_dir/kathleen/transcripts.tsv" ] || [ -f "$data_dir/transcripts.tsv" ]; then
    extra_opts="$extra_opts --extra-train-text data/extra_text/kathleen_train_prompts.txt"
    if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
      python -m asr.corpora.kathleen train-prompts "$data_dir" data/extra_text/kathleen_train_prompts.txt
    fi
  fi
fi
nonspeech_step=
if [ "$nonspeech_per_kind" -gt 0 ]; then
  splits="$splits nonspeech"
  nonspeech_step="python -m asr.augment nonspeech data/manifests/${corpus}_cuts_nonspeech.jsonl.gz --audio-dir data/nonspeech_audio --num-per-kind $nonspeech_per_kind"
fi

steps/data_stages.sh --stage $stage --stop-stage $stop_stage --force $force --nj $nj --feats-cmd "$feats_cmd" \
  --download-step "local/check_synthesizers.sh" \
  --prepare-opts "--seed $seed --repeats $repeats --num-jobs $num_jobs --audio-dir data/synth_audio $hours_opt $extra_opts" \
  --before-fbank "$nonspeech_step" \
  --speed-perturb $speed_perturb --splits "$splits" --model-type $token_type --vocab-size $vocab_size \
  $corpus "$text" $lang_dir data/train/text

# Stage 4 trains a streaming transducer on train, train_extra and nonspeech (test voices never
# seen), stage 5 decodes test (held-out voices) and dev with full context and 320 ms chunks, greedy
# and modified beam search, and stage 6 prints the WER table.
exp_dir=exp/transducer
train_opts=
[ -n "$num_epochs" ] && train_opts="--num-epochs $num_epochs"
train_cuts=data/fbank/${corpus}_cuts_train.jsonl.gz
$speed_perturb && train_cuts=data/fbank/${corpus}_cuts_train_sp.jsonl.gz
[ "$extra_repeats" -gt 0 ] && train_cuts="$train_cuts data/fbank/${corpus}_cuts_train_extra.jsonl.gz"
[ "$nonspeech_per_kind" -gt 0 ] && train_cuts="$train_cuts data/fbank/${corpus}_cuts_nonspeech.jsonl.gz"

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "Stage 4: train $exp_dir ($train_config)"
  steps/train_transducer.sh --cmd "$train_cmd" --nproc $nproc --opts "$train_opts" --force $force \
    $train_config $lang_dir $exp_dir data/fbank/${corpus}_cuts_dev.jsonl.gz $train_cuts
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "Stage 5: decode test and dev (full context and 320 ms chunks)"
  steps/decode_transducer.sh --cmd "$decode_cmd" --chunks "full 320" --force $force \
    $exp_dir/model $exp_dir/decode data/fbank/${corpus}_cuts_test.jsonl.gz data/fbank/${corpus}_cuts_dev.jsonl.gz
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  log "Stage 6: WER table"
  python -m asr.training.report $exp_dir/decode
fi
