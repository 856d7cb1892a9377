#!/usr/bin/env bash
# ITN tagger recipe: training data -> tagger training -> evaluation -> export into the package.
#
#   ./run.sh [--stage 0] [--stop-stage 3] [--data-dir ../../../shared/data] [--num-synthetic 12000]
#
# Stage 0 data:     labelled sentences (synthetic insertions, LibriTTS and Google TN train pairs,
#                   Google TN written train sentences spoken by our verbalizers) -> data/
# Stage 1 train:    python -m asr.itn.train_tagger -> exp/tagger.pt (quantized, shippable)
# Stage 2 evaluate: tagger + grammars on the held-out LibriTTS test and Google TN dev splits
#                   (bench/itn.py --ours-only)
# Stage 3 export:   copy exp/tagger.pt to asr/itn/pretrained/tagger.pt (what the package ships)
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0
stop_stage=3
data_dir=$(cd ../../.. && pwd)/shared/data
num_synthetic=12000
epochs=10
d_model=96
ff_dim=192
num_layers=3
lookahead=3
seed=0
force=false

. utils/parse_options.sh
. utils/log.sh
. utils/done_marker.sh

[ -f "$data_dir/itn/LibriTTS.json" ] || die "no $data_dir/itn/LibriTTS.json (give --data-dir)"

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  if ! stage_done data itn-data; then
    log "Stage 0: training data from $data_dir"
    mkdir -p data exp/log
    $train_cmd exp/log/data.log python -m asr.itn.tagger_data --data-dir "$data_dir" --out-dir data \
      --num-synthetic $num_synthetic --seed $seed
    mark_done data itn-data
  fi
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  if ! stage_done exp itn-train; then
    log "Stage 1: train the tagger"
    $train_cmd exp/log/train.log python -m asr.itn.train_tagger --train data/train.jsonl --dev data/dev.jsonl \
      --out exp/tagger.pt --epochs $epochs --d-model $d_model --ff-dim $ff_dim --num-layers $num_layers \
      --lookahead $lookahead --seed $seed
    tail -n 12 exp/log/train.log
    mark_done exp itn-train
  fi
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: evaluate on the held-out LibriTTS test and Google TN dev splits"
  python ../../bench/itn.py --data-dir "$data_dir" --tagger exp/tagger.pt --ours-only | tee exp/eval.txt
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: export exp/tagger.pt into the package"
  mkdir -p ../../asr/itn/pretrained
  cp exp/tagger.pt ../../asr/itn/pretrained/tagger.pt
  ls -l ../../asr/itn/pretrained/tagger.pt
fi
