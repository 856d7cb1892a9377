"""Training throughput on CPU: audio seconds trained per wall second, where a step's time goes,
and the cheap wins measured side by side against the unchanged training step in one run.

    python bench/train_throughput.py [--config egs/synth/conf/train.yaml] [--steps 4] [--repeat 3]
    python bench/train_throughput.py --cuts data/fbank/synth_cuts_train.jsonl.gz --lang-dir data/lang_char
    python bench/train_throughput.py --quick          # CI size: tiny corpus, 2 steps, no compile
    python bench/train_throughput.py --compile --set 'model.chunk_sizes=[16]' --set model.full_context_prob=0

What it prints:

1. **Matmul peak** of this machine, measured now with the thread counts the rows use: a square
   fp32 GEMM and a bf16 GEMM (the physical limit a training step could approach).
2. **Baseline**: the training step of ``asr.training.train`` (``compute_loss`` with the pruned
   loss fully warmed in, backward, gradient clipping, AdamW step) on the config as given, with
   its ``num_threads``. Audio seconds per wall second counts valid (unpadded) audio only.
   GFLOP/s counts what ``torch.utils.flop_counter.FlopCounterMode`` sees in one forward +
   backward: matmuls, convolutions and attention. The pruned RNN-T loss' lattice recursions,
   log-softmaxes and the optimizer are elementwise and are *not* counted, so the figure is a
   lower bound of the work done, and the right one to hold against a GEMM peak.
3. **Profile** of the baseline step: ms and % per part, from forward hooks on the model's
   modules and wrappers around the loss functions (bench-only instrumentation; nothing in
   ``asr/`` changes). Data loading is the real ``AsrDataset`` + lhotse sampler reading features
   from disk (lilcom) with SpecAugment, timed while the batches are read.
4. **Variants**, each a row with throughput (median over ``--repeat`` interleaved rounds, and the
   min..max spread: the machine is shared, so read ratios under ~1.1 as noise), the ratio to the
   baseline, achieved GFLOP/s against the peak, and the loss of its first step against the
   baseline's first step on the same batch and the same initial weights (rows that change the
   batches or the model cannot be compared and say so). A second throughput column divides by
   the process CPU time instead of wall time: for the one-thread rows it is what the step costs
   on a core of its own, which a loaded machine's wall clock hides.

Without ``--cuts`` the data are synthetic, shaped like the synth corpus (``egs/synth``):
utterance durations log-normal around 5 s, clipped to 2-15 s, 80-dim features, character
transcripts of ~14 characters per second from a 29-symbol alphabet (vocab 30 with the blank).
The features are random, so the loss value means nothing; the shapes, and hence the time, are
those of real training. They are written to a temporary lilcom archive so reading them costs
what reading real features costs.

The row "interop threads 1" runs in a child process, because torch fixes the inter-op pool
size at its first parallel op.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

# The training pieces this bench drives, in one place so they are easy to re-point when the
# training package is reorganised.
import asr.losses as loss_functions  # noqa: E402  (wrapped by the profiler below)
from asr.training.dataset import AsrDataset, make_dataloader, make_sampler  # noqa: E402
from asr.training.optim import make_optimizer  # noqa: E402
from asr.training.config import TrainConfig, autocast, load_train_config  # noqa: E402
from asr.training.dataset import batch_to_device  # noqa: E402
from asr.training.loop import build_model, draw_chunk_size  # noqa: E402


def compute_loss(model: torch.nn.Module, batch: dict[str, Any], config: TrainConfig, step: int, chunk_size: int,
                 device: torch.device) -> tuple[torch.Tensor, dict[str, float], float]:
    """The training loop's loss of one batch: the model's weighted objectives, as one scalar."""
    terms = model.objectives(batch_to_device(batch, device), config.loss, step, chunk_size)
    return terms.total(), terms.per_unit(), terms.normalizer

DEFAULT_CONFIG = REPO / "egs/synth/conf/train.yaml"
#: global step passed to ``compute_loss``: past any warm-up, so every step weighs the loss terms alike
WARM_STEP = 10**9
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ' "


@dataclass
class BenchOptions:
    config: str = str(DEFAULT_CONFIG)
    overrides: list[str] = field(default_factory=list)
    cuts: str = ""
    lang_dir: str = ""
    num_cuts: int = 300
    steps: int = 4
    warmup: int = 1
    repeat: int = 1
    quick: bool = False
    skip: list[str] = field(default_factory=list)
    frontend_threshold: float = 0.15
    interop_threads: int = 0
    seed: int = 0
    compile: bool = False
    gemm_size: int = 512
    child_variant: str = ""


@dataclass
class Variant:
    """One row: how the step differs from the baseline."""

    name: str
    threads: int
    num_buckets: int | None = None  # None: the config's
    bf16: bool = False
    compile_encoder: bool = False
    model_overrides: dict[str, Any] = field(default_factory=dict)
    interop_threads: int = 0  # > 0: run in a child process with this inter-op pool size
    note: str = ""

    @property
    def same_batches_and_model(self) -> bool:
        return self.num_buckets is None and not self.model_overrides


@dataclass
class Batches:
    """Batches read once and reused by every variant that keeps the baseline's batching."""

    items: list[dict[str, Any]]
    load_seconds: list[tuple[float, float]]  # (wall, CPU) per batch
    padding_fraction: float  # over a whole epoch of the sampler
    audio_seconds: list[float]  # valid audio per batch
    padded_frames: list[int]


