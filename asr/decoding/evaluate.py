"""Decode a CutSet with a model dir and score it.

    python -m asr.decoding.evaluate --model-dir exp/transducer/model \
        --cuts data/fbank/fsdd_cuts_test.jsonl.gz --method greedy_search --chunk-ms 320 --out-dir exp/decode

``--chunk-ms full`` (the default) runs the encoder with full context; ``--chunk-ms N`` runs it
with N ms chunks and the model's left context (or ``--left-context-ms``): the chunk mask the
streaming encoder is proven equal to, so the result is what chunk-by-chunk streaming gives. The
decoding flags are ``asr.decoding.options.add_decoding_arguments``, with the defaults of
``asr transcribe`` and ``asr serve`` (3 tokens a frame at most, 160 ms of silence-level feature
frames after each utterance), so the WER scores the text users get from the same model.
Writes, under ``<out-dir>/<method>_<chunk>/``, the Kaldi-style ``text`` (hypotheses) and ``ref``
files and the scorer's outputs, and ``<out-dir>/wer_<method>_<chunk>.txt`` with the WER summary
line (and a ``.json`` twin that ``python -m asr.training.report`` turns into a table).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from lhotse import CutSet
from tqdm import tqdm

from asr.decoding.greedy import DEFAULT_MAX_SYM_PER_FRAME
from asr.decoding.offline import decode_features
from asr.decoding.options import DecodingOptions, add_decoding_arguments
from asr.decoding.tail_padding import DEFAULT_TAIL_PADDING_MS
from asr.decoding.text import Detokenizer
from asr.errors import ModelDirError
from asr.training.dataset import AsrDataset, DataConfig, SpecAugmentConfig, cut_text, make_dataloader, make_sampler
from asr.utils.io import atomic_write

log = logging.getLogger("asr.decode")


@dataclass
class EvaluateConfig:
    """One decode-and-score run: what to decode (``cuts`` with features, ``model_dir``), how
    (``options``), where the results go (``out_dir``), and the batching of the run."""

    model_dir: str
    cuts: str
    out_dir: str
    options: DecodingOptions = field(default_factory=DecodingOptions)
    max_duration: float = 300.0
    """Seconds of audio per batch."""
    num_threads: int = 1


def DecodeConfig(model_dir: str, cuts: str, out_dir: str, method: str = "greedy_search", chunk_ms: int | None = None,
                 beam: int = 4, max_sym_per_frame: int = DEFAULT_MAX_SYM_PER_FRAME,
                 tail_padding_ms: int = DEFAULT_TAIL_PADDING_MS, max_duration: float = 300.0,
                 num_threads: int = 1) -> EvaluateConfig:  # noqa: N802 - the former class's name
    """``EvaluateConfig`` from the flat keywords of the former ``asr.training.decode.DecodeConfig``
    (kept for the training test that decodes with them)."""
    options = DecodingOptions(method=method, beam=beam, chunk_ms=chunk_ms, max_sym_per_frame=max_sym_per_frame,
                              tail_padding_ms=tail_padding_ms)
    return EvaluateConfig(model_dir, cuts, out_dir, options, max_duration, num_threads)


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


@torch.no_grad()
def decode(config: EvaluateConfig) -> DecodeResult:
    """Decode ``config.cuts``, write hyps/refs, score, and write the WER summary."""
    from asr.models import load_model_dir
    from asr.scoring import compute_wer, per_speaker, write_wer_details

    options = config.options
    torch.set_num_threads(config.num_threads)
    loaded = load_model_dir(config.model_dir)
    model, detokenizer = loaded.model.eval(), Detokenizer(loaded.tokenizer)
    options.chunk_frames(loaded.config.frame_shift_ms)  # a bad chunk fails before any decoding
    cuts = CutSet.from_file(config.cuts).to_eager()
    missing = [c.id for c in cuts if not c.has_features]
    if missing:
        raise ModelDirError(f"{config.cuts}: cuts without features, e.g. {missing[:3]} (run the feature stage)")
    data = DataConfig(max_duration=config.max_duration, shuffle=False, spec_augment=SpecAugmentConfig(enabled=False))
    sampler = make_sampler(cuts, data, shuffle=False)
    loader = make_dataloader(AsrDataset(tokenizer=None), sampler)
    hyps: dict[str, str] = {}
    token_ids: dict[str, list[int]] = {}
    refs = {c.id: cut_text(c) for c in cuts}
    audio_seconds = sum(c.duration for c in cuts)
    start = time.perf_counter()
    tag = options.tag
    for batch in tqdm(loader, desc=f"decode {tag}", mininterval=5.0):
        results = decode_features(model, batch["features"], batch["feature_lens"], options,
                                  loaded.feature_options.frame_shift_ms)
        for cut_id, hyp in zip(batch["cut_ids"], results):
            hyps[cut_id] = detokenizer.text(hyp.tokens)
            token_ids[cut_id] = list(hyp.tokens)
    elapsed = time.perf_counter() - start

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
    record = {"cuts": cuts_name, "method": options.method, "method_options": dict(options.method_options),
              "beam": options.beam, "chunk": "full" if options.chunk_ms is None else str(options.chunk_ms),
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
    add_decoding_arguments(parser, end="each utterance")
    parser.add_argument("--max-duration", type=float, default=300.0, help="seconds of audio per batch")
    parser.add_argument("--num-threads", type=int, default=1, help="torch threads (1: best on a shared machine)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        options = DecodingOptions.from_args(args)
    except ValueError as e:
        parser.error(str(e))
    result = decode(EvaluateConfig(args.model_dir, args.cuts, args.out_dir, options, args.max_duration, args.num_threads))
    print(result.wer_summary)


if __name__ == "__main__":
    main()
