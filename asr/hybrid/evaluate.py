"""Decode a CutSet with the hybrid first pass alone or the cascade, and score it.

    python -m asr.hybrid.evaluate --model-dir exp/hybrid/model --cuts data/fbank/synth_cuts_test.jsonl.gz \
        --out-dir exp/hybrid/decode [--chunk-ms 320]
    python -m asr.hybrid.evaluate --model-dir exp/transducer/model --first-pass exp/hybrid/model \
        --cuts data/fbank/synth_cuts_test.jsonl.gz --out-dir exp/cascade/decode

The layout of ``asr.decoding.evaluate``: ``<out-dir>/<tag>/{text,ref,wer,per_utt}`` and
``<out-dir>/wer_<tag>.{txt,json}`` (with RTF, and the OOV rate of the references against the
first pass's lexicon), tags ``hybrid_<chunk>`` and ``cascade_<chunk>``; the cascade also writes
``<tag>/segments.jsonl`` and the first pass's text as ``<tag>/text_first_pass``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from lhotse import CutSet
from tqdm import tqdm

from asr.decoding.evaluate import write_text_file
from asr.decoding.options import DecodingOptions, add_decoding_arguments
from asr.errors import ModelDirError
from asr.hybrid.transcribe import add_hybrid_arguments, hlg_options_from_args, rescore_options_from_args
from asr.training.dataset import cut_text
from asr.utils.io import atomic_write

log = logging.getLogger("asr.hybrid.evaluate")


@dataclass
class HybridDecodeResult:
    wer: float
    summary: str
    record: dict


def oov_rate(refs: dict[str, str], lexicon: set[str]) -> float:
    words = [w for text in refs.values() for w in text.split()]
    return sum(w not in lexicon for w in words) / max(len(words), 1)


@torch.no_grad()
def evaluate(model_dir: str, cuts_path: str, out_dir: str, options: DecodingOptions, hlg_options, rescore_options,
             first_pass: str | None = None, num_threads: int = 1) -> HybridDecodeResult:
    from asr.hybrid.cascade import Cascade
    from asr.hybrid.decode import decode_hybrid_encoded, encode_features, load_hybrid_model_dir
    from asr.models import load_model_dir
    from asr.scoring import compute_wer, write_wer_details

    torch.set_num_threads(num_threads)
    if first_pass:
        hybrid = load_hybrid_model_dir(first_pass)
        cascade = Cascade(load_model_dir(model_dir), hybrid, options, hlg_options, rescore_options)
    else:
        hybrid, cascade = load_hybrid_model_dir(model_dir), None
    options.chunk_frames(hybrid.loaded.config.frame_shift_ms)
    cuts = CutSet.from_file(cuts_path).to_eager()
    missing = [c.id for c in cuts if not c.has_features]
    if missing:
        raise ModelDirError(f"{cuts_path}: cuts without features, e.g. {missing[:3]} (run the feature stage)")
    chunk = "full" if options.chunk_ms is None else str(options.chunk_ms)
    kind = "hybrid" if cascade is None else ("cascade" if rescore_options.method == "rescore" else "cascade_biased")
    tag = f"{kind}_{chunk}" + ("ms" if options.chunk_ms else "")
    refs = {c.id: cut_text(c) for c in cuts}
    hyps, first, segments = {}, {}, []
    audio_seconds = sum(c.duration for c in cuts)
    start = time.perf_counter()
    for cut in tqdm(cuts, desc=f"decode {tag}", mininterval=5.0):
        feats = torch.from_numpy(cut.load_features())
        if cascade is not None:
            result = cascade.decode_features([feats])[0]
            hyps[cut.id], first[cut.id] = result.text, result.first_pass
            segments.append({"id": cut.id, "segments": [s.to_dict() for s in result.segments]})
        else:
            enc = encode_features(hybrid.loaded, [feats], options)
            hyps[cut.id] = decode_hybrid_encoded(hybrid, enc, hlg_options)[0].text
    elapsed = time.perf_counter() - start

    out = Path(out_dir)
    work = out / tag
    write_text_file(work / "text", hyps)
    write_text_file(work / "ref", refs)
    if cascade is not None:
        write_text_file(work / "text_first_pass", first)
        with atomic_write(work / "segments.jsonl") as f:
            f.writelines(json.dumps(s) + "\n" for s in segments)
    result = compute_wer(refs, hyps)
    write_wer_details(result, work)
    rtf = elapsed / max(audio_seconds, 1e-9)
    oov = oov_rate(refs, set(hybrid.graph.spellings))
    cuts_name = Path(cuts_path).name.removesuffix(".jsonl.gz")
    summary = (f"{result.summary()} {cuts_name} {tag} [decode {elapsed:.1f} s for {audio_seconds:.1f} s audio, "
               f"RTF {rtf:.4f}, OOV {100 * oov:.2f}%]")
    total = result.total
    record = {"cuts": cuts_name, "method": kind, "chunk": chunk, "wer": total.wer,
              "num_ref_words": total.ref_words, "insertions": total.insertions, "deletions": total.deletions,
              "substitutions": total.substitutions, "num_utterances": len(refs), "model_dir": str(model_dir),
              "first_pass": first_pass, "decode_seconds": elapsed, "audio_seconds": audio_seconds, "rtf": rtf,
              "oov_rate": oov}
    if cascade is not None:
        record["first_pass_wer"] = compute_wer(refs, first).total.wer
    with atomic_write(out / f"wer_{tag}.txt") as f:
        f.write(summary + "\n")
    with atomic_write(out / f"wer_{tag}.json") as f:
        json.dump(record, f, indent=1)
    log.info("%s", summary)
    return HybridDecodeResult(total.wer, summary, record)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", required=True, help="hybrid model dir, or with --first-pass the transducer's")
    parser.add_argument("--cuts", required=True)
    parser.add_argument("--out-dir", required=True)
    add_decoding_arguments(parser, end="each utterance")
    add_hybrid_arguments(parser)
    parser.add_argument("--num-threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        options = DecodingOptions.from_args(args)
    except ValueError as e:
        parser.error(str(e))
    first = str(args.first_pass) if args.first_pass else None
    result = evaluate(args.model_dir, args.cuts, args.out_dir, options, hlg_options_from_args(args),
                      rescore_options_from_args(args), first, args.num_threads)
    print(result.summary)


if __name__ == "__main__":
    main()
