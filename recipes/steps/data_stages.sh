#!/usr/bin/env bash
# Stages 0-3 of every ASR recipe: 0 download (or locate), 1 prepare, 2 fbank, 3 lang. Runs those of
# --stage..--stop-stage that fall in 0-3 (none when the range is past them), from the recipe dir.
#
#   steps/data_stages.sh [--stage 0] [--stop-stage 3] [--force false] --splits "train test" \
#       [--nj 2] [--feats-cmd run.pl] [--speed-perturb false] [--download-opts ""] [--prepare-opts ""] \
#       [--download-step ""] [--before-fbank ""] [--model-type bpe] [--vocab-size 500] \
#       CORPUS CORPUS_DIR LANG_DIR LANG_TEXT [LANG_TEXT ...]
#
# Stage 0: `python -m asr.corpora.CORPUS download CORPUS_DIR <download-opts>`, or instead
#          `<download-step> CORPUS_DIR` (e.g. local/check_synthesizers.sh, when CORPUS_DIR is a text).
# Stage 1: steps/prepare_corpus.sh CORPUS CORPUS_DIR data (manifests data/manifests/CORPUS_cuts_<split>.jsonl.gz,
#          Kaldi dirs data/<split>/), with --prepare-opts passed to `asr.corpora.CORPUS prepare`.
# Stage 2: --before-fbank (a command, e.g. local/pause_cuts.sh) if given, then steps/compute_fbank.sh
#          of data/manifests/CORPUS_cuts_<split>.jsonl.gz for each of --splits into data/fbank
#          (with --speed-perturb true also train_sp).
# Stage 3: steps/make_lang.sh --model-type --vocab-size LANG_DIR LANG_TEXT...
# Every step keeps its .done markers; --force true reruns them.
set -euo pipefail

stage=0
stop_stage=3
force=false
splits=
nj=2
feats_cmd=run.pl
speed_perturb=false
download_opts=
prepare_opts=
download_step=
before_fbank=
model_type=bpe
vocab_size=500
. utils/parse_options.sh
. utils/log.sh

if [ $# -lt 4 ]; then
  echo "Usage: $0 [options] --splits '<split> ...' <corpus> <corpus-dir> <lang-dir> <lang-text> [<lang-text> ...]" 1>&2
  exit 1
fi
corpus=$1 corpus_dir=$2 lang_dir=$3
shift 3
[ -n "$splits" ] || die "--splits is empty: name the splits whose fbank stage 2 computes"

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  if [ -n "$download_step" ]; then
    log "Stage 0: $download_step $corpus_dir"
    # shellcheck disable=SC2086  # a command with its arguments
    $download_step "$corpus_dir" || die "stage 0 ($download_step $corpus_dir) failed"
  else
    log "Stage 0: find or download $corpus in $corpus_dir"
    # shellcheck disable=SC2086  # $download_opts is a list of options
    python -m asr.corpora.$corpus download "$corpus_dir" $download_opts
  fi
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: prepare $corpus manifests and Kaldi data dirs"
  steps/prepare_corpus.sh --force $force --opts "$prepare_opts" $corpus "$corpus_dir" data
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  if [ -n "$before_fbank" ]; then
    log "Stage 2: $before_fbank"
    # shellcheck disable=SC2086  # a command with its arguments
    $before_fbank || die "stage 2 ($before_fbank) failed"
  fi
  log "Stage 2: compute fbank of $splits"
  # shellcheck disable=SC2046,SC2086  # one manifest per split
  steps/compute_fbank.sh --cmd "$feats_cmd" --nj $nj --force $force --speed-perturb $speed_perturb \
    $(printf "data/manifests/${corpus}_cuts_%s.jsonl.gz " $splits) data/fbank
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: $model_type lang dir $lang_dir"
  steps/make_lang.sh --model-type $model_type --vocab-size $vocab_size --force $force "$lang_dir" "$@"
fi
