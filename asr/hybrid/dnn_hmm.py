"""A DNN-HMM: a TDNN trained on the GMM-HMM's alignments replaces its GMMs (issue 11).

Kaldi's hybrid recipe after ``train_mono.sh`` (``align_si.sh``, then an nnet trained with frame
cross-entropy on the alignments' pdfs) in PyTorch:

- targets: ``asr.hybrid.gmm.align_utterances`` aligns the training (and dev) transcripts with the
  GMM-HMM; each frame's target is the pdf of its transition id. The alignments are cached in the
  output dir (``ali_<name>.npz``, tied to the GMM's sha256) so a rerun does not align again;
- features: 40 MFCCs of 40 mel bins (23 of 23 at 8 kHz), no deltas (Kaldi's "hires" features), per-utterance CMVN,
  then a global mean/variance normalization learnt on the training set. Same framing as the GMM's
  features, so frame t of both is the same 25 ms of audio;
- ``Tdnn``: 1-d convolutions over time (a TDNN, as Kaldi's ``tdnn_1a``), ReLU and LayerNorm between
  them; frame t sees ``left_context`` frames before it and ``right_context`` after (90 ms each by
  default), utterance edges padded with copies of the first and last frame;
- decoding: the pdf "log-likelihood" is the scaled log-posterior, log p(pdf|x_t) - log p(pdf)
  (the prior counted on the training alignments), through the GMM-HMM's HCLG and searches
  unchanged (``DnnHmm`` is a ``GmmHmm`` whose ``pdf_log_likelihoods`` is the network's).

The model dir is the GMM-HMM's (``asr.hybrid.gmm.save_model_dir``: ``gmm.json`` with kind
``dnn_hmm``, ``HCLG.fst``, ``model.pkl`` for the transition model) plus ``dnn.pt``: the network's
options and weights, the priors and the input features. Every command that takes a GMM-HMM dir
takes it (``python -m asr.hybrid.gmm decode``, ``asr transcribe --model-dir`` /
``--first-pass``). CLI::

    python -m asr.hybrid.dnn_hmm train --gmm-dir exp/mono/model --lang-dir data/lang_phone \\
        --data-dir data/train --dev-data-dir data/dev --out-dir exp/dnn
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from asr.hybrid import gmm  # noqa: F401  (kaldi-hmm-gmm must load before kaldifst)
from asr.hybrid.gmm import GmmHmm, GmmModelDir, Utterance, align_utterances, load_model_dir, save_model_dir, utterances_from_data_dir

import torch  # noqa: E402
from torch import nn  # noqa: E402
from tqdm import tqdm  # noqa: E402

from asr.errors import AsrError, ModelDirError  # noqa: E402
from asr.features.mfcc import MfccOptions  # noqa: E402
from asr.utils import fields_below  # noqa: E402
from asr.utils.io import atomic_path  # noqa: E402

logger = logging.getLogger(__name__)

DNN_FILE = "dnn.pt"


def hires_features(gmm_features: MfccOptions) -> MfccOptions:
    """The network's input: the GMM's framing and sample rate, all cepstra of 40 mel bins (23 below
    16 kHz, as Kaldi's 8 kHz setups), no deltas (the TDNN sees the context itself)."""
    bins = 40 if gmm_features.sample_rate >= 16000 else 23
    return dataclasses.replace(gmm_features, num_ceps=bins, num_mel_bins=bins, delta_order=0)


@dataclass(frozen=True)
class TdnnOptions:
    """The network: ``layers`` (kernel size, dilation) convolutions of ``hidden_dim`` channels
    (the first splices the input), then a linear layer to the pdfs; ``dropout`` after each
    hidden layer in training."""

    hidden_dim: int = 512
    layers: tuple[tuple[int, int], ...] = ((5, 1), (3, 1), (3, 3), (3, 3), (1, 1))
    dropout: float = 0.1

    def __post_init__(self) -> None:
        bad = fields_below(self, ("hidden_dim",), 0, or_equal=True)
        if not self.layers or any(k < 1 or k % 2 == 0 or d < 1 for k, d in self.layers):
            bad.append(f"layers={self.layers} (odd kernel sizes and dilations >= 1)")
        if not 0 <= self.dropout < 1:
            bad.append(f"dropout={self.dropout}")
        if bad:
            raise ValueError(f"TdnnOptions: bad values {', '.join(bad)}")

    @property
    def context(self) -> int:
        """Frames seen on each side of the frame a pdf is predicted for."""
        return sum((k - 1) // 2 * d for k, d in self.layers)


@dataclass(frozen=True)
class DnnTrainOptions:
    """Frame cross-entropy training: AdamW at ``learning_rate`` (linear warm-up over
    ``warmup_steps``, cosine decay to ``final_lr_ratio`` of it), batches of about ``batch_frames``
    frames of whole utterances; the epoch with the lowest dev loss is kept (the last one without
    a dev set)."""

    num_epochs: int = 10
    learning_rate: float = 2e-3
    final_lr_ratio: float = 0.05
    warmup_steps: int = 100
    weight_decay: float = 1e-2
    batch_frames: int = 12000
    seed: int = 0

    def __post_init__(self) -> None:
        bad = fields_below(self, ("num_epochs", "learning_rate", "batch_frames"), 0, or_equal=True)
        if bad:
            raise ValueError(f"DnnTrainOptions: {', '.join(bad)} must be positive")


class Tdnn(nn.Module):
    """Frame classifier over time-delay (dilated 1-d) convolutions.

    ``forward``: (N, T + 2 * context, F) features (padded on both sides) -> (N, T, P) pdf logits;
    ``log_posteriors``: one utterance's (T, F) features -> (T, P), edges padded by replication.
    """

    def __init__(self, input_dim: int, num_pdfs: int, options: TdnnOptions | None = None) -> None:
        super().__init__()
        self.options = options or TdnnOptions()
        self.input_dim, self.num_pdfs = input_dim, num_pdfs
        self.register_buffer("feature_mean", torch.zeros(input_dim))
        self.register_buffer("feature_inv_std", torch.ones(input_dim))
        layers: list[nn.Module] = []
        dim = input_dim
        for kernel, dilation in self.options.layers:
            layers += [nn.Conv1d(dim, self.options.hidden_dim, kernel, dilation=dilation), nn.ReLU(),
                       _ChannelNorm(self.options.hidden_dim), nn.Dropout(self.options.dropout)]
            dim = self.options.hidden_dim
        self.body = nn.Sequential(*layers)
        self.output = nn.Linear(dim, num_pdfs)

    @property
    def context(self) -> int:
        return self.options.context

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = (feats - self.feature_mean) * self.feature_inv_std
        return self.output(self.body(x.transpose(1, 2)).transpose(1, 2))

    def pad(self, feats: torch.Tensor) -> torch.Tensor:
        """(T, F) -> (T + 2 * context, F): the first and last frame repeated."""
        c = self.context
        return torch.cat([feats[:1].expand(c, -1), feats, feats[-1:].expand(c, -1)])

    @torch.no_grad()
    def log_posteriors(self, feats: np.ndarray) -> np.ndarray:
        if len(feats) == 0:
            return np.zeros((0, self.num_pdfs), dtype=np.float32)
        x = self.pad(torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32)))
        return torch.log_softmax(self(x[None])[0], dim=-1).numpy()


