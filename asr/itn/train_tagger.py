"""Train the ITN tagger on tagged sentences (``asr.itn.tagger_data``) and write a shippable tagger file.

``python -m asr.itn.train_tagger --train data/train.jsonl --dev data/dev.jsonl --out exp/tagger.pt``
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from asr.errors import DataDirError
from asr.itn.tagger import ItnTaggerModel, Tagger, TaggerConfig, WordVocab
from asr.itn.tagger_data import TaggedSentence, read_jsonl
from asr.itn.tags import IGNORE_TAG, tags_to_spans


@dataclass
class TrainOptions:
    epochs: int = 15
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 200
    max_vocab: int = 6000
    max_len: int = 64  # longer training sentences are cut into pieces of this many words
    unk_prob: float = 0.05  # word dropout: a training word becomes <unk> (teaches unseen names, domains)
    seed: int = 0
    num_threads: int = 1


def _pieces(sentences: list[TaggedSentence], max_len: int) -> list[TaggedSentence]:
    out = []
    for s in sentences:
        for k in range(0, len(s.words), max_len):
            out.append(TaggedSentence(s.words[k:k + max_len], s.tags[k:k + max_len], s.source))
    return out


def _batches(data: list[tuple[list[int], list[int]]], batch_size: int, rng: random.Random | None):
    order = sorted(range(len(data)), key=lambda i: len(data[i][0]))
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(chunks)
    for idx in chunks:
        t = max(len(data[i][0]) for i in idx)
        ids = torch.zeros(len(idx), t, dtype=torch.long)
        tags = torch.full((len(idx), t), IGNORE_TAG, dtype=torch.long)
        lens = torch.tensor([len(data[i][0]) for i in idx])
        for r, i in enumerate(idx):
            ids[r, : lens[r]] = torch.tensor(data[i][0])
            tags[r, : lens[r]] = torch.tensor(data[i][1])
        yield ids, lens, tags


@torch.inference_mode()
def evaluate(tagger: Tagger, sentences: list[TaggedSentence]) -> dict[str, float]:
    """Token accuracy over labelled tokens and span precision/recall/F1 (exact span and category).

    Sentences with masked tokens count in token accuracy only.
    """
    pred = tagger.tag([s.words for s in sentences])
    correct = total = tp = n_pred = n_ref = 0
    for s, p in zip(sentences, pred):
        for t, q in zip(s.tags, p):
            if t != IGNORE_TAG:
                total += 1
                correct += int(t == q)
        if IGNORE_TAG in s.tags:
            continue
        ref, hyp = set(tags_to_spans(s.tags)), set(tags_to_spans(p))
        tp += len(ref & hyp)
        n_pred += len(hyp)
        n_ref += len(ref)
    prec = tp / max(n_pred, 1)
    rec = tp / max(n_ref, 1)
    return {
        "token_acc": correct / max(total, 1),
        "span_p": prec,
        "span_r": rec,
        "span_f1": 2 * prec * rec / max(prec + rec, 1e-9),
    }


def train(train_set: list[TaggedSentence], dev_set: list[TaggedSentence], cfg: TaggerConfig,
          opts: TrainOptions) -> tuple[Tagger, dict[str, float]]:
    """Train a tagger; returns it (in eval mode) with its dev metrics."""
    if not train_set:
        raise DataDirError("no training sentences")
    torch.manual_seed(opts.seed)
    torch.set_num_threads(opts.num_threads)
    rng = random.Random(opts.seed)
    vocab = WordVocab.build([s.words for s in train_set], opts.max_vocab)
    cfg.vocab_size = len(vocab)
    model = ItnTaggerModel(cfg)
    data = [(vocab.encode(s.words), s.tags) for s in _pieces(train_set, opts.max_len)]
    optim = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    steps_per_epoch = math.ceil(len(data) / opts.batch_size)
    total = steps_per_epoch * opts.epochs

    def lr_at(step: int) -> float:
        warm = min(1.0, (step + 1) / opts.warmup_steps)
        return opts.lr * warm * 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))

    step = 0
    metrics: dict[str, float] = {}
    tagger = Tagger(model, vocab)
    for epoch in range(opts.epochs):
        model.train()
        bar = tqdm(_batches(data, opts.batch_size, rng), total=steps_per_epoch, desc=f"epoch {epoch + 1}")
        loss_sum = 0.0
        for ids, lens, tags in bar:
            if opts.unk_prob > 0:
                drop = (torch.rand(ids.shape) < opts.unk_prob) & (ids > 0)
                ids = ids.masked_fill(drop, 1)  # 1 = <unk>
            for g in optim.param_groups:
                g["lr"] = lr_at(step)
            logits = model(ids, lens)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tags.reshape(-1), ignore_index=IGNORE_TAG)
            optim.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            step += 1
            loss_sum += loss.item()
            bar.set_postfix(loss=f"{loss.item():.4f}")
        model.eval()
        metrics = evaluate(tagger, dev_set) if dev_set else {}
        print(f"epoch {epoch + 1}: train loss {loss_sum / steps_per_epoch:.4f} dev "
              + " ".join(f"{k} {v:.4f}" for k, v in metrics.items()), flush=True)
    return tagger, metrics


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", type=Path, required=True)
    p.add_argument("--dev", type=Path, default=None)
    p.add_argument("--out", type=Path, required=True, help="tagger file to write (e.g. exp/tagger.pt)")
    for f, v in asdict(TrainOptions()).items():
        p.add_argument("--" + f.replace("_", "-"), type=type(v), default=v)
    for f in ("d_model", "num_heads", "num_layers", "ff_dim", "left_context", "lookahead"):
        p.add_argument("--" + f.replace("_", "-"), type=int, default=getattr(TaggerConfig(), f))
    args = p.parse_args(argv)
    opts = TrainOptions(**{f: getattr(args, f) for f in asdict(TrainOptions())})
    cfg = TaggerConfig(**{f: getattr(args, f) for f in ("d_model", "num_heads", "num_layers", "ff_dim",
                                                        "left_context", "lookahead")})
    train_set = read_jsonl(args.train)
    dev_set = read_jsonl(args.dev) if args.dev else []
    t0 = time.time()
    tagger, metrics = train(train_set, dev_set, cfg, opts)
    tagger.save(args.out)
    # Measure the shipped (quantized) weights, not the float ones.
    shipped = Tagger.load(args.out)
    final = evaluate(shipped, dev_set) if dev_set else {}
    report = {"train_seconds": round(time.time() - t0, 1), "bytes": args.out.stat().st_size,
              "dev_float": metrics, "dev_quantized": final}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
