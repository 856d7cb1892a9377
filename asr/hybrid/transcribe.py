"""``asr transcribe`` with a hybrid model dir: the hybrid alone, or the HEC cascade.

    asr transcribe --model-dir HYBRID_DIR a.wav                      # first pass alone (CTC-HLG)
    asr transcribe --model-dir E2E_DIR --first-pass HYBRID_DIR a.wav  # hybrid, then transducer rescoring

HYBRID_DIR is either kind of first pass: a CTC-HLG dir (``hybrid.json``, asr/hybrid/decode.py) or
an HMM dir (``gmm.json``: the GMM-HMM of asr/hybrid/gmm.py or the DNN-HMM of
asr/hybrid/dnn_hmm.py; the cascade splits its best path at ``--pause-ms`` pauses and rescores each
segment's n-best, ``asr.hybrid.cascade.GmmCascade``; ``--second-pass biased_search`` does not
apply to it).

Text output is ``<file-stem>\\t<text>`` as for the transducer; ``--format jsonl`` prints one JSON
object a file: ``{"name", "text", "words": [{"word", "start", "end"}]}`` for the hybrid alone,
``{"name", "text", "first_pass", "segments": [{"start", "end", "text", "first_pass"}]}`` for the
cascade (times in seconds from the file start). The decoding flags (``--chunk-ms`` ...) choose the
encoder's chunking as for the transducer; ``--method`` does not apply.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from asr.audio import load_audio
from asr.decoding.options import DecodingOptions
from asr.errors import AsrError, AudioError


def add_hybrid_arguments(parser: argparse.ArgumentParser, output_format: bool = True) -> None:
    """The hybrid flags of ``asr transcribe``, ``asr serve`` (``output_format=False``),
    ``python -m asr.hybrid.evaluate`` and ``bench/cascade.py``."""
    group = parser.add_argument_group("hybrid first pass and cascade")
    group.add_argument("--first-pass", type=Path, metavar="HYBRID_DIR",
                       help="run the cascade: this hybrid model dir's CTC-HLG first pass, --model-dir's transducer second")
    group.add_argument("--hlg-beam", type=float, default=12.0, help="first-pass search beam")
    group.add_argument("--hlg-max-active", type=int, default=3000)
    group.add_argument("--acoustic-scale", type=float,
                       help="first-pass acoustic scale (default: 1.0 for CTC-HLG; an HMM dir's gmm.json records its own)")
    group.add_argument("--nbest", type=int, default=10, help="first-pass hypotheses rescored per segment")
    group.add_argument("--nbest-beam", type=float, default=8.0, help="search beam of the n-best lattice pass")
    group.add_argument("--lattice-beam", type=float, default=6.0)
    group.add_argument("--pause-ms", type=int, default=480, help="a pause this long between words ends a segment")
    group.add_argument("--am-weight", type=float, default=0.3, help="cascade: weight of the first-pass AM score")
    group.add_argument("--lm-weight", type=float, default=0.5, help="cascade: weight of the first-pass LM score")
    group.add_argument("--e2e-weight", type=float, default=1.0, help="cascade: weight of the transducer's log p(y|x)")
    group.add_argument("--second-pass", choices=("rescore", "biased_search"), default="rescore",
                       help="cascade: rescore the n-best, or beam search biased toward its words")
    group.add_argument("--bias-bonus", type=float, default=1.5, help="biased_search: log bonus per matching token")
    if output_format and not any("--format" in action.option_strings for action in parser._actions):
        group.add_argument("--format", choices=("text", "jsonl"), default="text", help="output lines")


def hlg_options_from_args(args: argparse.Namespace):
    from asr.hybrid.decode import HlgOptions

    return HlgOptions(beam=args.hlg_beam, max_active=args.hlg_max_active, nbest_beam=args.nbest_beam, lattice_beam=args.lattice_beam,
                      nbest=args.nbest, acoustic_scale=1.0 if args.acoustic_scale is None else args.acoustic_scale,
                      pause_ms=args.pause_ms)


def rescore_options_from_args(args: argparse.Namespace):
    from asr.hybrid.cascade import RescoreOptions

    return RescoreOptions(am_weight=args.am_weight, lm_weight=args.lm_weight, e2e_weight=args.e2e_weight,
                          method=args.second_pass, bias_bonus=args.bias_bonus, beam=getattr(args, "beam", 4))


def is_gmm_dir(path: str | Path) -> bool:
    """An HMM model dir, GMM-HMM or DNN-HMM (``gmm.json``; checked without importing kaldi-hmm-gmm)."""
    return (Path(path) / "gmm.json").is_file()


def uses_hybrid(args: argparse.Namespace) -> bool:
    """A hybrid model dir (``hybrid.json`` or ``gmm.json``; checked without importing kaldifst) or the cascade."""
    return (args.first_pass is not None or (Path(args.model_dir) / "hybrid.json").is_file()
            or is_gmm_dir(args.model_dir))


def gmm_options_from_args(args: argparse.Namespace, gmm_dir):
    """The HMM first pass's search settings: its model dir's, the n-best flags and --acoustic-scale in their place."""
    return gmm_dir.decode_options(nbest=args.nbest, lattice_beam=args.lattice_beam, acoustic_scale=args.acoustic_scale)


def build_streaming_recognizer(args: argparse.Namespace, options: DecodingOptions, endpoint=None):
    """``asr serve``'s recognizer for a hybrid model dir (first pass alone) or ``--first-pass``
    (the cascade; ``endpoint`` the server's rules, so finals come from the second pass);
    returns (recognizer, loaded model)."""
    from asr.hybrid.cascade import Cascade, CascadeRecognizer
    from asr.hybrid.decode import HybridRecognizer, load_hybrid_model_dir
    from asr.models import load_model_dir

    hlg_options = hlg_options_from_args(args)
    if is_gmm_dir(args.model_dir) or (args.first_pass is not None and is_gmm_dir(args.first_pass)):
        raise AsrError("asr serve: an HMM first pass (GMM-HMM or DNN-HMM) normalizes its features over the whole "
                       "file, so it decodes whole files (asr transcribe); serve a CTC-HLG hybrid dir instead")
    if args.first_pass is None:
        hybrid = load_hybrid_model_dir(args.model_dir)
        return HybridRecognizer(hybrid, options, hlg_options), hybrid.loaded
    e2e = load_model_dir(args.model_dir)
    cascade = Cascade(e2e, load_hybrid_model_dir(args.first_pass), options, hlg_options, rescore_options_from_args(args))
    return CascadeRecognizer(cascade, options, endpoint), e2e


def _long_file_options(options: DecodingOptions, loaded, samples: np.ndarray, max_offline_seconds: float) -> DecodingOptions:
    """Full context needs memory quadratic in the length: longer files use the largest training chunk."""
    if options.chunk_ms is not None or samples.size <= max_offline_seconds * loaded.feature_options.sample_rate:
        return options
    return options.replace(chunk_ms=max(loaded.config.chunk_sizes, default=32) * loaded.config.frame_shift_ms)


def main(args: argparse.Namespace) -> int:
    from asr.hybrid.cascade import Cascade
    from asr.hybrid.decode import decode_hybrid, load_hybrid_model_dir
    from asr.models import load_model_dir

    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    try:
        options = DecodingOptions.from_args(args)
        hlg_options = hlg_options_from_args(args)
        if is_gmm_dir(args.model_dir) and args.first_pass is None:
            return _main_gmm_alone(args)
        if args.first_pass is not None and is_gmm_dir(args.first_pass):
            from asr.hybrid.cascade import GmmCascade
            from asr.hybrid.gmm import load_model_dir as load_gmm_dir

            gmm_dir, loaded = load_gmm_dir(args.first_pass), load_model_dir(args.model_dir)
            cascade = GmmCascade(loaded, gmm_dir, options, gmm_options_from_args(args, gmm_dir),
                                 rescore_options_from_args(args), pause_ms=args.pause_ms)
        elif args.first_pass is not None:
            hybrid = load_hybrid_model_dir(args.first_pass)
            cascade = Cascade(load_model_dir(args.model_dir), hybrid, options, hlg_options, rescore_options_from_args(args))
            loaded = hybrid.loaded
        else:
            hybrid, cascade = load_hybrid_model_dir(args.model_dir), None
            loaded = hybrid.loaded
        options.chunk_frames(loaded.config.frame_shift_ms)
    except (AsrError, ValueError, OSError) as e:
        print(f"asr transcribe: error: {e}", file=sys.stderr)
        return 2
    shift = loaded.config.frame_shift_s

    def decode_file(path: Path, samples: np.ndarray) -> dict:
        file_options = _long_file_options(options, loaded, samples, args.max_offline_seconds)
        if cascade is not None:
            cascade.options = file_options
            result = cascade.decode([samples])[0]
            return {"name": path.stem, "text": result.text, "first_pass": result.first_pass,
                    "segments": [s.to_dict() for s in result.segments]}
        hyp = decode_hybrid(hybrid, [samples], file_options, hlg_options)[0]
        return _words_record(path, hyp, shift)

    return _transcribe_files(args, loaded.feature_options.sample_rate, decode_file)


def _words_record(path: Path, hyp, shift: float) -> dict:
    """The JSON record of a first pass alone: its text and word times in seconds."""
    return {"name": path.stem, "text": hyp.text,
            "words": [{"word": w, "start": round(s * shift, 3), "end": round(e * shift, 3)}
                      for w, s, e in zip(hyp.words, hyp.word_starts, hyp.word_ends)]}


def _transcribe_files(args: argparse.Namespace, rate: int, decode_file) -> int:
    """Load each of ``args.files`` at ``rate``, print ``decode_file(path, samples)``'s record (text or
    jsonl); a file that cannot be read is an error line and counts as failed (exit status 1)."""
    jsonl = getattr(args, "format", "text") == "jsonl"
    failed = 0
    for path in args.files:
        try:
            samples = load_audio(path, rate)
            if samples.size < rate // 100:
                raise AudioError(f"{path}: audio too short ({samples.size} samples < one 10 ms frame)")
        except AsrError as e:
            print(f"asr transcribe: error: {e}", file=sys.stderr)
            failed += 1
            continue
        record = decode_file(path, samples)
        print(json.dumps(record) if jsonl else f"{record['name']}\t{record['text']}", flush=True)
    if failed:
        print(f"asr transcribe: {failed} of {len(args.files)} files failed", file=sys.stderr)
    return 1 if failed else 0


def _main_gmm_alone(args: argparse.Namespace) -> int:
    """``asr transcribe --model-dir GMM_DIR``: the GMM-HMM's best path of each whole file."""
    from asr.features.mfcc import compute_mfcc
    from asr.hybrid.gmm import decode as gmm_decode
    from asr.hybrid.gmm import load_model_dir as load_gmm_dir

    gmm_dir = load_gmm_dir(args.model_dir)
    features = gmm_dir.model.features
    options = gmm_options_from_args(args, gmm_dir)

    def decode_file(path: Path, samples: np.ndarray) -> dict:
        hyp = gmm_decode(gmm_dir, compute_mfcc(samples, features.sample_rate, features), options)
        return _words_record(path, hyp, features.frame_shift_seconds)

    return _transcribe_files(args, features.sample_rate, decode_file)