class _ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of (N, C, T): per frame, so padding never leaks into batch
    statistics and a frame's output does not depend on the batch (unlike BatchNorm)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class DnnHmm(GmmHmm):
    """A ``GmmHmm`` whose pdf scores come from a ``Tdnn``: log p(pdf|x) - log p(pdf) on the
    network's features (``features``; the GMMs are kept for re-alignment, unused in decoding)."""

    kind = "dnn_hmm"

    def __init__(self, hmm: GmmHmm, network: Tdnn, log_priors: np.ndarray, features: MfccOptions,
                 train_report: dict | None = None) -> None:
        super().__init__(hmm.trans_model, hmm.am, hmm.ctx_dep, hmm.phones, features)
        if network.num_pdfs != hmm.num_pdfs or len(log_priors) != hmm.num_pdfs:
            raise ModelDirError(f"the network has {network.num_pdfs} outputs and {len(log_priors)} priors, "
                                f"the HMM {hmm.num_pdfs} pdfs")
        if network.input_dim != features.dim:
            raise ModelDirError(f"the network takes {network.input_dim}-dim features, its feature options give {features.dim}")
        self.network = network.eval()
        self.log_priors = np.asarray(log_priors, dtype=np.float64)
        self.train_report = train_report or {}

    @property
    def dim(self) -> int:
        return self.features.dim

    def pdf_log_likelihoods(self, feats: np.ndarray) -> np.ndarray:
        x = np.asarray(feats)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise AsrError(f"features of shape {x.shape}, the network takes (T, {self.dim})")
        return self.network.log_posteriors(x).astype(np.float64) - self.log_priors

    def files(self) -> dict[str, bytes]:
        buffer = io.BytesIO()
        torch.save({"options": asdict(self.network.options), "input_dim": self.network.input_dim,
                    "num_pdfs": self.network.num_pdfs, "state_dict": self.network.state_dict(),
                    "log_priors": self.log_priors, "features": self.features.to_dict()}, buffer)
        return {**super().files(), DNN_FILE: buffer.getvalue()}

    def config(self) -> dict:
        num_params = sum(p.numel() for p in self.network.parameters())
        return {"num_pdfs": self.num_pdfs, "dnn": {"options": asdict(self.network.options), "num_parameters": num_params,
                                                    **self.train_report}}

    @staticmethod
    def from_model_dir(hmm: GmmHmm, path: Path, config: dict) -> DnnHmm:
        """The DNN-HMM of a model dir whose ``gmm.json`` says kind ``dnn_hmm`` (``hmm`` read from its model.pkl)."""
        if not (path / DNN_FILE).is_file():
            raise ModelDirError(f"{path}: a DNN-HMM dir without {DNN_FILE}")
        blob = torch.load(path / DNN_FILE, map_location="cpu", weights_only=False)
        options = TdnnOptions(**{**blob["options"], "layers": tuple(tuple(x) for x in blob["options"]["layers"])})
        network = Tdnn(blob["input_dim"], blob["num_pdfs"], options)
        network.load_state_dict(blob["state_dict"])
        return DnnHmm(hmm, network, blob["log_priors"], MfccOptions.from_dict(blob["features"]), config.get("dnn"))