@dataclass
class VariantResult:
    name: str
    throughputs: list[float] = field(default_factory=list)  # audio s per wall s, one per round
    cpu_throughputs: list[float] = field(default_factory=list)  # audio s per process CPU s, one per round
    first_loss: float = math.nan
    all_finite: bool = True
    gflop_per_audio_second: float = math.nan
    padding_fraction: float = math.nan
    setup_seconds: float = 0.0  # compile time for the compile row
    error: str = ""
    note: str = ""


# ---------------------------------------------------------------------------- data


class CharTokenizer:
    """Characters of ``ALPHABET`` -> ids 1..28 (0 is the blank); what ``AsrDataset`` needs."""

    vocab_size = len(ALPHABET) + 1

    def encode(self, text: str) -> list[int]:
        return [ALPHABET.index(c) + 1 for c in text]


def synthetic_cuts(num_cuts: int, seed: int, storage_dir: Path) -> Any:
    """A CutSet shaped like the synth corpus, features stored with lilcom (see module docstring)."""
    from lhotse import CutSet, LilcomChunkyWriter, MonoCut, SupervisionSegment
    from lhotse.features import Features
    from lhotse.utils import compute_num_frames

    rng = np.random.default_rng(seed)
    cuts = []
    with LilcomChunkyWriter(storage_dir / "feats") as writer:
        for i in range(num_cuts):
            duration = float(np.clip(np.round(rng.lognormal(math.log(5.0), 0.5), 2), 2.0, 15.0))
            frames = compute_num_frames(duration, 0.01, 16000)
            feats = (rng.standard_normal((frames, 80)) * 2.0 - 8.0).astype(np.float32)  # log-mel-like scale
            cut_id = f"synth-{i:05d}"
            key = writer.write(cut_id, feats)
            num_chars = max(1, int(round(duration * 14 * rng.uniform(0.8, 1.2))))
            text = "".join(rng.choice(list(ALPHABET[:-2]), size=num_chars))
            features = Features(type="fbank", num_frames=frames, num_features=80, frame_shift=0.01,
                                sampling_rate=16000, start=0.0, duration=duration, storage_type=writer.name,
                                storage_path=str(writer.storage_path), storage_key=key, recording_id=cut_id)
            sup = SupervisionSegment(id=cut_id, recording_id=cut_id, start=0.0, duration=duration, text=text)
            cuts.append(MonoCut(id=cut_id, start=0.0, duration=duration, channel=0, features=features,
                                supervisions=[sup]))
    return CutSet.from_cuts(cuts)


def padding_fraction(sampler: Any) -> float:
    """Share of padded feature frames over one epoch of batches (no features are read)."""
    valid = padded = 0
    for cuts in sampler:
        lens = [c.num_frames for c in cuts]
        valid += sum(lens)
        padded += len(lens) * max(lens)
    return 1.0 - valid / max(padded, 1)


