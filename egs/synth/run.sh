#!/usr/bin/env bash
# A synthesized corpus: every line of a text file spoken by espeak-ng and flite voices with random
# rate and pitch (asr/corpora/synth.py; voices m4/f4 of espeak and flite rms only in test).
# Needs no download: the corpus any fresh machine can build.
#
#   ./run.sh [--stage 0] [--stop-stage 100] [--data-dir ../shared/data] [--text FILE]
#            [--hours 2.5] [--num-jobs 2] [--repeats 1] [--seed 0] [--extra-repeats 2] [--nonspeech-per-kind 100]
#            [--token-type char] [--vocab-size 500] [--speed-perturb false] [--train-config conf/train.yaml]
#            [--finetune-config ""] [--num-epochs N] [--nproc 1] [--force false]
#            [--beam-max-sym 3] [--fusion-lm-order 8] [--fusion-beam 8] [--fusion-lm-scale 1.0] [--fusion-ilme-scale 0.8]
#            [--fusion-itn-text true]
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
# 3 lang (char, or BPE with --token-type bpe), 4 train (and a fine-tuning of it), 5 decode
# (greedy, beam, ILME fusion), 6 WER tables.
# Text-only domain adaptation (ILMA, asr adapt) to number-rich sentences, from <data-dir>/itn:
# 7 adaptation text + disjoint target test text, 8 synthesize the target test (held-out voices) +
# fbank, 9 token n-gram LM of the adaptation text (fusion baselines), 10 asr adapt for each
# --ilma-updates choice (the first is exp/transducer/model_ilma), 11 decode target and source tests
# and print the table (bench/ilma.py; --ilma-extra-rows adds models, e.g. one trained without ILMT).
# Hybrid first pass and HEC cascade: 12 hybrid lang/LM/HLG, 13 decode hybrid, 14 decode cascade,
# 15 hybrid and cascade WER tables. The HMM first pass (as egs/kathleen stages 11-16): 16 phone lang
# dir + monophone GMM-HMM (exp/mono), 17 DNN-HMM on its alignments (exp/dnn), 18 cmudict-vocabulary
# lang dir, both HMMs' HCLGs over it and test decoded with each, 19 the cascade over the DNN-HMM.
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
nj=2                 # stages 2 and 5: jobs at once (fbank, decoding)
token_type=char      # stage 3: char (a few hours of audio learn it fastest) or bpe (of --vocab-size)
vocab_size=500
speed_perturb=false  # stage 2: also train_sp = train + 0.9x/1.1x speed copies (ids _sp0.9/_sp1.1)
train_config=conf/train.yaml  # stage 4: model and training settings
exp_dir=exp/transducer  # stages 4-19: the model's directory (give each lever experiment its own)
finetune_config=     # stage 4: then train on from $exp_dir/model into ${exp_dir}_ft, e.g. conf/levers/stateless_ft.yaml
beam_max_sym=3       # stage 5: tokens a frame in modified beam search (1: icefall's, which drops characters)
fusion_lm_order=8    # stage 5: token n-gram of the LM text for ILME fusion (0: no fusion decode)
fusion_beam=8        # stage 5: ILME fusion's beam
fusion_lm_scale=1.0  # stage 5: the n-gram's weight (chosen on dev)
fusion_ilme_scale=0.8  # stage 5: the subtracted internal LM's weight (chosen on dev)
fusion_itn_text=true  # stage 5: the fusion LM also reads <data-dir>/itn's spoken forms (ILMA target test excluded)
num_epochs=          # stage 4: override the config's num_epochs
nproc=1              # stage 4: >1 runs torchrun with that many processes (gloo on CPU, nccl on GPU)
force=false
hybrid_chunks="full 320"  # stages 12-15: chunk settings the hybrid and the cascade are decoded with
ilma_updates="joiner-output joiner predictor+joiner"  # stage 10: one adapted model each; the first is model_ilma
ilma_opts=           # stage 10: more asr adapt options, e.g. "--epochs 3 --kl-scale 1.0"
ilma_num_test=200    # stage 7: target test sentences
lm_order=6           # stage 9: token n-gram order
lm_scale=0.3         # stage 11: shallow and ILME fusion LM weight
ilme_scale=0.1       # stage 11: ILME fusion internal-LM weight
ilma_chunk=320       # stage 11: decoding chunk in ms (or full)
ilma_extra_rows=     # stage 11: more bench rows, e.g. '--row "no ILMT" exp/transducer_noilmt/model'
. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

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