# ---------------------------------------------------------------------------------------------
# Training


def load_alignments(path: Path, gmm_sha256: str) -> dict[str, np.ndarray] | None:
    """Cached alignments (utterance id -> transition ids) if ``path`` was written for this GMM."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        if str(data["__gmm_sha256__"]) != gmm_sha256:
            return None
        return {k: data[k] for k in data.files if k != "__gmm_sha256__"}


def data_utterances(data_dir: Path, features: MfccOptions, speed: float = 1.0, progress: bool = True) -> list[Utterance]:
    """A data dir's utterances with ``features``; ``speed`` != 1 perturbs the audio's speed (as
    Kaldi's ``perturb_data_dir_speed.sh``; ids get lhotse's ``_sp<speed>`` suffix)."""
    if speed == 1.0:
        return utterances_from_data_dir(data_dir, features, progress)
    from asr.data.kaldi import datadir_to_cuts

    return gmm.utterances_from_cuts(datadir_to_cuts(data_dir).perturb_speed(speed), features, progress)


def cached_alignments(gmm_dir: GmmModelDir, lang_dir: Path, data_dir: Path, cache: Path, speed: float = 1.0
                      ) -> dict[str, np.ndarray]:
    """The HMM's (GMM-HMM or DNN-HMM) alignments of a data dir's utterances (those it can align;
    ``speed``: of the audio perturbed in speed), cached in ``cache`` under its model files' hashes."""
    sha = "+".join(gmm_dir.config["sha256"][name] for name in (gmm.MODEL_FILE, DNN_FILE) if name in gmm_dir.config["sha256"])
    found = load_alignments(cache, sha)
    if found is not None:
        logger.info("%s: %d cached alignments", cache, len(found))
        return found
    utts = data_utterances(data_dir, gmm_dir.model.features, speed)
    alis = align_utterances(gmm_dir, lang_dir, utts)
    failed = [u.id for u, a in zip(utts, alis) if a is None]
    if failed:
        logger.warning("%s: %d utterances could not be aligned, left out: %s", data_dir, len(failed), " ".join(failed[:10]))
    out = {u.id: np.asarray(a, dtype=np.int32) for u, a in zip(utts, alis) if a is not None}
    if not out:
        raise AsrError(f"{data_dir}: no utterance could be aligned with {gmm_dir.path}")
    with atomic_path(cache) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, __gmm_sha256__=np.array(sha), **out)
    return out


