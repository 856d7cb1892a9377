"""Our ``asr serve`` against sherpa-onnx's C++ ``sherpa-onnx-online-websocket-server`` on the same model.

    .venv/bin/python bench/server_vs_sherpa.py [--model-dir DIR] [--refs wav_text.tsv] \\
        [--levels 8,16,32,64,96,128] [--chunk-ms 320] [--threads 2]

Needs the ``bench`` extra (``sherpa-onnx-bin`` installs the C++ server beside the Python).
The model dir is exported with ``asr export onnx`` (same chunk), then for each server and each
N, N clients stream at real-time pace in 100 ms messages (starts staggered over one chunk) with
the same client (``asr.server.client.StreamingClient``: both servers speak the same protocol).
Both servers: greedy search (ours with ``--max-sym-per-frame 1``, as sherpa-onnx's, and ``--no-itn``:
sherpa-onnx has no ITN, and WER scores lexical text; ITN would write digit strings as numbers), ``--threads``
compute threads (ours: torch threads of the decode worker; sherpa-onnx: one work thread running
onnxruntime with that many intra-op threads), max batch 32.

sherpa-onnx's server has no listen-address option and binds every interface, so the whole
benchmark re-executes itself in a fresh network namespace (``unshare -rn``) whose only interface
is loopback: nothing is reachable from outside.

Latency definitions (client clock, server-agnostic: sherpa-onnx replies carry no ``received_ms``):

- step latency: for each token, the first reply that contains it, minus the send time of the
  100 ms message that completed the chunk the token was decoded from (ours decodes a chunk when
  its ``T`` feature frames are there; sherpa-onnx when ``T + 1`` are). Queueing + batching +
  compute + network, without the algorithmic chunk wait.
- token latency: the same reply minus the moment the token's frame ended on the audio clock of
  the stream (what a user sees; includes the chunk wait, about half a chunk on average).
- CPU/audio s: server process CPU seconds (user + system) per second of audio decoded.
- WER (with ``--refs``, lines ``wav<TAB>reference``): clients cycle over the files.

The headline is the largest N each server holds at p95 step latency < 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from asr.server.client import StreamingClient, StreamResult  # noqa: E402

RATE = 16000
MESSAGE_MS = 100
THRESHOLD_MS = 300.0
BREAK_MS = 1500.0  # stop raising N once p95 step latency passes this


def in_private_network() -> None:
    """Re-exec inside a network namespace with only loopback (see the module docstring)."""
    if os.environ.get("BENCH_NETNS") == "1":
        return
    if shutil.which("unshare") is None:
        sys.exit("bench: needs util-linux 'unshare' to keep sherpa-onnx's server off the network")
    env = dict(os.environ, BENCH_NETNS="1")
    script = 'ip link set lo up && exec "$@"'
    os.execvpe("unshare", ["unshare", "-rn", "sh", "-c", script, "sh", sys.executable, *sys.argv], env)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server subprocess on a loopback port, with its CPU time from /proc."""

    def __init__(self, name: str, cmd: list[str], port: int, log_path: Path, chunk_feature_frames: int,
                 extra_frames: int) -> None:
        self.name, self.url = name, f"ws://127.0.0.1:{port}"
        self.chunk_feature_frames, self.extra_frames = chunk_feature_frames, extra_frames
        self.log = open(log_path, "w")
        # cwd: sherpa-onnx's server writes its own log.txt into the working directory
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=log_path.parent,
                                     env=dict(os.environ, PYTHONPATH=str(REPO)))
        end = time.monotonic() + 300
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({self.proc.returncode}); see {log_path}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"{name} did not start; see {log_path}")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def chunk_ready_ms(self, frame: int, chunk_frames: int) -> float:
        """Audio (ms) needed before the chunk holding encoder frame ``frame`` can be decoded:
        its feature frames (+ ``extra_frames``), each needing 25 ms of audio from its start."""
        chunk = frame // chunk_frames
        feature_frames = (chunk + 1) * self.chunk_feature_frames + self.extra_frames
        return (feature_frames - 1) * 10 + 25

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@dataclass
class Level:
    clients: int
    failed: int
    step_p50: float
    step_p95: float
    token_p50: float
    token_p95: float
    cpu_per_audio_s: float
    wer: float | None