def sampler_for(cuts: Any, config: TrainConfig, num_buckets: int, seed: int) -> Any:
    """The training sampler with ``num_buckets``; 1 means no bucketing, which lhotse's bucketing
    sampler refuses, so that row uses its plain sampler with the same duration budget."""
    if num_buckets > 1:
        return make_sampler(cuts, dataclasses.replace(config.data, num_buckets=num_buckets), seed=seed)
    from lhotse.dataset import SimpleCutSampler

    return SimpleCutSampler(cuts, max_duration=config.data.max_duration, shuffle=config.data.shuffle,
                            drop_last=config.data.drop_last, seed=seed)


def read_batches(cuts: Any, tokenizer: Any, config: TrainConfig, num_buckets: int, count: int, seed: int) -> Batches:
    """The first ``count`` batches of the training dataloader, timing each read. SpecAugment draws
    from the global RNGs, so they are seeded: every process reads the same batches."""
    random.seed(seed)
    torch.manual_seed(seed)
    fraction = padding_fraction(sampler_for(cuts, config, num_buckets, seed))
    dataset = AsrDataset(tokenizer, spec_augment=config.data.spec_augment.build())
    loader = iter(make_dataloader(dataset, sampler_for(cuts, config, num_buckets, seed)))
    items, seconds = [], []
    for _ in range(count):
        start = stamp()
        try:
            batch = next(loader)
        except StopIteration:
            break
        seconds.append(since(start))
        items.append(batch)
    if len(items) < count:
        raise SystemExit(f"the cuts give only {len(items)} batches at max_duration={data.max_duration}; "
                         f"need {count} (lower --steps or give more cuts)")
    return Batches(items=items, load_seconds=seconds, padding_fraction=fraction,
                   audio_seconds=[float(b["feature_lens"].sum()) / 100.0 for b in items],
                   padded_frames=[int(b["features"].shape[0] * b["features"].shape[1]) for b in items])


# ---------------------------------------------------------------------------- the step


def fresh_model(config: TrainConfig, vocab_size: int, seed: int, overrides: dict[str, Any]) -> tuple[Any, Any]:
    torch.manual_seed(seed)
    cfg = dataclasses.replace(config, model={**config.model, **overrides})
    model, model_config = build_model(cfg, vocab_size)
    model.train()
    return model, model_config


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: dict[str, Any], config: TrainConfig,
               chunk_size: int, bf16: bool, marks: Callable[[str], None] | None = None) -> float:
    """One step as ``asr.training.train`` takes it. ``marks(part)`` is called after each phase."""
    with autocast("bf16" if bf16 else "fp32", torch.device("cpu")):
        loss, _, _ = compute_loss(model, batch, config, WARM_STEP, chunk_size, torch.device("cpu"))
    if marks:
        marks("forward")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if marks:
        marks("backward")
    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip if config.grad_clip > 0 else math.inf)
    optimizer.step()
    if marks:
        marks("optimizer")
    return float(loss.detach())


def count_flops(model: torch.nn.Module, batch: dict[str, Any], config: TrainConfig, chunk_size: int) -> tuple[float, dict[str, float]]:
    """FLOPs of one forward + backward (matmul/conv/attention only), total and per top module.

    Runs on a copy: the first training forward sets the model's feature statistics, and the
    copy keeps that from happening on a batch the real first step does not see."""
    model = copy.deepcopy(model)
    counter = FlopCounterMode(display=False, depth=3)
    with counter:
        loss, _, _ = compute_loss(model, batch, config, WARM_STEP, chunk_size, torch.device("cpu"))
        loss.backward()
    model.zero_grad(set_to_none=True)
    per_module = {name: float(sum(ops.values())) for name, ops in counter.get_flop_counts().items()}
    return float(counter.get_total_flops()), per_module


def matmul_peak(threads: int, dtype: torch.dtype, size: int, seconds: float = 0.6) -> float:
    """GFLOP/s of a (size x size) @ (size x size) matmul, best of repeated runs for ``seconds``."""
    torch.set_num_threads(threads)
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    a @ b  # first call loads kernels and spins up the thread pool
    best, end = math.inf, time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


# ---------------------------------------------------------------------------- profile


def stamp() -> tuple[float, float]:
    """(wall, this thread's CPU) seconds. With one torch thread all compute runs on this thread, so
    its CPU time is what a part costs on a core of its own, however loaded the machine is."""
    return time.perf_counter(), time.thread_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = stamp()
    return wall - start[0], cpu - start[1]


