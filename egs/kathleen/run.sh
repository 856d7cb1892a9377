#!/usr/bin/env bash
# One US-English female speaker reading CMU ARCTIC prompts, 16 kHz (CC0).
#
#   ./run.sh [--stage 0] [--stop-stage 100] [--data-dir download] [--nj 2] [--token-type char] [--vocab-size 256]
#            [--speed-perturb true] [--init-from ../synth/exp/transducer/model] [--add-synth false]
#            [--train-config conf/finetune.yaml] [--freeze ""] [--num-epochs N] [--nproc 1] [--force false]
#            [--beam-max-sym 3] [--fusion-lm-order 8] [--fusion-beam 8] [--fusion-lm-scale 1.0] [--fusion-ilme-scale 0.6]
#            [--fusion-itn-text true]
#
# --data-dir holds transcripts.tsv and wav/ (or kathleen/ with them, as ../shared/data does). The
# recordings have no public download: point --data-dir at a local copy. Splits are prompt-disjoint
# (every take of a prompt on one side; asr/corpora/kathleen.py): train, dev (5%), test (8%).
# By default stage 4 fine-tunes the model that egs/synth trained on synthetic speech (run that recipe
# first; its corpus speaks this corpus's training prompts, never its test prompts) with its tokens
# and architecture; --init-from "" trains from scratch with --train-config conf/train.yaml.
# Stages: 0 locate, 1 prepare, 2 non-speech cuts + fbank, 3 lang (char, or BPE with --token-type bpe),
# 4 train, 5 decode (test and dev), 6 WER table, 7 hybrid lang/LM/HLG ($exp_dir/hybrid/model), 8 decode hybrid, 9 decode
# cascade, 10 hybrid and cascade WER tables, 11 phone lang dir + monophone GMM-HMM (exp/mono),
# 12 decode test with it, 13 cascade with the GMM-HMM first pass ($exp_dir/gmm_cascade), 14 DNN-HMM
# on the GMM-HMM's alignments (exp/dnn), 15 decode test with it, 16 cascade with the DNN-HMM first
# pass ($exp_dir/dnn_cascade); 15 also builds the cmudict-vocabulary lang dir and HCLGs.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0
stop_stage=100
data_dir=download
nj=2                 # stages 2 and 5: jobs at once (fbank, decoding)
seed=0
token_type=char      # stage 3: char (a few hours of audio learn it fastest) or bpe (of --vocab-size)
vocab_size=256
speed_perturb=true   # stage 2: also train_sp = train + 0.9x/1.1x speed copies (ids _sp0.9/_sp1.1), which stage 4 trains on
init_from=../synth/exp/transducer/model  # stage 4: the model dir to fine-tune ("": train from scratch)
nonspeech_per_kind=100  # stage 2: silence/noise/DC/hum cuts of each kind (split nonspeech); 0: none
add_synth=false      # stages 4-6: add egs/synth's training corpus (run egs/synth stages 0-2 first)
synth_dir=../synth   # where that recipe keeps data/fbank/synth_cuts_train.jsonl.gz
train_config=        # stage 4: default conf/finetune.yaml with --init-from, else conf/train.yaml
num_epochs=          # stage 4: override the config's num_epochs
freeze=              # stage 4: modules not trained, comma-separated (e.g. predictor: an LSTM predictor then keeps
                     # the language egs/synth taught it instead of learning this hour of prompts by heart)
exp_dir=             # stages 4-10: the model's directory (default exp/transducer, exp/transducer_synth with --add-synth)
nproc=1              # stage 4: >1 runs torchrun with that many processes (gloo on CPU, nccl on GPU)
force=false
beam_max_sym=3       # stage 5: tokens a frame in modified beam search (1: icefall's, which drops characters)
fusion_lm_order=8    # stage 5: token n-gram of the LM text for ILME fusion (0: no fusion decode)
fusion_beam=8        # stage 5: ILME fusion's beam
fusion_lm_scale=1.0  # stage 5: the n-gram's weight (chosen on dev)
fusion_ilme_scale=0.6  # stage 5: the subtracted internal LM's weight (chosen on dev)
fusion_itn_text=true  # stage 5: the fusion LM also reads the ITN sentences' spoken forms (<data-dir>/../itn)
hybrid_chunks="full 320"  # stages 7-10: chunk settings the hybrid and the cascade are decoded with
. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

corpus=kathleen
splits="train dev test"
lang_dir=data/lang_char
[ $token_type = bpe ] && lang_dir=data/lang_bpe_$vocab_size

nonspeech_step=
if [ "$nonspeech_per_kind" -gt 0 ]; then
  splits="$splits nonspeech"
  nonspeech_step="python -m asr.augment nonspeech data/manifests/${corpus}_cuts_nonspeech.jsonl.gz --audio-dir data/nonspeech_audio --num-per-kind $nonspeech_per_kind"
