"""``asr adapt``: internal-LM adaptation (ILMA) of a model dir to a new domain from text only.

    asr adapt --model-dir exp/transducer/model --text target.txt --out-dir exp/transducer/model_ilma \\
        [--update joiner-output|joiner|predictor+joiner|vocab-predictor] [--kl-scale 0.5] [--epochs 2] [--lr 1e-4] \\
        [--batch-size 32] [--lm-scale X] [--teacher-order 6 [--teacher-scale 0.3] [--teacher-folds 5]]

TEXT has one sentence a line; each is normalized like a training transcript. Lines with
characters outside the model's token set are skipped and reported (characters and line counts);
``--strict`` makes them an error. The adapted model dir decodes with every command that takes a
model dir (its ``adapt.json`` records the source, the options and the ILM cross-entropy before
and after); only the chosen parameters change, the encoder stays byte-identical
(``asr.training.adapt``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from asr.errors import AsrError
from asr.training.adapt import UPDATE_CHOICES, AdaptConfig, adapt_model_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = AdaptConfig()
    parser.add_argument("--model-dir", type=Path, required=True, help="source model dir (trained with ILMT)")
    parser.add_argument("--text", type=Path, required=True, help="target-domain text, one sentence a line")
    parser.add_argument("--out-dir", type=Path, required=True, help="the adapted model dir to write")
    parser.add_argument("--update", choices=UPDATE_CHOICES, default=defaults.update,
                        help="parameters to train (default: %(default)s, the joiner's output layer)")
    parser.add_argument("--kl-scale", type=float, default=defaults.kl_scale,
                        help="weight of KL(adapted ILM || unadapted ILM) per token (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="passes over the text (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=defaults.lr, help="Adam learning rate (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size,
                        help="sentences per step (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--strict", action="store_true",
                        help="fail on a line with characters outside the token set instead of skipping it")
    parser.add_argument("--num-threads", type=int, default=defaults.num_threads, help="torch threads")
    parser.add_argument("--lm-scale", type=float, default=None,
                        help="a factorized model's LM weight in the adapted dir (default: the source's; choose it "
                             "on a target dev, it costs nothing at decoding)")
    parser.add_argument("--teacher-order", type=int, default=defaults.teacher_order,
                        help="train token n-grams of this order on the text and make the target their fusion with "
                             "the unadapted internal LM instead of the next token alone (default: 0, no teacher)")
    parser.add_argument("--teacher-scale", type=float, default=defaults.teacher_scale,
                        help="the n-grams' weight in that fusion (default: %(default)s)")
    parser.add_argument("--teacher-folds", type=int, default=defaults.teacher_folds,
                        help="parts of the text: each is scored by an n-gram of the others (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out-dir")


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        config = AdaptConfig(update=args.update, kl_scale=args.kl_scale, epochs=args.epochs, lr=args.lr,
                             batch_size=args.batch_size, seed=args.seed, strict=args.strict,
                             num_threads=args.num_threads, lm_scale=args.lm_scale,
                             teacher_order=args.teacher_order, teacher_scale=args.teacher_scale,
                             teacher_folds=args.teacher_folds)
        result = adapt_model_dir(args.model_dir, args.text, args.out_dir, config, overwrite=args.overwrite)
    except (AsrError, ValueError) as e:
        logging.getLogger("asr.adapt").error("%s", e)
        return 1
    stats = result.stats
    print(f"{result.out_dir}: {result.text.summary()}; ILM cross-entropy {stats.ilm_ce_before:.3f} -> "
          f"{stats.ilm_ce_after:.3f} nats/token; {stats.trainable_parameters} parameters trained "
          f"({args.update}), {stats.steps} steps in {stats.seconds:.1f} s")
    return 0
