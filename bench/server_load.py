"""Load benchmark of the decode server: N concurrent real-time clients, batched vs unbatched.

    nice -n 5 .venv/bin/python bench/server_load.py [--model-dir DIR] [--levels 1,8,32,64,96,128]

Starts ``asr serve`` on loopback as a subprocess (without ``--model-dir``: the default
``ModelConfig`` with random weights and a 500-token BPE vocabulary, the same compute as a trained
model of that config), then for N = 1, 8, 32, 64, ... runs N clients that each stream a
synthesized speech clip at real-time pace in 100 ms messages (starts staggered over one encoder
chunk), until a level breaks (p95 partial latency > 1 s, or a session fails). Then it measures
throughput with the server at ``--max-batch-size 1`` and at the default, under the same load.

Definitions (all times on the client's monotonic clock, same machine):

- partial latency: every result frame carries ``received_ms``, the audio the server had fed to
  the recognizer when the decode step that produced it became possible (the server feeds one
  client message at a time and stops once a step is possible). Latency = arrival of the frame
  minus the send time of the message whose audio ended at ``received_ms``. This is queueing +
  batching + compute + network, not the algorithmic delay of the chunk (reported separately as
  "audio->text": send of a message -> first frame whose ``processed_ms`` covers its end).
- endpoint->final: the same clock for frames with ``is_final`` (ITN included) before EOF.
- Done->final: sending ``Done`` -> the ``is_eof`` final.
- worker load: decode-worker busy time (``asr_worker_busy_seconds_total``: feeding audio to the
  streams' fbank, decode steps, endpointing, results) / wall time of the level. It cannot pass 1:
  near 1 the worker never idles, and a server that cannot keep up shows as latency growing
  without bound (the break criterion).
- aggregate RTF: decode-worker busy time / audio seconds decoded, all streams together.
- server CPU share: CPU seconds the server process got per wall second (of 2 cores); on a shared,
  loaded machine it shows how much of the machine the server actually had.
- CPU RTF: server CPU seconds / audio seconds decoded (robust to other jobs on the cores).
- throughput: audio seconds / wall seconds with 32 clients sending as fast as they can, and
  audio seconds per server CPU second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from asr.server.client import StreamingClient, StreamResult  # noqa: E402

RATE = 16000
SENTENCES = [
    "the birch canoe slid on the smooth planks",
    "glue the sheet to the dark blue background",
    "it is easy to tell the depth of a well",
    "these days a chicken leg is a rare dish",
    "rice is often served in round bowls",
    "the juice of lemons makes fine punch",
]


def make_default_model_dir(path: Path) -> Path:
    """Random-init default ``ModelConfig`` with a 500-token BPE lang dir trained on shared text."""
    import torch

    from asr.models import Transducer, default_config, save_model_dir
    from asr.text.tokenizer import train_tokenizer

    text_file = REPO.parent / "shared" / "data" / "text" / "librispeech_dev_clean.txt"
    if text_file.exists():
        lines = [" ".join(line.split()[1:]) if line.split() and re.match(r"^\d", line.split()[0]) else line.strip()
                 for line in text_file.read_text().splitlines()]
    else:
        lines = [s.upper() for s in SENTENCES] * 50
    tokenizer = train_tokenizer([l.upper() for l in lines if l], path / "lang", vocab_size=500)
    torch.manual_seed(0)
    config = default_config(vocab_size=tokenizer.vocab_size)
    model = Transducer(config).eval()
    return save_model_dir(path / "model", model, config, path / "lang")


def make_clip(work: Path, seconds: float) -> np.ndarray:
    """Speech (espeak-ng) with 1.5 s pauses between sentences, cut or looped to ``seconds``."""
    from asr.audio import load_audio

    pieces = []
    for i, text in enumerate(SENTENCES):
        wav = work / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), text], check=True)
        pieces += [load_audio(wav, RATE), np.zeros(int(1.5 * RATE), np.float32)]
    clip = np.concatenate(pieces)
    reps = int(np.ceil(seconds * RATE / len(clip)))
    return np.tile(clip, reps)[: int(seconds * RATE)].astype(np.float32)


class ServerProcess:
    """``asr serve`` on a free loopback port; its JSON log goes to a file."""

    def __init__(self, model_dir: Path, log_path: Path, extra: list[str]) -> None:
        cmd = [sys.executable, "-m", "asr.cli", "serve", "--model-dir", str(model_dir), "--port", "0",
               "--max-connections", "1024", *extra]
        self.log_path = log_path
        self.log = open(log_path, "w")
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen(cmd, stderr=self.log, stdout=self.log, cwd=REPO, env=env)
        self.url = self._wait_for_url()

    def _wait_for_url(self, timeout: float = 300.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}); see {self.log_path}")
            for line in self.log_path.read_text().splitlines():
                if '"event": "listening"' in line:
                    return json.loads(line)["url"]
            time.sleep(0.2)
        raise RuntimeError(f"server did not start in {timeout} s; see {self.log_path}")

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(self.url.replace("ws://", "http://") + "/metrics", timeout=10) as r:
            body = r.read().decode()
        out = {}
        for line in body.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@dataclass
class LevelResult:
    clients: int
    failed: int
    partial_p50: float
    partial_p95: float
    audio_to_text_p95: float
    endpoint_p50: float
    endpoint_p95: float
    done_final_p95: float
    load: float
    rtf: float
    cpu_share: float
    cpu_rtf: float
    mean_batch: float

    @property
    def broke(self) -> bool:
        return self.failed > 0 or self.partial_p95 > 1.0


def _chunk_index(result: StreamResult, received_ms: float) -> int | None:
    for i, end in enumerate(result.chunk_end_ms):
        if end >= received_ms - 0.5:
            return i
    return None


def latencies(results: list[StreamResult]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"partial": [], "endpoint": [], "done": [], "audio_to_text": []}
    for r in results:
        for msg, t in zip(r.messages, r.receive_times):
            if msg["is_eof"]:
                out["done"].append(t - r.done_time)
                continue
            i = _chunk_index(r, msg["received_ms"])
            if i is None:
                continue
            out["endpoint" if msg["is_final"] else "partial"].append(t - r.chunk_send_times[i])
        j = 0
        for end, sent in zip(r.chunk_end_ms, r.chunk_send_times):
            while j < len(r.messages) and r.messages[j]["processed_ms"] < end:
                j += 1
            if j == len(r.messages) or r.messages[j]["is_eof"]:
                break  # the tail is covered only by the EOF flush
            out["audio_to_text"].append(r.receive_times[j] - sent)
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def run_level(url: str, clip: np.ndarray, clients: int, stagger_s: float) -> tuple[list[StreamResult], int]:
    rng = random.Random(clients)

    async def one(delay: float) -> StreamResult | None:
        await asyncio.sleep(delay)
        try:
            return await StreamingClient(url, chunk_ms=100, realtime=True, itn=True).transcribe_samples(clip, RATE)
        except Exception as exc:  # a refused or dropped session counts as a failure of the level
            print(f"  client failed: {exc!r}", file=sys.stderr)
            return None

    out = await asyncio.gather(*(one(rng.uniform(0, stagger_s)) for _ in range(clients)))
    ok = [r for r in out if r is not None]
    return ok, clients - len(ok)


def measure_level(server: ServerProcess, clip: np.ndarray, clients: int, stagger_s: float) -> LevelResult:
    before, cpu0 = server.metrics(), server.cpu_seconds()
    t0 = time.monotonic()
    results, failed = asyncio.run(run_level(server.url, clip, clients, stagger_s))
    wall = time.monotonic() - t0
    after, cpu = server.metrics(), server.cpu_seconds() - cpu0

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    lat = latencies(results)
    busy = delta("asr_worker_busy_seconds_total")
    audio = delta("asr_decoded_audio_seconds_total")
    steps = delta("asr_decode_batch_size_count")
    return LevelResult(
        clients=clients,
        failed=failed,
        partial_p50=pct(lat["partial"], 50),
        partial_p95=pct(lat["partial"], 95),
        audio_to_text_p95=pct(lat["audio_to_text"], 95),
        endpoint_p50=pct(lat["endpoint"], 50),
        endpoint_p95=pct(lat["endpoint"], 95),
        done_final_p95=pct(lat["done"], 95),
        load=busy / wall,
        rtf=busy / audio if audio else float("nan"),
        cpu_share=cpu / wall,
        cpu_rtf=cpu / audio if audio else float("nan"),
        mean_batch=delta("asr_decode_batch_size_sum") / steps if steps else float("nan"),
    )


async def _fast_load(url: str, clip: np.ndarray, clients: int) -> float:
    t0 = time.monotonic()
    await asyncio.gather(*(StreamingClient(url, chunk_ms=100).transcribe_samples(clip, RATE) for _ in range(clients)))
    return clients * len(clip) / RATE / (time.monotonic() - t0)


def throughput(server: ServerProcess, clip: np.ndarray, clients: int) -> tuple[float, float]:
    """(audio s per wall s, audio s per server CPU s) with ``clients`` sending as fast as they can."""
    cpu0 = server.cpu_seconds()
    wall_rate = asyncio.run(_fast_load(server.url, clip, clients))
    return wall_rate, clients * len(clip) / RATE / (server.cpu_seconds() - cpu0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, help="default: random-init default ModelConfig")
    parser.add_argument("--levels", default="1,8,32,48,64,96,128,192,256", help="client counts, stops at the first break")
    parser.add_argument("--seconds", type=float, default=12.0, help="audio per client per level")
    parser.add_argument("--chunk-ms", type=int, default=320, help="server's encoder chunk")
    parser.add_argument("--num-threads", type=int, default=1, help="torch threads of the server's decode worker")
    parser.add_argument("--max-batch-size", type=int, default=64, help="the batched server's limit")
    parser.add_argument("--throughput-clients", type=int, default=32)
    parser.add_argument("--throughput-seconds", type=float, default=6.0)
    parser.add_argument("--rule3", type=float, default=5.0,
                        help="server's rule-3 utterance length (s), so that finals occur with any model")
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="server_load."))
    work.mkdir(parents=True, exist_ok=True)
    model_dir = args.model_dir or make_default_model_dir(work)
    clip = make_clip(work, args.seconds)
    common = ["--chunk-ms", str(args.chunk_ms), "--num-threads", str(args.num_threads),
              "--rule3-min-utterance-length", str(args.rule3)]
    print(f"model dir {model_dir}; clip {len(clip) / RATE:.1f} s; server chunk {args.chunk_ms} ms; "
          f"client messages 100 ms; cpu count {os.cpu_count()}; load avg {os.getloadavg()[0]:.2f}", flush=True)

    server = ServerProcess(model_dir, work / "server_batched.log", common + ["--max-batch-size", str(args.max_batch_size)])
    rows: list[LevelResult] = []
    try:
        measure_level(server, clip[: 2 * RATE], 4, 0.0)  # warm-up: first-call allocations, ITN load
        for n in [int(x) for x in args.levels.split(",")]:
            row = measure_level(server, clip, n, args.chunk_ms / 1000.0)
            rows.append(row)
            print(f"  N={n}: partial p95 {row.partial_p95 * 1000:.0f} ms, load {row.load:.2f}", flush=True)
            if row.broke:
                break
        throughput_batched = throughput(server, clip[: int(args.throughput_seconds * RATE)], args.throughput_clients)
    finally:
        server.stop()
    server1 = ServerProcess(model_dir, work / "server_unbatched.log", common + ["--max-batch-size", "1"])
    try:
        asyncio.run(_fast_load(server1.url, clip[: 2 * RATE], 2))  # warm-up
        throughput_unbatched = throughput(server1, clip[: int(args.throughput_seconds * RATE)], args.throughput_clients)
    finally:
        server1.stop()

    print()
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (2 cores shared with other jobs)")
    print("| clients | failed | partial p50 ms | partial p95 ms | audio->text p95 ms | endpoint->final p50/p95 ms "
          "| Done->final p95 ms | worker load | aggregate RTF | server CPU share | CPU RTF | mean batch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.clients} | {r.failed} | {r.partial_p50 * 1e3:.0f} | {r.partial_p95 * 1e3:.0f} | "
              f"{r.audio_to_text_p95 * 1e3:.0f} | {r.endpoint_p50 * 1e3:.0f} / {r.endpoint_p95 * 1e3:.0f} | "
              f"{r.done_final_p95 * 1e3:.0f} | {r.load:.2f} | {r.rtf:.4f} | {r.cpu_share:.2f} | {r.cpu_rtf:.4f} | "
              f"{r.mean_batch:.1f} |" + (" BROKE" if r.broke else ""))
    ok = [r.clients for r in rows if not r.broke and r.partial_p95 < 0.3]
    print()
    print(f"most concurrent real-time streams with p95 partial latency < 300 ms: {max(ok) if ok else 0}")
    (wall_b, cpu_b), (wall_u, cpu_u) = throughput_batched, throughput_unbatched
    print(f"throughput, {args.throughput_clients} clients sending as fast as possible "
          f"(audio s per wall s | per server CPU s):")
    print(f"  batched (max batch {args.max_batch_size}): {wall_b:.1f} | {cpu_b:.1f}")
    print(f"  unbatched (max batch 1): {wall_u:.1f} | {cpu_u:.1f}")
    print(f"  batched / unbatched: {wall_b / wall_u:.2f}x wall-clock, {cpu_b / cpu_u:.2f}x per CPU second")


if __name__ == "__main__":
    main()
