"""RNN-T loss benchmark: pruned (simple + pruned) against the full loss, forward + backward.

Shape (defaults, issue 3): batch N=8, T=400 encoder frames, U=80 symbols, vocabulary V=500,
joiner dimension J=512, s_range=5. Every method starts from the same leaf tensors that need
gradients, so the joiner's cost is inside each figure:

  full           logits = W tanh(enc[:, :, None] + dec[:, None]) on all (N, T, U+1) pairs (the
                 icefall joiner on projected encoder/predictor outputs), then ``rnnt_loss``.
  pruned         ``rnnt_loss_smoothed`` (icefall's lm/am scales 0.25/0.0, return_grad) on am/lm of
                 dimension V, ``get_rnnt_prune_ranges``, ``do_rnnt_pruning``, the same joiner on
                 (N, T, s_range) pairs only, ``rnnt_loss_pruned``; loss = 0.5 simple + pruned.
  torchaudio     ``torchaudio.functional.rnnt_loss`` on the full logits (only when it imports).
  k2-full/pruned k2's functions on the same inputs (only when k2 imports).

Time: median wall time of ``--runs`` forward + backward passes after one warm-up pass, with
``torch.set_num_threads(--threads)``. The default is one thread: on a 2-core machine shared with
other jobs, a second intra-op thread mostly waits at OpenMP barriers for a busy core (the small
shape ran 8x slower with 2 threads than with 1 under load), which measures the load, not the loss.
Peak memory: each method runs in its own fresh Python process. It first runs one pass at a tiny
shape (so loading kernel code and initializing thread pools is not counted), creates the
inputs, and records its current RSS; the first forward + backward follows, and the peak is
``ru_maxrss`` (the kernel's high-water mark of the process) minus that RSS: the extra resident
memory the method needed at its peak. If the method never raised the high-water mark above what
the process had already reached, the figure is an upper bound and is marked with "<=".
Two columns: "peak" with glibc's default malloc, as a user sees it, where freed blocks under
32 MB may stay in the heap (fragmentation counts); and "live peak" from a second process run with
``MALLOC_MMAP_THRESHOLD_=65536``, so every tensor buffer is its own mapping and returns to the
system when freed: RSS then follows the live tensors. Times come from the default-malloc process.

    nice -n 5 python bench/rnnt_loss.py [--runs 3] [--threads 1] [--methods full pruned]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

METHODS = ("full", "pruned", "torchaudio", "k2-full", "k2-pruned")


@dataclass
class Shape:
    batch: int = 8
    frames: int = 400
    symbols: int = 80
    vocab: int = 500
    joiner_dim: int = 512
    s_range: int = 5


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _make_step(method: str, shape: Shape) -> Callable[[], None]:
    """Build inputs for one method and return a closure running forward + backward once."""
    import torch

    N, T, U, V, J = shape.batch, shape.frames, shape.symbols, shape.vocab, shape.joiner_dim
    g = torch.Generator().manual_seed(0)
    enc = (torch.randn(N, T, J, generator=g) * 0.5).requires_grad_()  # projected encoder output
    dec = (torch.randn(N, U + 1, J, generator=g) * 0.5).requires_grad_()  # projected predictor output
    weight = (torch.randn(V, J, generator=g) / J**0.5).requires_grad_()  # joiner output layer
    bias = torch.zeros(V).requires_grad_()
    am = torch.randn(N, T, V, generator=g).requires_grad_()  # simple_am_proj(encoder_out)
    lm = torch.randn(N, U + 1, V, generator=g).requires_grad_()  # simple_lm_proj(decoder_out)
    symbols = torch.randint(1, V, (N, U), generator=g)
    # Variable lengths as in a real batch: the longest utterance fills the padding.
    frame_lens = torch.linspace(T * 0.7, T, N).long()
    symbol_lens = torch.linspace(U * 0.7, U, N).long()
    boundary = torch.zeros(N, 4, dtype=torch.int64)
    boundary[:, 2] = symbol_lens
    boundary[:, 3] = frame_lens

    def joiner(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(torch.tanh(a + b), weight, bias)

    if method in ("full", "torchaudio", "k2-full"):

        def step() -> None:
            logits = joiner(enc[:, :, None], dec[:, None])  # (N, T, U+1, V)
            if method == "full":
                from asr.losses import rnnt_loss

                loss = rnnt_loss(logits, symbols, boundary, termination_symbol=0, reduction="sum")
            elif method == "torchaudio":
                import torchaudio

                loss = torchaudio.functional.rnnt_loss(
                    logits, symbols.int(), frame_lens.int(), symbol_lens.int(), blank=0, reduction="sum"
                )
            else:
                import k2

                loss = k2.rnnt_loss(logits, symbols, termination_symbol=0, boundary=boundary, reduction="sum")
            loss.backward()

        return step

    if method == "pruned":
        from asr.losses import do_rnnt_pruning, get_rnnt_prune_ranges, rnnt_loss_pruned, rnnt_loss_smoothed

        def step() -> None:
            simple, (px_grad, py_grad) = rnnt_loss_smoothed(
                lm, am, symbols, 0, lm_only_scale=0.25, am_only_scale=0.0, boundary=boundary,
                reduction="sum", return_grad=True,
            )
            ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, shape.s_range)
            am_pruned, lm_pruned = do_rnnt_pruning(enc, dec, ranges)
            pruned = rnnt_loss_pruned(joiner(am_pruned, lm_pruned), symbols, ranges, 0, boundary, reduction="sum")
            (0.5 * simple + pruned).backward()

        return step

    if method == "k2-pruned":
        import k2

        def step() -> None:
            simple, (px_grad, py_grad) = k2.rnnt_loss_smoothed(
                lm=lm, am=am, symbols=symbols, termination_symbol=0, lm_only_scale=0.25, am_only_scale=0.0,
                boundary=boundary, reduction="sum", return_grad=True,
            )
            ranges = k2.get_rnnt_prune_ranges(px_grad=px_grad, py_grad=py_grad, boundary=boundary, s_range=shape.s_range)
            am_pruned, lm_pruned = k2.do_rnnt_pruning(am=enc, lm=dec, ranges=ranges)
            pruned = k2.rnnt_loss_pruned(
                logits=joiner(am_pruned, lm_pruned), symbols=symbols, ranges=ranges, termination_symbol=0,
                boundary=boundary, reduction="sum",
            )
            (0.5 * simple + pruned).backward()

        return step

    raise ValueError(f"unknown method {method!r}; choose from {METHODS}")


def worker(method: str, shape: Shape, runs: int, threads: int) -> dict[str, float | bool]:
    """Run in a fresh process: peak memory of the first pass, then the median time of ``runs``."""
    import torch

    torch.set_num_threads(threads)
    # A pass at a tiny shape first loads the kernels' code pages and initializes thread pools
    # and allocator caches, one-time costs that would otherwise count as the method's memory.
    _make_step(method, Shape(batch=2, frames=8, symbols=3, vocab=shape.vocab, joiner_dim=shape.joiner_dim, s_range=2))()
    step = _make_step(method, shape)
    gc.collect()
    rss_before, maxrss_before = _rss_bytes(), _maxrss_bytes()
    t0 = time.perf_counter()
    step()
    first_s = time.perf_counter() - t0
    maxrss_after = _maxrss_bytes()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {
        "time_s": statistics.median(times) if times else float("nan"),
        "first_s": first_s,
        "peak_mb": (maxrss_after - rss_before) / 2**20,
        "peak_is_bound": maxrss_after <= maxrss_before,
    }


def _run_worker(method: str, shape: Shape, runs: int, threads: int, env: dict[str, str] | None = None) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", method, "--runs", str(runs), "--threads", str(threads)]
    for field, value in asdict(shape).items():
        cmd += [f"--{field.replace('_', '-')}", str(value)]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if out.returncode != 0:
        print(f"# {method} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def _available(method: str) -> bool:
    if method == "torchaudio":
        return _importable("torchaudio")
    if method.startswith("k2"):
        return _importable("k2")
    return True


def _importable(name: str) -> bool:
    # A broken install (torchaudio/k2 built for another torch) fails at import, not find_spec.
    if importlib.util.find_spec(name) is None:
        return False
    probe = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True)
    return probe.returncode == 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for field, value in asdict(Shape()).items():
        p.add_argument(f"--{field.replace('_', '-')}", type=int, default=value)
    p.add_argument("--runs", type=int, default=3, help="timed passes per method (median reported)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    shape = Shape(args.batch, args.frames, args.symbols, args.vocab, args.joiner_dim, args.s_range)

    if args.worker:
        print(json.dumps(worker(args.worker, shape, args.runs, args.threads)))
        return 0

    from tqdm import tqdm

    print(
        f"# N={shape.batch} T={shape.frames} U={shape.symbols} V={shape.vocab} J={shape.joiner_dim} "
        f"s_range={shape.s_range}, forward+backward, threads={args.threads}, median of {args.runs} runs"
    )
    results: dict[str, dict] = {}
    skipped: list[str] = []
    for method in tqdm(args.methods, desc="methods", file=sys.stderr):
        if not _available(method):
            skipped.append(method)
            continue
        timed = _run_worker(method, shape, args.runs, args.threads)
        live = _run_worker(method, shape, 0, args.threads, {"MALLOC_MMAP_THRESHOLD_": "65536"})
        if timed is None or live is None:
            continue
        timed["live_peak_mb"], timed["live_peak_is_bound"] = live["peak_mb"], live["peak_is_bound"]
        results[method] = timed

    base = results.get("full")

    def mb(r: dict, key: str) -> str:
        return f"{'<=' if r[key + '_is_bound'] else ''}{r[key + '_mb']:.0f}"

    def ratio(r: dict, key: str) -> str:
        return f"{base[key] / r[key]:.1f}x" if base and r[key] > 0 else "-"

    header = ("method", "time (s)", "peak (MB)", "live peak (MB)", "time ratio", "peak ratio", "live ratio")
    print(f"{header[0]:<11}" + "".join(f"{h:>15}" for h in header[1:]))
    for method, r in results.items():
        cells = (
            f"{r['time_s']:.3f}", mb(r, "peak"), mb(r, "live_peak"),
            ratio(r, "time_s"), ratio(r, "peak_mb"), ratio(r, "live_peak_mb"),
        )
        print(f"{method:<11}" + "".join(f"{c:>15}" for c in cells))
    print("# ratios are full / method: how many times faster / smaller than the full loss")
    if skipped:
        print(f"# not importable, skipped: {', '.join(skipped)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