class StepProfiler:
    """Wall time per part of a step from module hooks and loss-function wrappers (see docstring)."""

    LOSS_PARTS = {"rnnt_loss_smoothed": "loss: simple", "get_rnnt_prune_ranges": "loss: pruning",
                  "do_rnnt_pruning": "loss: pruning", "rnnt_loss_pruned": "loss: pruned"}

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.totals: dict[str, tuple[float, float]] = {}
        self._handles: list[Any] = []
        self._patched: dict[str, Callable[..., Any]] = {}
        self._starts: dict[int, tuple[float, float]] = {}

    def add(self, part: str, seconds: tuple[float, float]) -> None:
        wall, cpu = self.totals.get(part, (0.0, 0.0))
        self.totals[part] = (wall + seconds[0], cpu + seconds[1])

    def _hook(self, module: torch.nn.Module, part: str) -> None:
        def pre(*_: Any) -> None:
            self._starts[id(module)] = stamp()

        def post(*_: Any) -> None:
            self.add(part, since(self._starts.pop(id(module))))

        self._handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]

    def _wrap(self, name: str, part: str) -> None:
        original = getattr(loss_functions, name)
        self._patched[name] = original

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = stamp()
            try:
                return original(*args, **kwargs)
            finally:
                self.add(part, since(start))

        setattr(loss_functions, name, timed)

    def __enter__(self) -> "StepProfiler":
        m = self.model
        self._hook(m.encoder, "encoder (all)")
        self._hook(m.encoder.feature_norm, "encoder: feature norm")
        self._hook(m.encoder.embed, "encoder: subsampling front end (100 frames/s in)")
        self._hook(m.predictor, "predictor + joiner")
        for name in ("joiner", "simple_am_proj", "simple_lm_proj"):
            self._hook(getattr(m, name), "predictor + joiner")
        for name in ("encoder_proj", "decoder_proj"):
            self._hook(getattr(m.joiner, name), "predictor + joiner")
        for name, part in self.LOSS_PARTS.items():
            self._wrap(name, part)
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        for name, original in self._patched.items():
            setattr(loss_functions, name, original)


def profile_baseline(config: TrainConfig, vocab: int, batches: Batches, seed: int, threads: int,
                     warmup: int) -> tuple[dict[str, float], dict[str, float]]:
    """ms per step of each part, averaged over the timed batches (the first ``warmup`` are not
    timed): wall time, and this thread's CPU time (see ``stamp``)."""
    torch.set_num_threads(threads)
    model, model_config = fresh_model(config, vocab, seed, {})
    optimizer = make_optimizer(model, config.optim)
    for i in range(warmup):
        train_step(model, optimizer, batches.items[i], config, draw_chunk_size(model_config, i, seed), False)
    profiler = StepProfiler(model)
    timed = range(warmup, len(batches.items))
    with profiler:
        for i in timed:
            last = stamp()

            def marks(phase: str) -> None:
                nonlocal last
                profiler.add(f"step: {phase}", since(last))
                last = stamp()

            train_step(model, optimizer, batches.items[i], config, draw_chunk_size(model_config, i, seed), False, marks)
    n = len(timed)
    per_clock = []
    for clock in (0, 1):  # wall, CPU
        t = {k: v[clock] / n * 1e3 for k, v in profiler.totals.items()}
        enc = t.get("encoder (all)", 0.0)
        front = t.get("encoder: subsampling front end (100 frames/s in)", 0.0)
        norm = t.get("encoder: feature norm", 0.0)
        heads = t.get("predictor + joiner", 0.0)
        losses = sum(t.get(p, 0.0) for p in set(StepProfiler.LOSS_PARTS.values()))
        per_clock.append({
            "data loading + feature reading": statistics.mean(s[clock] for s in batches.load_seconds[warmup:]) * 1e3,
            "encoder: feature norm": norm,
            "encoder: subsampling front end (100 frames/s in)": front,
            "encoder: conformer layers": enc - front - norm,
            "predictor + joiner (+ simple-loss projections)": heads,
            "loss: simple": t.get("loss: simple", 0.0),
            "loss: pruning": t.get("loss: pruning", 0.0),
            "loss: pruned": t.get("loss: pruned", 0.0),
            "forward: rest (targets, masks, glue)": t.get("step: forward", 0.0) - enc - heads - losses,
            "backward (all parts)": t.get("step: backward", 0.0),
            "grad clip + optimizer step": t.get("step: optimizer", 0.0),
        })
    return per_clock[0], per_clock[1]


