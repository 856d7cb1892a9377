"""sherpa-onnx on our export against our own streaming decoding, on a real test set (issue 14).

    .venv/bin/python bench/sherpa_equivalence.py --model-dir egs/fsdd/exp/transducer_idx/model \\
        --cuts egs/fsdd/data/fbank/fsdd_cuts_test_idx_connected.jsonl.gz [--limit 300 --seed 0] \\
        [--chunk-ms 320] [--work-dir /tmp/sherpa_eq]

Exports the model dir (``asr export onnx``, float and ``--int8``) into ``--work-dir``, then decodes
every cut (or a seeded subset of ``--limit``) four ways, in one run:

- **ours, transcribe**: ``asr transcribe --chunk-ms C --max-sym-per-frame 1`` as a user runs it
  (the original audio, our default 160 ms of silence-level feature frames after the end);
- **ours**: our ``OnlineRecognizer`` (what ``asr transcribe --chunk-ms C`` and ``asr serve`` run),
  greedy, one symbol a frame, on the padded audio below and without feature tail padding;
- **sherpa-onnx** / **sherpa-onnx int8**: ``sherpa_onnx.OnlineRecognizer.from_transducer`` on the
  float / int8 graphs, greedy search, on the same padded audio.

The tail-padding convention (so both sides see the same frames)
----------------------------------------------------------------
sherpa-onnx's Python API pads nothing after the audio, and decodes a window of ``T`` feature
frames only while a frame beyond it is ready (``IsReady``: processed + T < ready): a stream of
``F`` frames gets ``(F - 1) // T`` windows, the rest is never decoded. Our recognizer decodes the
last, partial chunk too and, by default, appends 160 ms of log(1e-10) feature frames (a value no
audio gives, so sherpa-onnx cannot be fed the same frames). Therefore both sides get the *same
audio*: the cut resampled to 16 kHz once, by our loader (sherpa-onnx's linear resampler would
give other features), followed by zeros: at least ``--pad-ms`` (default 160, our tail padding's
length), extended to exactly ``k * T`` feature frames. Ours decodes those ``k`` chunks; sherpa-onnx
gets 10 ms more zeros, the one frame beyond the last window its rule waits for, and decodes the
same ``k`` windows (the frames before that extra one do not change: with ``snip_edges=false`` the
end is mirrored, and it is zeros either way). Our causal front end would turn even one leftover
frame into an encoder frame, so the extra 10 ms must not reach ours; the script checks that ours
ran exactly the ``k * T / 4`` encoder frames sherpa-onnx's rule gives. Our feature tail padding
is off (``tail_padding_ms=0``): the zeros play its part. The first row shows what that convention costs
or gains against ``asr transcribe``'s own.

Transcripts are compared as word strings (case and spacing normalized). CPU seconds per audio
second are process CPU time on one thread; other jobs on the machine do not inflate them much,
wall time would.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from asr.audio import load_audio  # noqa: E402
from asr.decoding.online import OnlineRecognizer  # noqa: E402
from asr.export.onnx import DECODER, ENCODER, INT8_SUFFIX, JOINER, OnnxExportOptions, export_onnx  # noqa: E402
from asr.models import LoadedModel, load_model_dir  # noqa: E402
from asr.scoring import compute_wer  # noqa: E402

RATE = 16000
SAMPLES_PER_FRAME = 160  # 10 ms; snip_edges=false gives round(samples / 160) frames


@dataclass
class Utterance:
    id: str
    audio: np.ndarray  # 16 kHz, unpadded
    text: str


@dataclass
class Decoded:
    texts: dict[str, str]
    encoder_frames: dict[str, int]
    cpu_s: float
    wall_s: float


def normalize(text: str) -> str:
    return " ".join(text.upper().split())


def load_utterances(cuts_path: Path, audio_root: Path, limit: int | None, seed: int) -> tuple[list[Utterance], int]:
    from lhotse import CutSet

    cuts = list(CutSet.from_file(cuts_path))
    total = len(cuts)
    if limit is not None and limit < total:
        cuts = sorted(random.Random(seed).sample(cuts, limit), key=lambda c: c.id)
    utterances = []
    for cut in cuts:
        source = Path(cut.recording.sources[0].source)
        path = source if source.is_absolute() else audio_root / source
        audio = load_audio(path, RATE)
        start = int(round(cut.start * RATE))
        audio = audio[start:start + int(round(cut.duration * RATE))]
        utterances.append(Utterance(cut.id, audio, normalize(" ".join(s.text for s in cut.supervisions))))
    return utterances, total


def pad_to_windows(audio: np.ndarray, window_frames: int, min_pad_ms: int, extra_frames: int = 0) -> np.ndarray:
    """``audio`` + zeros: at least ``min_pad_ms``, up to ``k * window_frames`` feature frames, then
    ``extra_frames`` more."""
    frames = -(-(audio.size + min_pad_ms * RATE // 1000) // SAMPLES_PER_FRAME)
    k = -(-frames // window_frames)
    total = (k * window_frames + extra_frames) * SAMPLES_PER_FRAME
    return np.concatenate([audio, np.zeros(total - audio.size, dtype=np.float32)])


def decode_in_batches(recognizer: Any, utterances: list[Utterance], audios: list[np.ndarray], batch: int,
                      decode: Callable[[list[Any]], None], text_of: Callable[[Any], str],
                      frames_of: Callable[[Any, np.ndarray], int]) -> Decoded:
    """Both decoders' loop: ``batch`` streams at a time, each fed its whole (padded) audio, decoded
    by ``decode(streams)``, then read back; ours and sherpa-onnx differ only in the three callables."""
    texts, frames = {}, {}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for b in range(0, len(utterances), batch):
        group = list(zip(utterances[b:b + batch], audios[b:b + batch]))
        streams = [recognizer.create_stream() for _ in group]
        for stream, (_, audio) in zip(streams, group):
            stream.accept_waveform(RATE, audio)
            stream.input_finished()
        decode(streams)
        for stream, (utt, audio) in zip(streams, group):
            texts[utt.id] = normalize(text_of(stream))
            frames[utt.id] = frames_of(stream, audio)
    return Decoded(texts, frames, time.process_time() - cpu0, time.perf_counter() - wall0)


def decode_ours(loaded: LoadedModel, chunk_ms: int, utterances: list[Utterance], audios: list[np.ndarray],
                tail_padding_ms: int | None, batch: int) -> Decoded:
    options = OnnxExportOptions(chunk_ms=chunk_ms).decoding
    if tail_padding_ms is not None:
        options = options.replace(tail_padding_ms=tail_padding_ms)
    recognizer = OnlineRecognizer(loaded, options)
    return decode_in_batches(recognizer, utterances, audios, batch, recognizer.decode_until_done,
                             lambda stream: recognizer.get_result(stream).text,
                             lambda stream, _: stream.num_processed_frames)


def decode_sherpa(onnx_dir: Path, int8: bool, window: int, utterances: list[Utterance], audios: list[np.ndarray],
                  batch: int) -> Decoded:
    import sherpa_onnx

    suffix = INT8_SUFFIX if int8 else ".onnx"
    recognizer = sherpa_onnx.OnlineRecognizer.from_transducer(
        tokens=str(onnx_dir / "tokens.txt"), encoder=str(onnx_dir / ENCODER.replace(".onnx", suffix)),
        decoder=str(onnx_dir / DECODER.replace(".onnx", suffix)), joiner=str(onnx_dir / JOINER.replace(".onnx", suffix)),
        num_threads=1, sample_rate=RATE, feature_dim=80, decoding_method="greedy_search")

    def decode(streams: list[Any]) -> None:
        while ready := [s for s in streams if recognizer.is_ready(s)]:
            recognizer.decode_streams(ready)

    # its IsReady decodes (F - 1) // T windows of T / 4 encoder frames (not exposed in Python)
    return decode_in_batches(recognizer, utterances, audios, batch, decode, recognizer.get_result,
                             lambda _, audio: (audio.size // SAMPLES_PER_FRAME - 1) // window * window // 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--cuts", type=Path, required=True, help="test cuts (lhotse jsonl) whose recordings to decode")
    parser.add_argument("--audio-root", type=Path, default=None,
                        help="dir relative recording paths are relative to (default: the cuts' recipe dir, "
                             "two levels above data/fbank/)")
    parser.add_argument("--limit", type=int, default=None, help="decode a seeded random subset of this many cuts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk-ms", type=int, default=320)
    parser.add_argument("--pad-ms", type=int, default=160, help="least zero audio after each cut (see the docstring)")
    parser.add_argument("--batch", type=int, default=64, help="streams decoded together")
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="sherpa_equivalence."))
    audio_root = args.audio_root or args.cuts.resolve().parents[2]
    loaded = load_model_dir(args.model_dir)
    result = export_onnx(args.model_dir, work / "onnx", OnnxExportOptions(chunk_ms=args.chunk_ms, int8=True,
                                                                         overwrite=True))
    onnx_dir = result.path
    window = int(result.encoder_metadata["T"])
    utterances, total = load_utterances(args.cuts, audio_root, args.limit, args.seed)
    audio_s = sum(u.audio.size for u in utterances) / RATE
    padded = [pad_to_windows(u.audio, window, args.pad_ms) for u in utterances]
    padded_sherpa = [pad_to_windows(u.audio, window, args.pad_ms, extra_frames=1) for u in utterances]
    print(f"{len(utterances)} of {total} cuts ({audio_s:.0f} s of audio), chunk {args.chunk_ms} ms "
          f"(T = {window} feature frames), export in {onnx_dir}", file=sys.stderr)

    runs: dict[str, Decoded] = {}
    runs["ours, asr transcribe"] = decode_ours(loaded, args.chunk_ms, utterances, [u.audio for u in utterances],
                                               None, args.batch)
    runs["ours"] = decode_ours(loaded, args.chunk_ms, utterances, padded, 0, args.batch)
    runs["sherpa-onnx"] = decode_sherpa(onnx_dir, False, window, utterances, padded_sherpa, args.batch)
    runs["sherpa-onnx int8"] = decode_sherpa(onnx_dir, True, window, utterances, padded_sherpa, args.batch)

    refs = {u.id: u.text for u in utterances}
    wers = {name: compute_wer(refs, run.texts).wer for name, run in runs.items()}
    ours, sherpa, int8 = runs["ours"], runs["sherpa-onnx"], runs["sherpa-onnx int8"]

    def identical(a: Decoded, b: Decoded) -> float:
        return 100.0 * sum(a.texts[u.id] == b.texts[u.id] for u in utterances) / len(utterances)

    print(f"\n{len(utterances)} of {total} cuts of {args.cuts.name}, {audio_s:.0f} s; chunk {args.chunk_ms} ms, "
          f"greedy search, 1 symbol/frame, 1 thread; audio + zeros to k*T frames (>= {args.pad_ms} ms, "
          "sherpa-onnx one frame more) for the last three rows")
    print("| decoder | WER % | identical to ours % | CPU s / audio s | wall s |")
    print("|---|---|---|---|---|")
    for name, run in runs.items():
        print(f"| {name} | {wers[name]:.2f} | {identical(run, ours):.1f} | {run.cpu_s / audio_s:.4f} | {run.wall_s:.0f} |")

    size = {kind: sum((onnx_dir / n.replace(".onnx", s)).stat().st_size for n in (ENCODER, DECODER, JOINER))
            for kind, s in (("float", ".onnx"), ("int8", INT8_SUFFIX))}
    same = identical(sherpa, ours)
    wer_gap = abs(wers["sherpa-onnx"] - wers["ours"])
    ratio = size["float"] / size["int8"]
    rel = (wers["sherpa-onnx int8"] - wers["sherpa-onnx"]) / wers["sherpa-onnx"] * 100 if wers["sherpa-onnx"] else float("nan")
    frames_equal = all(ours.encoder_frames[u.id] == sherpa.encoder_frames[u.id] for u in utterances)

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print("\n| check (issue 14) | target | measured | |")
    print("|---|---|---|---|")
    print(f"| sherpa-onnx transcript = ours | >= 98% of files | {same:.1f}% | {verdict(same >= 98)} |")
    print(f"| WER sherpa-onnx - ours | within 0.2 absolute | {wers['sherpa-onnx'] - wers['ours']:+.2f} | "
          f"{verdict(wer_gap <= 0.2)} |")
    print(f"| int8 size (encoder+decoder+joiner) | >= 3x smaller | {size['float'] / 1e6:.2f} MB -> "
          f"{size['int8'] / 1e6:.2f} MB, {ratio:.2f}x | {verdict(ratio >= 3)} |")
    print(f"| int8 WER change | within 5% relative | {wers['sherpa-onnx']:.2f} -> {wers['sherpa-onnx int8']:.2f} "
          f"({rel:+.1f}%) | {verdict(abs(rel) <= 5)} |")
    print(f"| same encoder frames decoded, ours and sherpa-onnx | all files | "
          f"{'yes' if frames_equal else 'NO'} | |")
    for name in ("sherpa-onnx", "sherpa-onnx int8"):
        diffs = [u for u in utterances if runs[name].texts[u.id] != ours.texts[u.id]]
        for u in diffs[:5]:
            print(f"  {name} differs on {u.id}: ref '{u.text}' ours '{ours.texts[u.id]}' "
                  f"{name} '{runs[name].texts[u.id]}'", file=sys.stderr)


if __name__ == "__main__":
    main()