def frame_targets(hmm: GmmHmm, utterances: Sequence[Utterance], alignments: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(features, pdf id a frame) of each aligned utterance; a frame count that differs from the
    alignment's (features framed otherwise than the GMM's) raises ``AsrError``."""
    out = []
    for u in utterances:
        ali = alignments.get(u.id)
        if ali is None:
            continue
        if len(ali) != len(u.features):
            raise AsrError(f"{u.id}: {len(u.features)} feature frames, the alignment has {len(ali)}: the network's "
                           "features must be framed as the GMM's (same frame length, shift and snip_edges)")
        out.append((u.features, hmm.tid_pdf[ali]))
    return out


def _batches(examples: Sequence[tuple[np.ndarray, np.ndarray]], batch_frames: int, rng: np.random.Generator | None
             ) -> list[list[int]]:
    """Indices of examples in batches of about ``batch_frames`` frames, similar lengths together
    (less padding); shuffled when ``rng`` is given."""
    order = np.argsort([len(t) for _, t in examples], kind="stable")
    batches, current, frames = [], [], 0
    for i in order:
        if current and frames + len(examples[i][1]) > batch_frames:
            batches.append(current)
            current, frames = [], 0
        current.append(int(i))
        frames += len(examples[i][1])
    if current:
        batches.append(current)
    if rng is not None:
        rng.shuffle(batches)
    return batches


def _collate(network: Tdnn, examples: Sequence[tuple[np.ndarray, np.ndarray]], batch: Sequence[int]
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, T_max + 2 * context, F) padded features and (N, T_max) targets (-100 past each end)."""
    longest = max(len(examples[i][1]) for i in batch)
    feats = torch.zeros(len(batch), longest + 2 * network.context, network.input_dim)
    targets = torch.full((len(batch), longest), -100, dtype=torch.long)
    for row, i in enumerate(batch):
        x, y = examples[i]
        padded = network.pad(torch.from_numpy(x))
        feats[row, :len(padded)] = padded
        targets[row, :len(y)] = torch.from_numpy(y)
    return feats, targets


def evaluate(network: Tdnn, examples: Sequence[tuple[np.ndarray, np.ndarray]], batch_frames: int) -> tuple[float, float]:
    """Frame cross-entropy (nats) and accuracy of ``examples``."""
    network.eval()
    loss_sum, correct, frames = 0.0, 0, 0
    with torch.no_grad():
        for batch in _batches(examples, batch_frames, None):
            feats, targets = _collate(network, examples, batch)
            logits = network(feats)
            loss_sum += float(nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="sum"))
            mask = targets != -100
            correct += int((logits.argmax(-1) == targets)[mask].sum())
            frames += int(mask.sum())
    return loss_sum / max(frames, 1), correct / max(frames, 1)