# ---------------------------------------------------------------------------- variants


def run_variants(variants: Sequence[Variant], config: TrainConfig, vocab: int, cuts: Any, tokenizer: Any,
                 base: Batches, opts: BenchOptions) -> dict[str, VariantResult]:
    """Each variant's state (model, optimizer, batches) is set up once, then the timed steps run
    in ``opts.repeat`` rounds, every round visiting every variant, so slow spells of a shared
    machine spread over all rows rather than hitting one."""
    count = opts.warmup + opts.steps
    states: dict[str, dict[str, Any]] = {}
    results = {v.name: VariantResult(name=v.name, note=v.note) for v in variants}
    flop_cache: dict[tuple[Any, ...], float] = {}
    for v in variants:
        res = results[v.name]
        try:
            torch.set_num_threads(v.threads)
            batches = base if v.num_buckets is None else read_batches(cuts, tokenizer, config, v.num_buckets, count, opts.seed)
            res.padding_fraction = batches.padding_fraction
            model, model_config = fresh_model(config, vocab, opts.seed, v.model_overrides)
            key = (v.num_buckets, repr(sorted(v.model_overrides.items())))
            if key not in flop_cache:
                i = opts.warmup
                flops, _ = count_flops(model, batches.items[i], config, draw_chunk_size(model_config, i, opts.seed))
                flop_cache[key] = flops / batches.audio_seconds[i] / 1e9
            res.gflop_per_audio_second = flop_cache[key]
            optimizer = make_optimizer(model, config.optim)
            if v.compile_encoder:
                model.encoder = torch.compile(model.encoder, dynamic=True)
            start = time.perf_counter()
            # A compiled encoder recompiles for each new chunk size (a Python int it branches on),
            # so its warm-up visits every timed batch once: the timed rounds then measure the
            # compiled code, and the compile time shows in its own column.
            for i in range(count if v.compile_encoder else opts.warmup):
                torch.manual_seed(opts.seed + 1)
                loss = train_step(model, optimizer, batches.items[i], config,
                                  draw_chunk_size(model_config, i, opts.seed), v.bf16)
                if i == 0:
                    res.first_loss = loss
                res.all_finite &= math.isfinite(loss)
            res.setup_seconds = time.perf_counter() - start
            states[v.name] = {"model": model, "optimizer": optimizer, "batches": batches, "model_config": model_config}
        except Exception as e:  # a variant that fails on this machine is a result, not a crash
            res.error = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:300]
            traceback.print_exc(file=sys.stderr)
    for _ in range(opts.repeat):
        for v in variants:
            state = states.get(v.name)
            if state is None:
                continue
            res = results[v.name]
            torch.set_num_threads(v.threads)
            batches = state["batches"]
            start, cpu_start = time.perf_counter(), time.process_time()
            try:
                for i in range(opts.warmup, count):
                    loss = train_step(state["model"], state["optimizer"], batches.items[i], config,
                                      draw_chunk_size(state["model_config"], i, opts.seed), v.bf16)
                    res.all_finite &= math.isfinite(loss)
            except Exception as e:  # e.g. a recompile failing on a new shape: report, keep the other rows
                res.error = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:300]
                traceback.print_exc(file=sys.stderr)
                del states[v.name]
                continue
            seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
            audio = sum(batches.audio_seconds[opts.warmup:])
            res.throughputs.append(audio / seconds)
            res.cpu_throughputs.append(audio / cpu_seconds)
    return results