def token_latencies(result: StreamResult, server: Server, chunk_frames: int) -> tuple[list[float], list[float]]:
    """(step, token) latencies in ms of every token of every segment (first reply holding it)."""
    start = result.chunk_send_times[0]
    ends = np.array(result.chunk_end_ms)
    step, token = [], []
    seen: dict[int, int] = {}
    for message, arrival in zip(result.messages, result.receive_times):
        segment, times = int(message.get("segment", 0)), message.get("timestamps", [])
        for k in range(seen.get(segment, 0), len(times)):
            frame = int(round((float(message.get("start_time", 0.0)) + float(times[k])) / 0.04))
            token.append((arrival - start) * 1000 - (frame + 1) * 40)
            needed = server.chunk_ready_ms(frame, chunk_frames)
            i = int(np.searchsorted(ends, needed))  # first message whose audio covers it
            if i < len(ends):
                step.append((arrival - result.chunk_send_times[i]) * 1000)
        seen[segment] = max(seen.get(segment, 0), len(times))
    return step, token


async def run_clients(url: str, audios: list[np.ndarray], clients: int, stagger_s: float) -> list[StreamResult | None]:
    rng = random.Random(clients)

    async def one(i: int, delay: float) -> StreamResult | None:
        await asyncio.sleep(delay)
        try:
            client = StreamingClient(url, chunk_ms=MESSAGE_MS, realtime=True)
            return await client.transcribe_samples(audios[i % len(audios)], RATE)
        except Exception as exc:
            print(f"  client failed: {exc!r}", file=sys.stderr)
            return None

    return list(await asyncio.gather(*(one(i, rng.uniform(0, stagger_s)) for i in range(clients))))


def measure(server: Server, audios: list[np.ndarray], refs: list[str] | None, clients: int, chunk_frames: int) -> Level:
    from asr.scoring import compute_wer

    cpu0 = server.cpu_seconds()
    results = asyncio.run(run_clients(server.url, audios, clients, chunk_frames * 0.04))
    cpu = server.cpu_seconds() - cpu0
    ok = [(i, r) for i, r in enumerate(results) if r is not None]
    step, token = [], []
    for _, r in ok:
        s, t = token_latencies(r, server, chunk_frames)
        step += s
        token += t
    audio_s = sum(len(audios[i % len(audios)]) for i, _ in ok) / RATE
    wer = None
    if refs is not None and ok:
        hyp = {f"{i}": r.text.upper() for i, r in ok}
        ref = {f"{i}": refs[i % len(refs)] for i, _ in ok}
        wer = compute_wer(ref, hyp).wer

    def pct(v: list[float], q: float) -> float:
        return float(np.percentile(v, q)) if v else float("nan")

    return Level(clients, len(results) - len(ok), pct(step, 50), pct(step, 95), pct(token, 50), pct(token, 95),
                 cpu / audio_s if audio_s else float("nan"), wer)


