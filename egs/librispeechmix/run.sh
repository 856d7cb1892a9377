#!/usr/bin/env bash
# LibriSpeechMix: two-talker mixtures simulated from a mixing list (jsonl) and LibriSpeech audio,
# one supervision per talker with its start offset (asr/corpora/librispeechmix.py).
#
#   ./run.sh [--stage 0] [--stop-stage 100] [--data-dir download] [--list FILE] [--limit 0]
#            [--nj 2] [--vocab-size 500] [--force false] [--synth-dir ../synth]
#            [--num-train 3000] [--num-dev 100] [--num-test 200] [--init-from ../synth/exp/transducer/model]
#            [--unmixer-epochs "15 15 15"] [--num-epochs N] [--eos-epochs 3]
#            [--eos-penalties ""] [--eos-window-penalties "1.0"] [--eos-window "0.0 0.3"]
#
# --data-dir is the LibriSpeech root (or its parent) with dev-clean/ and test-clean/; stage 0
# downloads them and the lists into it when missing. --list defaults to
# <data-dir>/list/dev-clean-2mix.jsonl, else ../shared/data/text/librispeechmix_dev-clean-2mix.jsonl.
# --limit N keeps the first N mixtures (0 = all). Mixtures: data/manifests/librispeechmix_audio/.
# Stages: 0 download, 1 simulate + prepare, 2 fbank, 3 lang (BPE): the real LibriSpeechMix mixtures
# (they need LibriSpeech's audio; stages 4-5 do not). SURT (issue 13) on mixtures it can make itself:
#   4 sessions simulated from egs/synth's synthesized LibriSpeech sentences (run egs/synth first:
#     --synth-dir), as egs/fsdd_mix does: train/dev 1-3 alternating utterances of two voices with
#     each channel's source audio, test exactly two (the held-out test voices); their fbank; a char
#     lang dir with <eos> (id 1) from the synth train text -> data/fbank/synthmix_cuts_<split>.jsonl.gz,
#     data/lang_char_eos
#   5 train SURT (steps/train_surt.sh) from the synth single-talker model (--init-from):
#     exp/unmix_pre*, exp/surt_noeos, exp/surt, exp/surt_ep<P>, exp/surt_win<P>
#   6 the endpoint table (bench/surt_endpoint.py: ORC-WER, EP50, EP90, early cutoff, RTF) on the
#     simulated test sessions -> exp/bench_table.md, and on the real LibriSpeechMix mixtures of
#     stages 1-2 when they exist -> exp/bench_<split>_table.md
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0
stop_stage=100
data_dir=download
list=
limit=0
nj=2
vocab_size=500
force=false
synth_dir=../synth    # stages 4-6: egs/synth, run through its stage 4 (sentences, fbank, the model)
num_train=3000
num_dev=100
num_test=200
seed=0
init_from=$synth_dir/exp/transducer/model
unmixer_epochs="15 15 15"
num_epochs=
eos_epochs=3
eos_penalties=
eos_window_penalties="1.0"
eos_window="0.0 0.3"  # seconds from each sentence's supervision end (the end of its speech)
nproc=1
. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

corpus=librispeechmix
lang_dir=data/lang_bpe_$vocab_size
if [ -z "$list" ]; then
  list=$data_dir/list/dev-clean-2mix.jsonl
  [ -f "$list" ] || list=$ASR_ROOT/../shared/data/text/librispeechmix_dev-clean-2mix.jsonl
fi
splits=  # the real mixtures' manifest names: the list's id prefixes
if [ -f "$list" ]; then
  splits=$(python -m asr.corpora.librispeechmix splits "$list")
elif [ $stage -le 3 ]; then
  die "mixing list $list not found (give --list, or --data-dir with list/dev-clean-2mix.jsonl)"
fi
limit_opt=
[ "$limit" != 0 ] && limit_opt="--limit $limit"