def run_in_child(v: Variant, opts: BenchOptions) -> VariantResult:
    """Run one variant in a fresh process with ``v.interop_threads`` inter-op threads."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--child-variant", v.name,
            "--interop-threads", str(v.interop_threads), "--config", opts.config, "--num-cuts", str(opts.num_cuts),
            "--steps", str(opts.steps), "--warmup", str(opts.warmup), "--repeat", str(opts.repeat),
            "--seed", str(opts.seed)]
    for o in opts.overrides:
        argv += ["--set", o]
    if opts.cuts:
        argv += ["--cuts", opts.cuts, "--lang-dir", opts.lang_dir]
    proc = subprocess.run(argv, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return VariantResult(name=v.name, error=f"child process failed ({proc.returncode}): {tail}"[:300], note=v.note)
    return VariantResult(**json.loads(lines[-1]))


def make_variants(config: TrainConfig, opts: BenchOptions, front_end_share: float) -> list[Variant]:
    t = config.num_threads
    other = 2 if t == 1 else 1
    buckets = config.data.num_buckets
    channels = list(config.model.get("subsampling_channels", [8, 32]))
    cheaper = [max(1, channels[0] // 2), max(1, channels[1] // 2)]
    variants = [
        Variant("baseline", t, note=f"config as given: {t} thread(s), {buckets} buckets, fp32, eager"),
        Variant(f"threads {other}", other),
        Variant(f"threads {max(t, other)}, interop threads 1", max(t, other), interop_threads=1,
                note="child process; default interop pool = cores"),
        Variant("buckets 1 (no bucketing)", t, num_buckets=1),
        Variant(f"buckets {buckets * 3}", t, num_buckets=buckets * 3),
        Variant("bf16 autocast", t, bf16=True),
        Variant("bf16 autocast, 2 threads", 2, bf16=True),
        Variant("torch.compile(encoder)", t, compile_encoder=True, note="dynamic=True; its warm-up column = compiling + one pass over all batches"),
    ]
    if not opts.compile or opts.quick:
        # inductor compiled for 7 minutes per chunk size on the loaded 2-core machine (once per
        # chunk size: the encoder branches on it), far beyond the default run's budget
        variants[-1].note = "skipped (opt in with --compile; minutes per chunk size)"
    if front_end_share >= opts.frontend_threshold:
        variants.append(Variant(f"front end channels {cheaper}", t, model_overrides={"subsampling_channels": cheaper},
                                note=f"another model (was {channels}): accuracy unmeasured"))
    return [v for v in variants if not any(s in v.name for s in opts.skip)]


# ---------------------------------------------------------------------------- report


def fmt(x: float, spec: str = ".1f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    print()


def parse_args(argv: Sequence[str] | None) -> BenchOptions:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="training YAML (default: %(default)s)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key as asr.training.train does, e.g. --set data.max_duration=50")
    p.add_argument("--cuts", default="", help="real training cuts with features (default: synthetic)")
    p.add_argument("--lang-dir", default="", help="lang dir of --cuts (its tokenizer)")
    p.add_argument("--num-cuts", type=int, default=300, help="synthetic cuts (default: %(default)s)")
    p.add_argument("--steps", type=int, default=4, help="timed steps per variant and round (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps per variant first (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=1, help="interleaved rounds; rows show median and min..max")
    p.add_argument("--quick", action="store_true", help="CI size: 40 cuts, 2 timed steps, 20 s batches, small GEMM peak, no compile")
    p.add_argument("--compile", action="store_true",
                   help="add the torch.compile(encoder) row (compiles once per chunk size: minutes each)")
    p.add_argument("--skip", nargs="*", default=[], help="skip variants whose name contains any of these words")
    p.add_argument("--frontend-threshold", type=float, default=0.15,
                   help="add the cheaper front-end row when the front end takes at least this share of a step")
    p.add_argument("--interop-threads", type=int, default=0, help="inter-op pool size (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gemm-size", type=int, default=512, help="square GEMM of the peak measurement (default: %(default)s)")
    p.add_argument("--child-variant", default="", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.cuts and not a.lang_dir:
        p.error("--cuts needs --lang-dir")
    opts = BenchOptions(**{f.name: getattr(a, f.name) for f in dataclasses.fields(BenchOptions)})
    if opts.quick:
        opts.num_cuts, opts.steps, opts.warmup = min(opts.num_cuts, 40), min(opts.steps, 2), 1
        opts.overrides = ["data.max_duration=20", *opts.overrides]
    return opts


def load_data(config: TrainConfig, opts: BenchOptions, tmp: Path) -> tuple[Any, Any, int]:
    if opts.cuts:
        from lhotse import CutSet

        from asr.text import Tokenizer

        tokenizer = Tokenizer.load(opts.lang_dir)
        cuts = CutSet.from_file(opts.cuts)  # eager: the padding pass and the batches read it twice
        cuts = CutSet.from_cuts(c for c in cuts if c.duration <= config.data.max_cut_duration).to_eager()
        return cuts, tokenizer, tokenizer.vocab_size
    return synthetic_cuts(opts.num_cuts, opts.seed, tmp), CharTokenizer(), CharTokenizer.vocab_size


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    opts = parse_args(argv)
    if opts.interop_threads > 0:
        torch.set_num_interop_threads(opts.interop_threads)
    config = load_train_config(opts.config, opts.overrides)
    with tempfile.TemporaryDirectory(prefix="train_throughput_") as tmp_name:
        cuts, tokenizer, vocab = load_data(config, opts, Path(tmp_name))
        count = opts.warmup + opts.steps
        torch.set_num_threads(config.num_threads)
        base = read_batches(cuts, tokenizer, config, config.data.num_buckets, count, opts.seed)
        if opts.child_variant:
            v = next(v for v in make_variants(config, opts, 1.0) if v.name == opts.child_variant)
            v = dataclasses.replace(v, interop_threads=0)
            result = run_variants([v], config, vocab, cuts, tokenizer, base, opts)[v.name]
            print(json.dumps(dataclasses.asdict(result)))
            return {}
        return report(config, opts, cuts, tokenizer, vocab, base)


def report(config: TrainConfig, opts: BenchOptions, cuts: Any, tokenizer: Any, vocab: int, base: Batches) -> dict[str, Any]:
    count = opts.warmup + opts.steps
    print(f"torch {torch.__version__}, {torch.get_num_interop_threads()} interop threads; config {opts.config} "
          f"{' '.join(opts.overrides)}; data: {'--cuts ' + opts.cuts if opts.cuts else 'synthetic (synth corpus shape)'}")
    print(f"batches: {opts.warmup} warm-up + {opts.steps} timed steps per variant, {opts.repeat} round(s); "
          f"{statistics.mean(base.audio_seconds):.1f} s of audio per batch, "
          f"{base.padding_fraction:.1%} padding over an epoch\n")

    # 1. peak
    # 512 reaches the peak on this CPU (AVX-512 / AMX) in ~1 ms a product, short enough for the
    # best of many runs to fall between other jobs' time slices; 2048 read 22 instead of 190
    # GFLOP/s under load.
    size = opts.gemm_size
    peaks = {}
    for threads in sorted({config.num_threads, 1, 2}):
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            peaks[(name, threads)] = matmul_peak(threads, dtype, size, 0.2 if opts.quick else 0.6)
    print(f"Matmul peak ({size}x{size} GEMM, best of repeated runs)")
    print_table(["threads", "fp32 GFLOP/s", "bf16 GFLOP/s", "bf16 / fp32"],
                [[str(t), fmt(peaks[("fp32", t)]), fmt(peaks[("bf16", t)]), fmt(peaks[("bf16", t)] / peaks[("fp32", t)], ".2f")]
                 for t in sorted({config.num_threads, 1, 2})])

    # 2. profile
    prof, prof_cpu = profile_baseline(config, vocab, base, opts.seed, config.num_threads, opts.warmup)
    total, total_cpu = sum(prof.values()), sum(prof_cpu.values())
    model, model_config = fresh_model(config, vocab, opts.seed, {})
    _, per_module = count_flops(model, base.items[opts.warmup], config, draw_chunk_size(model_config, opts.warmup, opts.seed))
    print(f"Where a baseline step's time goes ({config.num_threads} thread(s), mean of {opts.steps} steps; "
          f"module FLOPs forward + backward of one batch)")
    module_flops = {
        "encoder: subsampling front end (100 frames/s in)": per_module.get("Transducer.encoder.embed", 0.0),
        "encoder: conformer layers": per_module.get("Transducer.encoder", 0.0) - per_module.get("Transducer.encoder.embed", 0.0),
    }
    all_flops = per_module.get("Global", 0.0)
    module_flops["predictor + joiner (+ simple-loss projections)"] = all_flops - per_module.get("Transducer.encoder", 0.0)
    print_table(["part", "wall ms/step", "%", "CPU ms/step", "%", "GFLOP"],
                [[k, fmt(v), fmt(100 * v / total), fmt(prof_cpu[k]), fmt(100 * prof_cpu[k] / total_cpu),
                  fmt(module_flops[k] / 1e9, ".2f") if k in module_flops else ""] for k, v in prof.items()]
                + [["total", fmt(total), "100.0", fmt(total_cpu), "100.0", fmt(all_flops / 1e9, ".2f")]])
    print("Backward time is not split by part; the GFLOP column counts each part's forward and backward\n"
          "matmuls/convs/attention; the loss recursions and optimizer are elementwise and not counted.\n"
          "CPU ms: the main thread's CPU time, the cost on a quiet core when the config runs 1 thread\n"
          "(with more threads it misses the workers'); wall ms grows with the machine's other load.\n")
    front_share = prof_cpu["encoder: subsampling front end (100 frames/s in)"] / total_cpu

    # 3. variants
    variants = make_variants(config, opts, front_share)
    in_process = [v for v in variants if v.interop_threads == 0 and not v.note.startswith("skipped")]
    results = run_variants(in_process, config, vocab, cuts, tokenizer, base, opts)
    for v in variants:
        if v.interop_threads > 0:
            results[v.name] = run_in_child(v, opts)
        elif v.note.startswith("skipped"):
            results[v.name] = VariantResult(name=v.name, note=v.note)
    baseline = results["baseline"]
    base_tp = statistics.median(baseline.throughputs) if baseline.throughputs else math.nan
    base_cpu_tp = statistics.median(baseline.cpu_throughputs) if baseline.cpu_throughputs else math.nan
    rows = []
    for v in variants:
        r = results[v.name]
        tp = statistics.median(r.throughputs) if r.throughputs else math.nan
        spread = f"{min(r.throughputs):.1f}..{max(r.throughputs):.1f}" if r.throughputs else "-"
        cpu_tp = statistics.median(r.cpu_throughputs) if r.cpu_throughputs else math.nan
        gflops = tp * r.gflop_per_audio_second
        # per CPU second against one core's peak: a 2-thread row is judged per core too, and
        # neither figure grows or shrinks with the other jobs on the machine
        cpu_gflops = cpu_tp * r.gflop_per_audio_second
        peak = peaks[("bf16" if v.bf16 else "fp32", 1)]
        if not v.same_batches_and_model:
            loss_cmp = "other batches" if v.num_buckets is not None else "other model"
        elif math.isnan(r.first_loss) or math.isnan(baseline.first_loss):
            loss_cmp = "-"
        else:
            loss_cmp = f"{r.first_loss:.4f} ({(r.first_loss - baseline.first_loss) / abs(baseline.first_loss):+.2%})"
        rows.append([v.name, fmt(tp, ".2f"), spread, fmt(tp / base_tp, ".2f"), fmt(cpu_tp, ".2f"),
                     fmt(cpu_tp / base_cpu_tp, ".2f"), fmt(gflops), fmt(cpu_gflops), fmt(100 * cpu_gflops / peak),
                     fmt(100 * r.padding_fraction), loss_cmp, "yes" if r.all_finite else "NO",
                     fmt(r.setup_seconds, ".1f") if v.compile_encoder else "", r.error or r.note or v.note])
    print(f"Variants: audio s per wall s (median, min..max over {opts.repeat} round(s) of {opts.steps} steps), "
          "ratio to baseline;\naudio s per process CPU s and its ratio (what a 1-thread row costs on a quiet core; a 2-thread row's\n"
          "threads count twice, so read its wall figure); achieved GFLOP/s (wall), GFLOP per CPU s, and that as % of one\n"
          "core's matmul peak of the same dtype")
    print_table(["variant", "audio s/s", "min..max", "ratio", "per CPU s", "ratio", "GFLOP/s", "GFLOP/CPU s", "% core peak", "pad %",
                 "first loss (vs baseline)", "finite", "warm-up/compile s", "note"], rows)
    print(f"Baseline first loss {baseline.first_loss:.4f} per frame. Every row starts from the same weights; rows on the\n"
          "same batches must match it up to rounding (bf16: to its precision).")
    return {"peaks": {f"{k[0]}@{k[1]}": v for k, v in peaks.items()}, "profile_ms": prof, "profile_cpu_ms": prof_cpu,
            "variants": {k: dataclasses.asdict(v) for k, v in results.items()}}


if __name__ == "__main__":
    main()
