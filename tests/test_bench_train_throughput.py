"""bench/train_throughput.py in its CI size on a tiny model: every row is there and measured."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent

TINY_CONFIG = """\
model:
  subsampling_channels: [4, 8]
  encoder_dim: 32
  num_encoder_layers: 1
  num_heads: 2
  feedforward_dim: 64
  conv_kernel_size: 5
  dropout: 0.0
  chunk_sizes: [4]
  left_context_frames: 8
  decoder_dim: 32
  joiner_dim: 32
data:
  num_buckets: 4
num_threads: 1
"""


def _load_bench():
    spec = importlib.util.spec_from_file_location("train_throughput", REPO / "bench" / "train_throughput.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_quick_mode_prints_every_row_with_positive_numbers(tmp_path: Path, capsys) -> None:
    config = tmp_path / "train.yaml"
    config.write_text(TINY_CONFIG)
    bench = _load_bench()
    threads = torch.get_num_threads()
    try:
        # threshold 0: the cheaper front-end row is added whatever the profile says
        result = bench.main(["--quick", "--config", str(config), "--num-cuts", "24", "--frontend-threshold", "0"])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out

    for part in ("data loading + feature reading", "encoder: subsampling front end", "encoder: conformer layers",
                 "predictor + joiner", "loss: simple", "loss: pruning", "loss: pruned", "backward",
                 "grad clip + optimizer step"):
        assert part in out
        assert result["profile_ms"][next(k for k in result["profile_ms"] if k.startswith(part))] >= 0
    assert sum(result["profile_ms"].values()) > 0 and sum(result["profile_cpu_ms"].values()) > 0
    assert all(v > 0 for v in result["peaks"].values())

    variants = result["variants"]
    expected = ["baseline", "threads 2", "threads 2, interop threads 1", "buckets 1 (no bucketing)", "buckets 12",
                "bf16 autocast", "bf16 autocast, 2 threads", "torch.compile(encoder)", "front end channels [2, 4]"]
    assert list(variants) == expected or sorted(variants) == sorted(expected)
    for name in expected:
        assert name in out
        row = variants[name]
        if name == "torch.compile(encoder)":
            assert row["note"].startswith("skipped")  # --quick does not compile
            continue
        assert row["error"] == "", (name, row["error"])
        assert row["throughputs"] and all(t > 0 for t in row["throughputs"]), name
        assert row["gflop_per_audio_second"] > 0 and row["all_finite"], name
    # same batches, same initial weights: one thread or two, the first loss is the same
    base, two = variants["baseline"]["first_loss"], variants["threads 2"]["first_loss"]
    assert math.isfinite(base) and math.isclose(base, two, rel_tol=1e-4)
    assert math.isclose(base, variants["bf16 autocast"]["first_loss"], rel_tol=0.05)