def load_inputs(args: argparse.Namespace, work: Path) -> tuple[list[np.ndarray], list[str] | None]:
    from asr.audio import load_audio

    if args.refs:
        pairs = [line.split("\t", 1) for line in Path(args.refs).read_text().splitlines() if line.strip()]
        return [load_audio(p, RATE) for p, _ in pairs], [t.strip().upper() for _, t in pairs]
    from server_load import make_clip

    return [make_clip(work, args.seconds)], None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=None, help="model dir (default: random default config)")
    parser.add_argument("--refs", default=None, help="lines 'wav<TAB>reference' to stream (and score)")
    parser.add_argument("--seconds", type=float, default=20.0, help="clip length without --refs")
    parser.add_argument("--levels", default="8,16,32,64,96,128")
    parser.add_argument("--chunk-ms", type=int, default=320)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    in_private_network()

    from asr.export.onnx import OnnxExportOptions, export_onnx

    work = (args.work_dir or Path(tempfile.mkdtemp(prefix="server_vs_sherpa."))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    model_dir = args.model_dir.resolve() if args.model_dir else None
    if model_dir is None:
        from server_load import make_default_model_dir

        model_dir = make_default_model_dir(work)
    onnx_dir = export_onnx(model_dir, work / "onnx", OnnxExportOptions(chunk_ms=args.chunk_ms, overwrite=True)).path
    audios, refs = load_inputs(args, work)
    chunk_frames = args.chunk_ms // 40
    bin_dir = Path(sys.executable).parent
    ours_port, sherpa_port = free_port(), free_port()
    servers = {
        "asr serve": lambda: Server("asr serve", [
            sys.executable, "-m", "asr.cli", "serve", "--model-dir", str(model_dir), "--port", str(ours_port),
            "--chunk-ms", str(args.chunk_ms), "--num-threads", str(args.threads), "--max-batch-size", "32",
            "--max-sym-per-frame", "1", "--max-connections", "1024", "--no-itn"], ours_port, work / "ours.log", 4 * chunk_frames, 0),
        "sherpa-onnx": lambda: Server("sherpa-onnx", [
            str(bin_dir / "sherpa-onnx-online-websocket-server"), f"--port={sherpa_port}", "--num-work-threads=1",
            "--num-io-threads=1", f"--num-threads={args.threads}", "--max-batch-size=32",
            "--decoding-method=greedy_search", f"--tokens={onnx_dir / 'tokens.txt'}",
            f"--encoder={onnx_dir / 'encoder.onnx'}", f"--decoder={onnx_dir / 'decoder.onnx'}",
            f"--joiner={onnx_dir / 'joiner.onnx'}"], sherpa_port, work / "sherpa.log", 4 * chunk_frames, 1),
    }
    table: dict[str, list[Level]] = {}
    for name, start in servers.items():
        server = start()
        table[name] = []
        try:
            for n in [int(x) for x in args.levels.split(",")]:
                level = measure(server, audios, refs, n, chunk_frames)
                table[name].append(level)
                print(f"{name:12s} N={n:4d} step p50/p95 {level.step_p50:7.0f}/{level.step_p95:7.0f} ms  token "
                      f"p50/p95 {level.token_p50:7.0f}/{level.token_p95:7.0f} ms  CPU/audio "
                      f"{level.cpu_per_audio_s:.3f}  failed {level.failed}", file=sys.stderr)
                if level.failed or not level.step_p95 < BREAK_MS:
                    break
        finally:
            server.stop()

    names = list(servers)
    print(f"\nchunk {args.chunk_ms} ms, {args.threads} threads, greedy search, real-time clients, loopback")
    print("| N | " + " | ".join(f"{n} step p50/p95 ms | {n} token p95 ms | {n} CPU s/audio s | {n} WER" for n in names)
          + " | step p95 ratio ours/sherpa |")
    print("|---" * (2 + 4 * len(names)) + "|")
    levels = sorted({lv.clients for rows in table.values() for lv in rows})
    for n in levels:
        cells, p95 = [], []
        for name in names:
            lv = next((x for x in table[name] if x.clients == n), None)
            if lv is None:
                cells += ["-"] * 4
                p95.append(float("nan"))
                continue
            wer = f"{lv.wer:.2f}%" if lv.wer is not None else "-"  # compute_wer gives percent
            fail = f" ({lv.failed} failed)" if lv.failed else ""
            cells += [f"{lv.step_p50:.0f}/{lv.step_p95:.0f}{fail}", f"{lv.token_p95:.0f}", f"{lv.cpu_per_audio_s:.3f}", wer]
            p95.append(lv.step_p95)
        print(f"| {n} | " + " | ".join(cells) + f" | {p95[0] / p95[1]:.2f} |")
    for name in names:
        held = [lv.clients for lv in table[name] if not lv.failed and lv.step_p95 < THRESHOLD_MS]
        print(f"{name}: holds {max(held) if held else 0} streams at p95 step latency < {THRESHOLD_MS:.0f} ms")


if __name__ == "__main__":
    main()