if [ $stage -le 3 ]; then
  steps/data_stages.sh --stage $stage --stop-stage $(( stop_stage < 3 ? stop_stage : 3 )) --force $force --nj $nj \
    --feats-cmd "$feats_cmd" --prepare-opts "--list $list $limit_opt" \
    --splits "$splits" --model-type bpe --vocab-size $vocab_size \
    $corpus "$data_dir" $lang_dir $(printf "data/%s/text " $splits)
fi

surt_lang=data/lang_char_eos
surt_config=conf/train_surt.yaml
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "Stage 4: two-talker sessions from $synth_dir's synthesized sentences"
  for split in train dev test; do
    single=$synth_dir/data/manifests/synth_cuts_$split.jsonl.gz
    [ -f $single ] || die "$single not found: run egs/synth (./run.sh --stop-stage 2) first, or give --synth-dir"
    if stage_done data/manifests synthmix_$split; then log "sessions of $split done, skipping"; continue; fi
    case $split in
      train) opts="--num-mixtures $num_train --min-utterances 1 --max-utterances 3 --write-sources" ;;
      dev) opts="--num-mixtures $num_dev --min-utterances 1 --max-utterances 3 --write-sources" ;;
      test) opts="--num-mixtures $num_test --min-utterances 2 --max-utterances 2" ;;
    esac
    # shellcheck disable=SC2086  # a list of options
    python -m asr.corpora.mixtures $single data/manifests/synthmix_cuts_$split.jsonl.gz --audio-root $synth_dir \
      --audio-dir data/synthmix/$split --seed $((seed + 17)) --min-overlap 0 --max-overlap 1 \
      --no-overlap-prob 0.1 $opts
    mark_done data/manifests synthmix_$split
  done
  steps/compute_fbank.sh --cmd "$feats_cmd" --nj $nj --force $force \
    data/manifests/synthmix_cuts_{train,dev,test}.jsonl.gz data/fbank
  steps/make_lang.sh --model-type char --vocab-size 64 --eos true --force $force $surt_lang $synth_dir/data/train/text
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "Stage 5: train SURT (steps/train_surt.sh) from $init_from"
  steps/train_surt.sh --cmd "$train_cmd" --nproc $nproc --force $force --init-from "$init_from" \
    --unmixer-epochs "$unmixer_epochs" --joint-epochs "$num_epochs" --eos-epochs $eos_epochs \
    --eos-penalties "$eos_penalties" --eos-window-penalties "$eos_window_penalties" --eos-window "$eos_window" \
    $surt_config $surt_lang exp data/fbank/synthmix_cuts_dev.jsonl.gz data/fbank/synthmix_cuts_train.jsonl.gz
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  log "Stage 6: endpoint tables (320 ms chunks)"
  [ -f exp/surt_models.txt ] || die "exp/surt_models.txt not found: run stage 5 first"
  surt_dirs=$(cat exp/surt_models.txt)  # what stage 5 trained (steps/train_surt.sh)
  # shellcheck disable=SC2086  # lists of model dirs
  python "$ASR_ROOT/bench/surt_endpoint.py" --mixtures data/manifests/synthmix_cuts_test.jsonl.gz \
    --sources $synth_dir/data/manifests/synth_cuts_test.jsonl.gz --sources-audio-root $synth_dir --single-talker "$init_from" \
    --surt $surt_dirs --out-dir exp/bench | tee exp/bench_table.md
  for split in $splits; do
    real=data/manifests/${corpus}_cuts_$split.jsonl.gz
    if [ ! -f $real ]; then log "no $real (stages 1-2 need LibriSpeech's audio): skipping the real mixtures"; continue; fi
    # shellcheck disable=SC2086
    python "$ASR_ROOT/bench/surt_endpoint.py" --mixtures $real --single-talker "$init_from" \
      --surt $surt_dirs --out-dir exp/bench_$split | tee exp/bench_${split}_table.md
  done
fi