def train_network(train: Sequence[tuple[np.ndarray, np.ndarray]], dev: Sequence[tuple[np.ndarray, np.ndarray]],
                  num_pdfs: int, options: DnnTrainOptions, tdnn_options: TdnnOptions, checkpoint: Path | None = None,
                  progress: bool = True) -> tuple[Tdnn, dict]:
    """A ``Tdnn`` trained with frame cross-entropy; returns it (the best dev epoch) and a report
    (per-epoch train/dev loss and accuracy). With ``checkpoint``, each epoch is saved there and a
    rerun continues after the last saved epoch."""
    if not train:
        raise AsrError("train_network: no training examples")
    torch.manual_seed(options.seed)
    input_dim = train[0][0].shape[1]
    network = Tdnn(input_dim, num_pdfs, tdnn_options)
    stacked = np.concatenate([x for x, _ in train])
    network.feature_mean.copy_(torch.from_numpy(stacked.mean(axis=0)))
    network.feature_inv_std.copy_(torch.from_numpy(1.0 / np.maximum(stacked.std(axis=0), 1e-3)))
    optimizer = torch.optim.AdamW(network.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay)
    steps_per_epoch = len(_batches(train, options.batch_frames, None))
    total_steps = steps_per_epoch * options.num_epochs

    def lr_factor(step: int) -> float:
        if step < options.warmup_steps:
            return (step + 1) / options.warmup_steps
        progress_ratio = min(1.0, (step - options.warmup_steps) / max(1, total_steps - options.warmup_steps))
        return options.final_lr_ratio + (1 - options.final_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress_ratio))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    report: dict = {"epochs": [], "best_epoch": None, "train_seconds": 0.0}
    best_state, best_loss, first_epoch = None, math.inf, 1
    # What a checkpoint must have been trained with to be continued (more epochs may be asked
    # for); through JSON, so tuples compare as the lists a saved checkpoint holds.
    settings = json.loads(json.dumps({"train": {k: v for k, v in asdict(options).items() if k != "num_epochs"},
                                      "tdnn": asdict(tdnn_options), "num_examples": len(train), "num_pdfs": num_pdfs}))
    if checkpoint is not None and checkpoint.is_file():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if saved.get("settings") != settings:
            raise AsrError(f"{checkpoint}: written by a training with other options or data ({saved.get('settings')}); "
                           "remove it (or the recipe's --force true) to train anew")
        network.load_state_dict(saved["network"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        report, best_state, best_loss = saved["report"], saved["best_state"], saved["best_loss"]
        first_epoch = saved["epoch"] + 1
        logger.info("%s: continuing after epoch %d", checkpoint, saved["epoch"])
    start = time.perf_counter() - report["train_seconds"]
    for epoch in range(first_epoch, options.num_epochs + 1):
        # Seeded per epoch (batch order, dropout), so a resumed run trains as an uninterrupted one.
        rng = np.random.default_rng(options.seed + epoch)
        torch.manual_seed(options.seed + epoch)
        network.train()
        loss_sum, frames = 0.0, 0
        bar = tqdm(_batches(train, options.batch_frames, rng), desc=f"dnn epoch {epoch}", disable=not progress, mininterval=2)
        for batch in bar:
            feats, targets = _collate(network, train, batch)
            loss = nn.functional.cross_entropy(network(feats).transpose(1, 2), targets)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(network.parameters(), 5.0)
            optimizer.step()
            scheduler.step()
            n = int((targets != -100).sum())
            loss_sum += loss.item() * n
            frames += n
            bar.set_postfix(loss=f"{loss_sum / frames:.3f}")
        entry = {"epoch": epoch, "train_loss": loss_sum / frames}
        if dev:
            entry["dev_loss"], entry["dev_accuracy"] = evaluate(network, dev, options.batch_frames)
        report["epochs"].append(entry)
        logger.info("epoch %d: %s", epoch, " ".join(f"{k} {v:.4f}" for k, v in entry.items() if k != "epoch"))
        score = entry.get("dev_loss", -epoch)
        if score < best_loss:
            best_loss, report["best_epoch"] = score, epoch
            best_state = {k: v.clone() for k, v in network.state_dict().items()}
        report["train_seconds"] = time.perf_counter() - start
        if checkpoint is not None:
            with atomic_path(checkpoint) as tmp:
                torch.save({"settings": settings, "epoch": epoch, "network": network.state_dict(),
                            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "report": report,
                            "best_state": best_state, "best_loss": best_loss}, tmp)
    network.load_state_dict(best_state)
    return network.eval(), report


def log_priors(hmm: GmmHmm, targets: Sequence[np.ndarray]) -> np.ndarray:
    """log p(pdf) of the training frames, each pdf counted once more (a pdf never seen is rare,
    not impossible)."""
    counts = np.bincount(np.concatenate(targets), minlength=hmm.num_pdfs).astype(np.float64) + 1.0
    return np.log(counts / counts.sum())


def train_dnn_hmm(gmm_dir: str | os.PathLike, lang_dir: str | os.PathLike, data_dir: str | os.PathLike,
                  out_dir: str | os.PathLike, dev_data_dir: str | os.PathLike | None = None,
                  features: MfccOptions | None = None, options: DnnTrainOptions | None = None,
                  tdnn_options: TdnnOptions | None = None, speed_factors: Sequence[float] = (),
                  progress: bool = True) -> Path:
    """Align ``data_dir`` (and ``dev_data_dir``) with the GMM-HMM of ``gmm_dir``, train a TDNN on
    the alignments and write the DNN-HMM model dir ``out_dir/model`` (the GMM's HCLG). Each of
    ``speed_factors`` adds a speed-perturbed copy of the training set, aligned on its own.
    ``features`` default to ``hires_features`` of the GMM's. Alignments and a per-epoch
    checkpoint are kept in ``out_dir``, so a rerun continues."""
    options, tdnn_options = options or DnnTrainOptions(), tdnn_options or TdnnOptions()
    out_dir, lang_dir = Path(out_dir), Path(lang_dir)
    loaded = load_model_dir(gmm_dir)
    # A DNN-HMM dir re-aligns with its network (Kaldi's second alignment pass), on its own features.
    features = features or (loaded.model.features if isinstance(loaded.model, DnnHmm) else hires_features(loaded.model.features))
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(f <= 0 for f in speed_factors):
        raise ValueError(f"speed factors {list(speed_factors)} must be positive")
    sets = [("train", Path(data_dir), 1.0), *((f"train_sp{f:g}", Path(data_dir), f) for f in speed_factors if f != 1.0),
            *([("dev", Path(dev_data_dir), 1.0)] if dev_data_dir is not None else [])]
    train, dev = [], []
    for name, path, speed in sets:
        alignments = cached_alignments(loaded, lang_dir, path, out_dir / f"ali_{name}.npz", speed)
        found = frame_targets(loaded.model, data_utterances(path, features, speed, progress), alignments)
        logger.info("%s: %d utterances, %.2f h", name, len(found), sum(len(t) for _, t in found) * features.frame_shift_seconds / 3600)
        (dev if name == "dev" else train).extend(found)
    network, report = train_network(train, dev, loaded.model.num_pdfs, options, tdnn_options, out_dir / "checkpoint.pt",
                                    progress)
    report["train_options"] = asdict(options)
    report["speed_factors"] = list(speed_factors)
    priors = log_priors(loaded.model, [t for _, t in train])
    model = DnnHmm(loaded.model, network, priors, features, report)
    return save_model_dir(out_dir / "model", model, lang_dir, loaded.hclg, loaded.decode_options())


# ---------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asr.hybrid.dnn_hmm", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="align with a GMM-HMM, train a TDNN on the alignments -> OUT_DIR/model")
    train.add_argument("--gmm-dir", type=Path, required=True,
                       help="the HMM that aligns: a GMM-HMM dir (python -m asr.hybrid.gmm train), or a DNN-HMM dir to re-align")
    train.add_argument("--lang-dir", type=Path, required=True, help="the phone lang dir the GMM-HMM was trained with")
    train.add_argument("--data-dir", type=Path, required=True, help="Kaldi data dir with text: the training set")
    train.add_argument("--dev-data-dir", type=Path, help="Kaldi data dir with text: picks the epoch kept")
    train.add_argument("--out-dir", type=Path, required=True)
    train.add_argument("--num-epochs", type=int, default=DnnTrainOptions.num_epochs)
    train.add_argument("--learning-rate", type=float, default=DnnTrainOptions.learning_rate)
    train.add_argument("--batch-frames", type=int, default=DnnTrainOptions.batch_frames)
    train.add_argument("--hidden-dim", type=int, default=TdnnOptions.hidden_dim)
    train.add_argument("--dropout", type=float, default=TdnnOptions.dropout)
    train.add_argument("--seed", type=int, default=DnnTrainOptions.seed)
    train.add_argument("--speed-perturb", type=float, nargs="*", default=[], metavar="FACTOR",
                       help="add speed-perturbed copies of the training set (e.g. 0.9 1.1), each aligned by the GMM")
    train.add_argument("--num-threads", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        torch.set_num_threads(args.num_threads)
        options = DnnTrainOptions(num_epochs=args.num_epochs, learning_rate=args.learning_rate,
                                  batch_frames=args.batch_frames, seed=args.seed)
        tdnn = TdnnOptions(hidden_dim=args.hidden_dim, dropout=args.dropout)
        out = train_dnn_hmm(args.gmm_dir, args.lang_dir, args.data_dir, args.out_dir, args.dev_data_dir,
                            options=options, tdnn_options=tdnn, speed_factors=args.speed_perturb)
        config = json.loads((out / gmm.GMM_CONFIG).read_text(encoding="utf-8"))
        dnn = config["dnn"]
        print(f"{out}: {dnn['num_parameters']} parameters, best epoch {dnn['best_epoch']}, "
              f"trained in {dnn['train_seconds']:.0f} s")
        return 0
    except (AsrError, ValueError) as e:
        print(f"python -m asr.hybrid.dnn_hmm {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