fi

steps/data_stages.sh --stage $stage --stop-stage $stop_stage --force $force --nj $nj --feats-cmd "$feats_cmd" \
  --prepare-opts "--seed $seed" --speed-perturb $speed_perturb --before-fbank "$nonspeech_step" \
  --splits "$splits" --model-type $token_type --vocab-size $vocab_size \
  $corpus "$data_dir" $lang_dir data/train/text

# LM text for the fusion LM (stage 5) and the hybrid stages: training transcripts (the steps add
# data/train/text) plus the text in <data-dir>/text (LibriSpeech dev-clean and Harvard sentences,
# never ARCTIC test prompts).
LM_TEXTS=()
text_dir=$data_dir/text
[ -d "$text_dir" ] || text_dir=$data_dir/../text
for f in "$text_dir"/*.txt; do
  [ -f "$f" ] && LM_TEXTS+=("$f")
done
[ ${#LM_TEXTS[@]} -gt 0 ] || [ $stop_stage -lt 5 ] || \
  log "WARNING: no text files in $data_dir/text: the fusion and hybrid LMs (stages 5, 7-16) will have the training transcripts alone"

# Stage 4 fine-tunes --init-from (or trains from scratch) on train (train_sp with --speed-perturb
# true) and the non-speech cuts, plus the synthesized corpus with --add-synth true (then with a
# tokenizer trained on both texts, in exp/transducer_synth); stage 5 decodes test with full context
# and 320 ms chunks: greedy search, modified beam search (--beam-max-sym tokens a frame), and ILME
# fusion with a token n-gram of the LM text above; stage 6 prints the WER table.
default_exp_dir=exp/transducer
$add_synth && default_exp_dir=exp/transducer_synth
exp_dir=${exp_dir:-$default_exp_dir}
train_cuts=(data/fbank/${corpus}_cuts_train.jsonl.gz)
$speed_perturb && train_cuts=(data/fbank/${corpus}_cuts_train_sp.jsonl.gz)
[ "$nonspeech_per_kind" -gt 0 ] && train_cuts+=(data/fbank/${corpus}_cuts_nonspeech.jsonl.gz)
train_lang=$lang_dir
train_opts=
if [ -n "$init_from" ]; then
  # the model's own tokens: a lang dir rebuilt from this corpus's text would number them otherwise
  train_lang=$init_from
  train_opts="--set init_from=$init_from"
  [ -n "$train_config" ] || train_config=conf/finetune.yaml
fi
[ -n "$train_config" ] || train_config=conf/train.yaml
if $add_synth; then
  [ -z "$init_from" ] || die "--add-synth true trains from scratch with a joint tokenizer: give --init-from '' too"
  train_lang=${lang_dir}_synth
  # the synth manifest's feature paths are relative to its recipe dir: a copy with them rebased
  train_cuts+=(data/fbank/synth_cuts_train_from_synth_recipe.jsonl.gz)
fi
[ -n "$num_epochs" ] && train_opts="$train_opts --num-epochs $num_epochs"
[ -n "$freeze" ] && train_opts="$train_opts --set freeze=[$freeze]"

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  if [ -n "$init_from" ] && [ ! -f "$init_from/config.json" ]; then
    die "--init-from $init_from is not a model dir: run ../synth/run.sh first, or --init-from '' to train from scratch"
  fi
  if $add_synth; then
    log "Stage 4a: add $synth_dir's training corpus; $token_type lang dir $train_lang from both texts"
    local/add_synth.sh --force $force --model-type $token_type --vocab-size $vocab_size \
      $synth_dir ${train_cuts[-1]} $train_lang
  fi
  log "Stage 4: train $exp_dir ($train_config) on ${train_cuts[*]}"
  steps/train_transducer.sh --cmd "$train_cmd" --nproc $nproc --opts "$train_opts" --force $force \
    $train_config $train_lang $exp_dir data/fbank/${corpus}_cuts_dev.jsonl.gz "${train_cuts[@]}"
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "Stage 5: decode test and dev (full context and 320 ms chunks)"
  # The fusion LM also reads the spoken forms of the ITN sentences (LibriTTS books and Google TN,
  # 8k lines, none an ARCTIC prompt: dev 36.18 -> 33.81 at 320 ms); the hybrid stages keep LM_TEXTS.
  fusion_lm_texts=("${LM_TEXTS[@]}")
  itn_dir=$data_dir/itn
  [ -d "$itn_dir" ] || itn_dir=$data_dir/../itn
  if $fusion_itn_text; then
    steps/make_itn_lm_text.sh --force $force $itn_dir data/lm_itn
    [ ! -f data/lm_itn/adapt_text.txt ] || fusion_lm_texts+=(data/lm_itn/adapt_text.txt)
  fi
  steps/decode_with_fusion.sh --cmd "$decode_cmd" --nj $nj --force $force --beam-max-sym $beam_max_sym \
    --lm-order $fusion_lm_order --fusion-beam $fusion_beam --lm-scale $fusion_lm_scale --ilme-scale $fusion_ilme_scale \
    --lm-text "data/train/text ${fusion_lm_texts[*]}" $exp_dir/model $exp_dir/decode \
    data/fbank/${corpus}_cuts_test.jsonl.gz data/fbank/${corpus}_cuts_dev.jsonl.gz
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  log "Stage 6: WER table"
  python -m asr.training.report $exp_dir/decode
fi

HYBRID_TEST_CUTS="data/fbank/${corpus}_cuts_test.jsonl.gz"

# Stages 7-10: the hybrid first pass and the HEC cascade (asr/hybrid, issue 11). The transducer's
# CTC head decodes an HLG whose lexicon spells each word in the model's tokens (icefall's
# prepare_lang_bpe); G is a 3-gram (modified Kneser-Ney) on the training transcripts and
# <data-dir>/text (LM_TEXTS below), never test transcripts. 7 lang + LM + HLG + the hybrid
# model dir $exp_dir/hybrid/model, 8 decode the hybrid alone, 9 the cascade (first pass, then transducer
# rescoring of each segment's n-best), 10 both tables. Add a word later: asr lexicon add
# data/lang_hybrid WORD, then rerun stage 7 (only what changed is rebuilt).
hybrid_lang=data/lang_hybrid
hybrid_dir=$exp_dir/hybrid/model  # per model: another --exp-dir must not reuse these decodes
if [ $stage -le 7 ] && [ $stop_stage -ge 7 ]; then
  log "Stage 7: token lexicon, LM and HLG from $exp_dir/model -> $hybrid_lang, hybrid model dir $hybrid_dir"
  [ -f $exp_dir/model/config.json ] || die "$exp_dir/model is not a model dir: run stage 4 first"
  steps/make_hybrid_lang.sh --tokens-dir $exp_dir/model $hybrid_lang data/train/text "${LM_TEXTS[@]}"
  python -m asr.hybrid.model_dir $exp_dir/model $hybrid_lang $hybrid_dir
fi

if [ $stage -le 8 ] && [ $stop_stage -ge 8 ]; then
  log "Stage 8: decode with the hybrid alone (full context and 320 ms chunks)"
  steps/decode_hybrid.sh --cmd "$decode_cmd" --chunks "$hybrid_chunks" --force $force \
    $hybrid_dir $exp_dir/hybrid/decode ${HYBRID_TEST_CUTS}
fi

if [ $stage -le 9 ] && [ $stop_stage -ge 9 ]; then
  log "Stage 9: decode with the cascade: hybrid first pass, $exp_dir/model second pass"
  steps/decode_hybrid.sh --cmd "$decode_cmd" --chunks "$hybrid_chunks" --first-pass $hybrid_dir --force $force \
    $exp_dir/model $exp_dir/cascade/decode ${HYBRID_TEST_CUTS}
fi

if [ $stage -le 10 ] && [ $stop_stage -ge 10 ]; then
  log "Stage 10: WER tables (transducer, hybrid, cascade)"
  python -m asr.training.report $exp_dir/decode $exp_dir/hybrid/decode $exp_dir/cascade/decode
fi

# Stages 11-12: a monophone GMM-HMM (asr/hybrid/gmm.py, issue 11) on the same 3-gram LM texts: a
# phone lang dir (cmudict, then G2P), MFCC + deltas, Kaldi's train_mono schedule, HCLG with the
# 3-gram, decoded with FasterDecoder (WER and RTF in exp/mono/decode/test/wer.txt).
phone_lang=data/lang_phone
if [ $stage -le 11 ] && [ $stop_stage -ge 11 ]; then
  log "Stage 11: phone lang dir + LM $phone_lang, monophone GMM-HMM exp/mono"
  steps/make_hybrid_lang.sh --lm-order 3 $phone_lang data/train/text "${LM_TEXTS[@]}"
  steps/train_gmm_mono.sh --cmd "$train_cmd" --force $force $phone_lang data/train exp/mono --arpa $phone_lang/G.arpa
fi

if [ $stage -le 12 ] && [ $stop_stage -ge 12 ]; then
  log "Stage 12: decode test with the GMM-HMM"
  steps/decode_gmm.sh --cmd "$decode_cmd" --force $force exp/mono/model exp/mono/decode data/test
fi

# Stage 13: the cascade with the GMM-HMM as first pass (asr.hybrid.cascade.GmmCascade): its n-best
# over HCLG rescored with $exp_dir/model's log p(y|x) (320 ms chunks), whole utterances. Weights
# and n-best size tuned on dev (python -m asr.hybrid.gmm tune on the decode dir's nbest.jsonl):
# $exp_dir/gmm_cascade/test/wer.txt, the n-best in nbest.jsonl, the GMM's own best in text_first_pass.
gmm_cascade_opts="--nbest 30 --lattice-beam 8 --am-weight 0.25 --lm-weight 0.5 --e2e-weight 1.0 --chunk-ms 320"
if [ $stage -le 13 ] && [ $stop_stage -ge 13 ]; then
  log "Stage 13: cascade, GMM-HMM first pass, $exp_dir/model second pass"
  [ -f $exp_dir/model/config.json ] || die "$exp_dir/model is not a model dir: run stage 4 first"
  steps/decode_gmm.sh --cmd "$decode_cmd" --force $force --opts "$gmm_cascade_opts --second-pass $exp_dir/model" \
    exp/mono/model $exp_dir/gmm_cascade data/test
fi

# Stages 14-16: a DNN-HMM (asr/hybrid/dnn_hmm.py) and a dictionary-sized vocabulary. Stage 14: the
# monophone GMM-HMM aligns train and dev, and a TDNN (hires MFCC,
# +-90 ms context, 2.8M parameters) learns the alignments' pdfs with frame cross-entropy (dev picks
# the epoch), replacing the GMMs in the same HCLG. Stage 15: a phone lang dir whose vocabulary is
# all of cmudict ($phone_lang_cmudict; the LM text is the same, its unseen words get the
# Kneser-Ney unseen share), the HCLG of both HMMs over it (python -m asr.hybrid.gmm mkgraph ->
# exp/{mono,dnn}/model_cmudict), and test decoded with each (exp/*/decode{,_cmudict}). Stage 16:
# stage 13's cascade over the DNN-HMM's n-best ($exp_dir/dnn_cascade). Acoustic scales, beams,
# n-best size and weights were tuned on dev (python -m asr.hybrid.gmm decode / tune).
phone_lang_cmudict=data/lang_phone_cmudict
dnn_train_opts="--num-epochs 10"
dnn_decode_opts="--acoustic-scale 0.15"  # dev: 0.15 over the LM vocabulary, 0.2 over cmudict's
dnn_cmudict_decode_opts="--acoustic-scale 0.2"
gmm_cmudict_decode_opts="--acoustic-scale 0.1"
dnn_cascade_opts="--acoustic-scale 0.2 --beam 11 --nbest 10 --lattice-beam 8 --am-weight 1 --lm-weight 2 --e2e-weight 1.0 --chunk-ms 320"
if [ $stage -le 14 ] && [ $stop_stage -ge 14 ]; then
  log "Stage 14: DNN-HMM on exp/mono's alignments -> exp/dnn/model"
  steps/train_dnn_hmm.sh --cmd "$train_cmd" --force $force --dev data/dev --opts "$dnn_train_opts" \
    exp/mono/model $phone_lang data/train exp/dnn