# LM text for the fusion LM (stage 5) and the hybrid stages: training transcripts (the steps add
# data/train/text) plus the other text in <data-dir>/text, but never the file the test sentences
# were drawn from.
LM_TEXTS=()
[ -f data/train_extra/text ] && LM_TEXTS+=(data/train_extra/text_lm)
for f in "$data_dir"/text/*.txt; do
  [ -f "$f" ] && ! [ "$f" -ef "$text" ] && LM_TEXTS+=("$f")
done
if [ $stop_stage -ge 5 ] && [ -f data/train_extra/text ] && ! [ data/train_extra/text_lm -nt data/train_extra/text ]; then
  cut -d' ' -f2- data/train_extra/text > data/train_extra/text_lm.tmp  # sentence-per-line
  mv data/train_extra/text_lm.tmp data/train_extra/text_lm
fi

# Text-only domain adaptation (stages 7-11) and the fusion LM both read the ITN sentences.
# Source domain: the LibriSpeech sentences above (test: the held-out voices' test split). Target
# domain: number-rich sentences, the spoken forms of NeMo's ITN sets.
ilma_dir=data/ilma
itn_dir=$data_dir/itn
have_itn() { [ -f "$itn_dir/google_tn_train.jsonl" ] && [ -f "$itn_dir/LibriTTS.json" ]; }
make_ilma_text() {  # stage 7's adaptation and target test text (made once; stage 5 needs the test part)
  stage_done $ilma_dir text && return 0
  have_itn || die "$itn_dir has no google_tn_train.jsonl / LibriTTS.json: pass --data-dir with the itn/ data"
  [ -f $lang_dir/tokens.txt ] || die "$lang_dir/tokens.txt not found: run stage 3 first"
  python -m asr.training.adapt_text --lang-dir $lang_dir --exclude "$text" --num-test $ilma_num_test --seed $seed \
    $ilma_dir "$itn_dir/google_tn_train.jsonl" "$itn_dir/LibriTTS.json"
  mark_done $ilma_dir text
}

# Stage 4 trains a streaming transducer on train, train_extra and nonspeech (test voices never
# seen) into $exp_dir, then, with --finetune-config FILE, trains on from it into ${exp_dir}_ft:
# conf/levers/stateless_ft.yaml (4 more epochs at lr 1e-3, 13 min: the best row with ILME fusion,
# 32.42% against 35.88% at 320 ms, but past the main job's hour, so it is not the default) or
# conf/levers/lstm_ft.yaml (the same with the predictor swapped for an LSTM); stage 5 decodes test (held-out voices) and dev with each, full
# context and 320 ms chunks: greedy search, modified beam search (--beam-max-sym tokens a frame)
# and ILME fusion with a token n-gram of the LM text above; stage 6 prints the WER tables.
train_opts=
[ -n "$num_epochs" ] && train_opts="--num-epochs $num_epochs"
train_cuts=data/fbank/${corpus}_cuts_train.jsonl.gz
$speed_perturb && train_cuts=data/fbank/${corpus}_cuts_train_sp.jsonl.gz
[ "$extra_repeats" -gt 0 ] && train_cuts="$train_cuts data/fbank/${corpus}_cuts_train_extra.jsonl.gz"
[ "$nonspeech_per_kind" -gt 0 ] && train_cuts="$train_cuts data/fbank/${corpus}_cuts_nonspeech.jsonl.gz"

ft_dir=${exp_dir}_ft
model_dirs=$exp_dir
[ -n "$finetune_config" ] && model_dirs="$exp_dir $ft_dir"
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "Stage 4: train $exp_dir ($train_config)"
  steps/train_transducer.sh --cmd "$train_cmd" --nproc $nproc --opts "$train_opts" --force $force \
    $train_config $lang_dir $exp_dir data/fbank/${corpus}_cuts_dev.jsonl.gz $train_cuts
  if [ -n "$finetune_config" ]; then
    log "Stage 4: $exp_dir/model trained on into $ft_dir ($finetune_config)"
    steps/train_transducer.sh --cmd "$train_cmd" --nproc $nproc --opts "--set init_from=$exp_dir/model" --force $force \
      $finetune_config $lang_dir $ft_dir data/fbank/${corpus}_cuts_dev.jsonl.gz $train_cuts
  fi
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  # The fusion LM also reads every ITN sentence's spoken form (8k lines of LibriTTS books and
  # Google TN: dev 18.38 -> 16.41 at 320 ms), minus those found in the file the test sentences
  # come from and minus the ILMA target test, so that no LM of this recipe has seen a test sentence.
  fusion_lm_texts=("${LM_TEXTS[@]}")  # the hybrid stages keep LM_TEXTS as they were measured
  if $fusion_itn_text && have_itn; then
    make_ilma_text
    steps/make_itn_lm_text.sh --force $force --lang-dir $lang_dir --exclude "$text $ilma_dir/target_test_text.txt" \
      $itn_dir data/lm_itn
    fusion_lm_texts+=(data/lm_itn/adapt_text.txt)
  fi
  for dir in $model_dirs; do
    log "Stage 5: decode test and dev with $dir/model (full context and 320 ms chunks)"
    steps/decode_with_fusion.sh --cmd "$decode_cmd" --nj $nj --force $force --beam-max-sym $beam_max_sym \
      --lm-order $fusion_lm_order --fusion-beam $fusion_beam --lm-scale $fusion_lm_scale --ilme-scale $fusion_ilme_scale \
      --lm-text "data/train/text ${fusion_lm_texts[*]}" $dir/model $dir/decode \
      data/fbank/${corpus}_cuts_test.jsonl.gz data/fbank/${corpus}_cuts_dev.jsonl.gz
  done
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  log "Stage 6: WER tables"
  for dir in $model_dirs; do
    python -m asr.training.report $dir/decode
  done
fi

target_cuts=data/fbank/synthnum_cuts_test.jsonl.gz
lm=$exp_dir/lm/target_${lm_order}gram.arpa
source_lm=$exp_dir/lm/source_${lm_order}gram.arpa
ilma_model() {  # the model dir of one --update choice: the first is model_ilma
  local first=${ilma_updates%% *}
  if [ "$1" == "$first" ]; then echo $exp_dir/model_ilma; else echo $exp_dir/model_ilma_$1; fi
}

# Without the ITN sentences (no --data-dir with itn/) there is no target domain: skip stages 7-11.
ilma_stop=$stop_stage
if [ $stage -le 11 ] && [ $stop_stage -ge 7 ] && ! stage_done $ilma_dir text && \
   ! have_itn; then
  log "Stages 7-11 (ILMA) skipped: $itn_dir has no google_tn_train.jsonl / LibriTTS.json (pass --data-dir with itn/)"
  ilma_stop=6
fi

if [ $stage -le 7 ] && [ $ilma_stop -ge 7 ]; then
  log "Stage 7: adaptation and target test text from $itn_dir"
  make_ilma_text
fi

if [ $stage -le 8 ] && [ $ilma_stop -ge 8 ]; then
  log "Stage 8: synthesize the target test with the held-out test voices, fbank"
  if ! stage_done $ilma_dir synth; then
    python -m asr.corpora.synth prepare $ilma_dir/target_test_text.txt $ilma_dir/manifests --seed $seed \
      --test-fraction 1 --dev-fraction 0 --num-jobs $num_jobs --audio-dir data/synthnum_audio
    cp $ilma_dir/manifests/${corpus}_cuts_test.jsonl.gz data/manifests/synthnum_cuts_test.jsonl.gz
    mark_done $ilma_dir synth
  fi
  steps/compute_fbank.sh --cmd "$feats_cmd" --nj $nj --force $force data/manifests/synthnum_cuts_test.jsonl.gz data/fbank
fi

if [ $stage -le 9 ] && [ $ilma_stop -ge 9 ]; then
  log "Stage 9: token ${lm_order}-grams of the adaptation text ($lm) and of the source text ($source_lm)"
  if ! stage_done $exp_dir/lm target_lm; then
    python -m asr.lm.train_token_lm --model-dir $exp_dir/model --text $ilma_dir/adapt_text.txt --order $lm_order --out $lm
    mark_done $exp_dir/lm target_lm
  fi
  # The control of the fusion rows: an n-gram of the text the model was trained on, no target
  # sentence. What fusion with it gains on the target test is not the target domain (README, ILMA).
  if ! stage_done $exp_dir/lm source_lm; then
    mkdir -p $exp_dir/lm
    cut -d' ' -f2- data/train/text > $exp_dir/lm/source_text.txt
    [ -f data/train_extra/text_lm ] && cat data/train_extra/text_lm >> $exp_dir/lm/source_text.txt
    python -m asr.lm.train_token_lm --model-dir $exp_dir/model --text $exp_dir/lm/source_text.txt --order $lm_order \
      --out $source_lm
    mark_done $exp_dir/lm source_lm
  fi
fi

if [ $stage -le 10 ] && [ $ilma_stop -ge 10 ]; then
  for update in $ilma_updates; do
    out=$(ilma_model $update)
    log "Stage 10: asr adapt --update $update -> $out"
    stage_done $exp_dir ilma_$update && continue
    # shellcheck disable=SC2086  # $ilma_opts is a list of options
    asr adapt --model-dir $exp_dir/model --text $ilma_dir/adapt_text.txt --out-dir $out --update $update --overwrite $ilma_opts
    mark_done $exp_dir ilma_$update
  done
fi

if [ $stage -le 11 ] && [ $ilma_stop -ge 11 ]; then
  log "Stage 11: decode target and source tests, table ($exp_dir/ilma_bench/table.md)"
  rows=(--row "ILMT only (unadapted)" $exp_dir/model)
  for update in $ilma_updates; do
    rows+=(--row "ILMA $update" $(ilma_model $update))
  done
  rows+=(--row "shallow fusion" $exp_dir/model modified_beam_search_lm_shallow_fusion lm=$lm lm_scale=$lm_scale)
  rows+=(--row "ILME fusion" $exp_dir/model modified_beam_search_ilme lm=$lm lm_scale=$lm_scale ilme_scale=$ilme_scale)
  rows+=(--row "shallow fusion, ${lm_order}-gram of the source text" $exp_dir/model modified_beam_search_lm_shallow_fusion \
    lm=$source_lm lm_scale=$lm_scale)
  eval "extra=($ilma_extra_rows)"  # quoted labels with spaces
  force_opt=
  [ "$force" == true ] && force_opt=--force
  python $ASR_ROOT/bench/ilma.py --target-cuts $target_cuts --source-cuts data/fbank/${corpus}_cuts_test.jsonl.gz \
    --out-dir $exp_dir/ilma_bench --chunk-ms $ilma_chunk $force_opt "${rows[@]}" "${extra[@]}"
fi

HYBRID_TEST_CUTS="data/fbank/${corpus}_cuts_test.jsonl.gz"

# Stages 12-15: the hybrid first pass and the HEC cascade (asr/hybrid, issue 11). The transducer's
# CTC head decodes an HLG whose lexicon spells each word in the model's tokens (icefall's
# prepare_lang_bpe); G is a 3-gram (modified Kneser-Ney) on the training transcripts and
# <data-dir>/text (LM_TEXTS below), never test transcripts. 12 lang + LM + HLG + the hybrid
# model dir $exp_dir/hybrid/model, 13 decode the hybrid alone, 14 the cascade (first pass, then transducer
# rescoring of each segment's n-best), 15 both tables. Add a word later: asr lexicon add
# data/lang_hybrid WORD, then rerun stage 12 (only what changed is rebuilt).
hybrid_lang=data/lang_hybrid
hybrid_dir=$exp_dir/hybrid/model  # per model: another --exp-dir must not reuse these decodes
if [ $stage -le 12 ] && [ $stop_stage -ge 12 ]; then
  log "Stage 12: token lexicon, LM and HLG from $exp_dir/model -> $hybrid_lang, hybrid model dir $hybrid_dir"
  [ -f $exp_dir/model/config.json ] || die "$exp_dir/model is not a model dir: run stage 4 first"
  steps/make_hybrid_lang.sh --tokens-dir $exp_dir/model $hybrid_lang data/train/text "${LM_TEXTS[@]}"
  python -m asr.hybrid.model_dir $exp_dir/model $hybrid_lang $hybrid_dir
fi

if [ $stage -le 13 ] && [ $stop_stage -ge 13 ]; then
  log "Stage 13: decode with the hybrid alone (full context and 320 ms chunks)"
  steps/decode_hybrid.sh --cmd "$decode_cmd" --chunks "$hybrid_chunks" --force $force \
    $hybrid_dir $exp_dir/hybrid/decode ${HYBRID_TEST_CUTS}
fi

if [ $stage -le 14 ] && [ $stop_stage -ge 14 ]; then
  log "Stage 14: decode with the cascade: hybrid first pass, $exp_dir/model second pass"
  steps/decode_hybrid.sh --cmd "$decode_cmd" --chunks "$hybrid_chunks" --first-pass $hybrid_dir --force $force \
    $exp_dir/model $exp_dir/cascade/decode ${HYBRID_TEST_CUTS}
fi

if [ $stage -le 15 ] && [ $stop_stage -ge 15 ]; then
  log "Stage 15: WER tables (transducer, hybrid, cascade)"
  python -m asr.training.report $exp_dir/decode $exp_dir/hybrid/decode $exp_dir/cascade/decode
fi

# Stages 16-19: the HMM first pass, as egs/kathleen's stages 11-16 (see there): a monophone GMM-HMM
# on the phone lang dir of the same LM text, a DNN-HMM on its alignments, both over an HCLG whose
# vocabulary is all of cmudict, and the cascade with $exp_dir/model rescoring the DNN-HMM's n-best.
# Settings are Kathleen's (tuned on its dev), not tuned again here.
phone_lang=data/lang_phone
phone_lang_cmudict=data/lang_phone_cmudict
dnn_train_opts="--num-epochs 10"
dnn_cmudict_decode_opts="--acoustic-scale 0.2"
gmm_cmudict_decode_opts="--acoustic-scale 0.1"
gmm_decode_opts="--acoustic-scale 0.1"
dnn_cascade_opts="--acoustic-scale 0.2 --beam 11 --nbest 10 --lattice-beam 8 --am-weight 1 --lm-weight 2 --e2e-weight 1.0 --chunk-ms 320"
if [ $stage -le 16 ] && [ $stop_stage -ge 16 ]; then
  log "Stage 16: phone lang dir + LM $phone_lang, monophone GMM-HMM exp/mono"
  steps/make_hybrid_lang.sh --lm-order 3 $phone_lang data/train/text "${LM_TEXTS[@]}"
  steps/train_gmm_mono.sh --cmd "$train_cmd" --force $force $phone_lang data/train exp/mono --arpa $phone_lang/G.arpa
fi

if [ $stage -le 17 ] && [ $stop_stage -ge 17 ]; then
  log "Stage 17: DNN-HMM on exp/mono's alignments -> exp/dnn/model"
  steps/train_dnn_hmm.sh --cmd "$train_cmd" --force $force --dev data/dev --opts "$dnn_train_opts" \
    exp/mono/model $phone_lang data/train exp/dnn
fi

if [ $stage -le 18 ] && [ $stop_stage -ge 18 ]; then
  log "Stage 18: cmudict-vocabulary lang dir $phone_lang_cmudict, HCLGs, decode test"
  steps/make_hybrid_lang.sh --lm-order 3 --cmudict-vocabulary true $phone_lang_cmudict data/train/text "${LM_TEXTS[@]}"
  # the acoustic scales tuned on Kathleen dev for these graphs become the model dirs' defaults
  steps/mkgraph.sh --force $force --opts "$gmm_cmudict_decode_opts" $phone_lang_cmudict exp/mono/model exp/mono/model_cmudict
  steps/mkgraph.sh --force $force --opts "$dnn_cmudict_decode_opts" $phone_lang_cmudict exp/dnn/model exp/dnn/model_cmudict
  steps/decode_gmm.sh --cmd "$decode_cmd" --force $force --opts "$gmm_decode_opts" exp/mono/model exp/mono/decode data/test
  steps/decode_gmm.sh --cmd "$decode_cmd" --force $force --opts "$dnn_cmudict_decode_opts" exp/dnn/model_cmudict exp/dnn/decode_cmudict data/test
  steps/decode_gmm.sh --cmd "$decode_cmd" --force $force --opts "$gmm_cmudict_decode_opts" exp/mono/model_cmudict exp/mono/decode_cmudict data/test
fi

if [ $stage -le 19 ] && [ $stop_stage -ge 19 ]; then
  log "Stage 19: cascade, DNN-HMM (cmudict vocabulary) first pass, $exp_dir/model second pass"
  [ -f $exp_dir/model/config.json ] || die "$exp_dir/model is not a model dir: run stage 4 first"
  steps/decode_gmm.sh --cmd "$decode_cmd" --force $force --opts "$dnn_cascade_opts --second-pass $exp_dir/model" \
    exp/dnn/model_cmudict $exp_dir/dnn_cascade data/test
fi
