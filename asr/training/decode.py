"""Decode a CutSet with a model dir and score it.

    python -m asr.training.decode --model-dir exp/transducer/model \
        --cuts data/fbank/fsdd_cuts_test.jsonl.gz --method greedy_search --chunk-ms 320 --out-dir exp/decode

``--chunk-ms full`` runs the encoder with full context; ``--chunk-ms N`` runs it with N ms
chunks and the model's left context (the chunk mask the streaming encoder is proven equal to,
so the result is what chunk-by-chunk streaming gives). By default greedy search emits up to 3
tokens a frame (``--max-sym-per-frame``) and 160 ms of silence-level feature frames follow each
utterance (``--tail-padding-ms``, see ``asr.decoding.tail_padding``): the defaults of
``asr transcribe`` and ``asr serve``, so the WER scores the text users get from the same model.
Writes, under ``<out-dir>/<method>_<chunk>/``, the Kaldi-style ``text`` (hypotheses) and ``ref``
files and the scorer's outputs, and ``<out-dir>/wer_<method>_<chunk>.txt`` with the WER summary
line (and a ``.json`` twin that ``python -m asr.training.report`` turns into a table).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from lhotse import CutSet
from tqdm import tqdm

from asr.decoding.greedy import DEFAULT_MAX_SYM_PER_FRAME
from asr.decoding.hypothesis import Hypothesis
from asr.decoding.tail_padding import (DEFAULT_TAIL_PADDING_MS, add_decoding_end_arguments, pad_tail,
                                      tail_padding_frames)
from asr.errors import ModelDirError
from asr.training.dataset import AsrDataset, DataConfig, SpecAugmentConfig, cut_text, make_dataloader, make_sampler
from asr.utils.io import atomic_write

log = logging.getLogger("asr.decode")

METHODS = ("greedy_search", "modified_beam_search")


@dataclass
class DecodeConfig:
    model_dir: str
    cuts: str
    out_dir: str
    method: str = "greedy_search"
    chunk_ms: int | None = None
    """Encoder chunk in ms (a multiple of 40); None for full context."""
    beam: int = 4
    max_sym_per_frame: int = DEFAULT_MAX_SYM_PER_FRAME
    """Greedy search: tokens emitted per encoder frame at most (the training topology allows more)."""
    tail_padding_ms: int = DEFAULT_TAIL_PADDING_MS
    """Silence-level (log-epsilon) feature frames appended to each utterance, so that a causal
    model can still emit the last tokens of a word that ends right at the end of the audio
    (``OnlineRecognizerConfig.tail_padding_ms``, the same frames)."""
    max_duration: float = 300.0
    num_threads: int = 1


@dataclass
class DecodeResult:
    hyps: dict[str, str]
    """Text per cut id; ``token_ids`` has the tokens it was decoded from."""
    refs: dict[str, str]
    wer_summary: str
    wer: float
    audio_seconds: float
    decode_seconds: float
    token_ids: dict[str, list[int]]


def chunk_frames(chunk_ms: int | None) -> int:
    """Encoder frames (40 ms each) per chunk; -1 for full context."""
    if chunk_ms is None:
        return -1
    from asr.models.config import FRAME_SHIFT_S

    frame_ms = round(FRAME_SHIFT_S * 1000)
    if chunk_ms <= 0 or chunk_ms % frame_ms:
        raise ValueError(f"--chunk-ms {chunk_ms}: must be a positive multiple of {frame_ms} ms")
    return chunk_ms // frame_ms


def decode_tag(method: str, chunk_ms: int | None) -> str:
    return f"{method}_{'full' if chunk_ms is None else f'chunk{chunk_ms}ms'}"


@torch.no_grad()
def decode(config: DecodeConfig) -> DecodeResult:
    """Decode ``config.cuts``, write hyps/refs, score, and write the WER summary."""
    from asr.decoding import greedy_search_batch, modified_beam_search
    from asr.models import load_model_dir
    from asr.scoring import compute_wer, per_speaker, write_wer_details

    if config.method not in METHODS:
        raise ValueError(f"--method {config.method!r}: choose one of {METHODS}")
    torch.set_num_threads(config.num_threads)
    loaded = load_model_dir(config.model_dir)
    model, tokenizer = loaded.model.eval(), loaded.tokenizer
    chunk_size = chunk_frames(config.chunk_ms)
    cuts = CutSet.from_file(config.cuts).to_eager()
    missing = [c.id for c in cuts if not c.has_features]
    if missing:
        raise ModelDirError(f"{config.cuts}: cuts without features, e.g. {missing[:3]} (run the feature stage)")
    data = DataConfig(max_duration=config.max_duration, shuffle=False, spec_augment=SpecAugmentConfig(enabled=False))
    sampler = make_sampler(cuts, data, shuffle=False)
    loader = make_dataloader(AsrDataset(tokenizer=None), sampler)
    hyps: dict[str, str] = {}
    token_ids: dict[str, list[int]] = {}
    tail_frames = tail_padding_frames(config.tail_padding_ms, loaded.feature_options.frame_shift_ms)
    refs = {c.id: cut_text(c) for c in cuts}
    audio_seconds = sum(c.duration for c in cuts)
    start = time.perf_counter()
    for batch in tqdm(loader, desc=f"decode {decode_tag(config.method, config.chunk_ms)}", mininterval=5.0):
        features, feature_lens = pad_tail(batch["features"], batch["feature_lens"], tail_frames)
        encoder_out, encoder_lens = model.encode(features, feature_lens, chunk_size=chunk_size)
        results: list[Hypothesis]
        if config.method == "greedy_search":
            results = greedy_search_batch(model, encoder_out, encoder_lens, max_sym_per_frame=config.max_sym_per_frame)
        else:
            results = modified_beam_search(model, encoder_out, encoder_lens, beam=config.beam)
        for cut_id, hyp in zip(batch["cut_ids"], results):
            hyps[cut_id] = tokenizer.decode(hyp.tokens)
            token_ids[cut_id] = list(hyp.tokens)
    elapsed = time.perf_counter() - start

    tag = decode_tag(config.method, config.chunk_ms)
    out = Path(config.out_dir)
    work = out / tag
    write_text_file(work / "text", hyps)
    write_text_file(work / "ref", refs)
    result = compute_wer(refs, hyps)
    write_wer_details(result, work)
    utt2spk = {c.id: c.supervisions[0].speaker or "unknown" for c in cuts}
    with atomic_write(work / "wer_per_speaker") as f:
        for speaker, stats in per_speaker(result, utt2spk).items():
            f.write(f"{speaker} {stats.kaldi_line()}\n")
    rtf = elapsed / max(audio_seconds, 1e-9)
    cuts_name = Path(config.cuts).name.removesuffix(".jsonl.gz")
    summary = f"{result.summary()} {cuts_name} {tag} [decode {elapsed:.1f} s for {audio_seconds:.1f} s audio, RTF {rtf:.4f}]"
    with atomic_write(out / f"wer_{tag}.txt") as f:
        f.write(summary + "\n")
    total = result.total
    record = {"cuts": cuts_name, "method": config.method, "chunk": "full" if config.chunk_ms is None else str(config.chunk_ms),
              "wer": total.wer, "num_ref_words": total.ref_words, "insertions": total.insertions,
              "deletions": total.deletions, "substitutions": total.substitutions, "num_utterances": len(refs),
              "model_dir": str(config.model_dir), "decode_seconds": elapsed, "audio_seconds": audio_seconds, "rtf": rtf}
    with atomic_write(out / f"wer_{tag}.json") as f:
        json.dump(record, f, indent=1)
    log.info("%s", summary)
    return DecodeResult(hyps, refs, summary, total.wer, audio_seconds, elapsed, token_ids)


def write_text_file(path: Path, entries: dict[str, str]) -> None:
    """Kaldi ``text``: ``<utt-id> <words>`` lines sorted by id, written atomically."""
    with atomic_write(path) as f:
        for key in sorted(entries):
            f.write(f"{key} {entries[key]}".rstrip() + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--cuts", required=True, help="CutSet with features (data/fbank/<corpus>_cuts_<split>.jsonl.gz)")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--method", default="greedy_search", choices=METHODS)
    parser.add_argument("--chunk-ms", default="full", help="encoder chunk in ms (multiple of 40) or 'full'")
    parser.add_argument("--beam", type=int, default=4)
    add_decoding_end_arguments(parser, "each utterance", ("--tail-padding-ms", "--tail-pad-ms"))
    parser.add_argument("--max-duration", type=float, default=300.0, help="seconds of audio per batch")
    parser.add_argument("--num-threads", type=int, default=1, help="torch threads (1: best on a shared machine)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    chunk_ms = None if args.chunk_ms == "full" else int(args.chunk_ms)
    result = decode(DecodeConfig(args.model_dir, args.cuts, args.out_dir, args.method, chunk_ms, args.beam,
                                 args.max_sym_per_frame, args.tail_padding_ms, args.max_duration, args.num_threads))
    print(result.wer_summary)


if __name__ == "__main__":
    main()