fi

if [ $stage -le 15 ] && [ $stop_stage -ge 15 ]; then
  log "Stage 15: cmudict-vocabulary lang dir $phone_lang_cmudict, HCLGs, decode test"
  steps/make_hybrid_lang.sh --lm-order 3 --cmudict-vocabulary true $phone_lang_cmudict data/train/text "${LM_TEXTS[@]}"
  # the acoustic scales tuned on Kathleen dev for these graphs become the model dirs' defaults
  steps/mkgraph.sh --force $force --opts "$gmm_cmudict_decode_opts" $phone_lang_cmudict exp/mono/model exp/mono/model_cmudict
  steps/mkgraph.sh --force $force --opts "$dnn_cmudict_decode_opts" $phone_lang_cmudict exp/dnn/model exp/dnn/model_cmudict
  steps/decode_gmm.sh --cmd "$decode_cmd" --force $force --opts "$dnn_decode_opts" exp/dnn/model exp/dnn/decode data/test
  steps/decode_gmm.sh --cmd "$decode_cmd" --force $force --opts "$dnn_cmudict_decode_opts" exp/dnn/model_cmudict exp/dnn/decode_cmudict data/test
  steps/decode_gmm.sh --cmd "$decode_cmd" --force $force --opts "$gmm_cmudict_decode_opts" exp/mono/model_cmudict exp/mono/decode_cmudict data/test
fi

if [ $stage -le 16 ] && [ $stop_stage -ge 16 ]; then
  log "Stage 16: cascade, DNN-HMM (cmudict vocabulary) first pass, $exp_dir/model second pass"
  [ -f $exp_dir/model/config.json ] || die "$exp_dir/model is not a model dir: run stage 4 first"
  steps/decode_gmm.sh --cmd "$decode_cmd" --force $force --opts "$dnn_cascade_opts --second-pass $exp_dir/model" \
    exp/dnn/model_cmudict $exp_dir/dnn_cascade data/test
fi
