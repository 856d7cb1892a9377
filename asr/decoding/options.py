"""``DecodingOptions``: the one set of decoding options, and the command-line flags that fill it.

Used by ``decode_waveforms``, ``OnlineRecognizer``, ``python -m asr.decoding.evaluate``,
``asr transcribe``, ``asr serve`` and ``bench/``, so one flag means one thing everywhere and the
defaults (3 symbols a frame, 160 ms of tail padding) agree: streaming with chunk N gives the
tokens that the recipes' chunk-N WER scores.

Validation happens in two places only: ``__post_init__`` for what the options alone decide, and
``chunk_frames`` / ``left_context_frames`` for what depends on the model's frame shift (chunks
and left context are whole encoder frames).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from dataclasses import dataclass

from asr.decoding.greedy import DEFAULT_MAX_SYM_PER_FRAME
from asr.decoding.search import SearchMethod, get_search, search_method_names
from asr.decoding.tail_padding import DEFAULT_TAIL_PADDING_MS

DEFAULT_STREAMING_CHUNK_MS = 320
"""Chunk of ``asr serve`` and of an ``OnlineRecognizer`` built without options."""


@dataclass(frozen=True)
class DecodingOptions:
    """How to decode.

    method: a registered search method (``asr.decoding.search.search_method_names()``).
    beam: active paths of beam searches (sherpa-onnx's ``num_active_paths``).
    chunk_ms: encoder chunk in ms, a multiple of the model's frame shift (40 ms); None: full
        context (offline only; streaming needs a chunk).
    left_context_ms: attention left context when chunked; None: the model config's.
    max_sym_per_frame: greedy search's limit of tokens per encoder frame.
    tail_padding_ms: silence-level feature frames decoded after the end of the input (0: none).
    method_options: the method's own settings as ``(field, value)`` text pairs (``--method-option``),
        checked against its ``SearchMethod.options_type``; read them as ``method_config``.
    """

    method: str = "greedy_search"
    beam: int = 4
    chunk_ms: int | None = None
    left_context_ms: int | None = None
    max_sym_per_frame: int = DEFAULT_MAX_SYM_PER_FRAME
    tail_padding_ms: int = DEFAULT_TAIL_PADDING_MS
    method_options: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "method_options", tuple((str(k), str(v)) for k, v in self.method_options))
        get_search(self.method).parse_options(self.method_options)  # raises naming the method or the option
        problems = []
        if self.beam < 1:
            problems.append(f"beam={self.beam} must be >= 1")
        if self.max_sym_per_frame < 1:
            problems.append(f"max_sym_per_frame={self.max_sym_per_frame} must be >= 1")
        if self.tail_padding_ms < 0:
            problems.append(f"tail_padding_ms={self.tail_padding_ms} must be >= 0")
        if self.chunk_ms is not None and self.chunk_ms <= 0:
            problems.append(f"chunk_ms={self.chunk_ms} must be positive (None: full context)")
        if self.left_context_ms is not None and self.left_context_ms < 0:
            problems.append(f"left_context_ms={self.left_context_ms} must be >= 0")
        if problems:
            raise ValueError("invalid decoding options: " + "; ".join(problems))

    @property
    def search(self) -> SearchMethod:
        return get_search(self.method)

    @property
    def method_config(self) -> object | None:
        """The method's options dataclass (``SearchMethod.options_type``) from ``method_options``."""
        return self.search.parse_options(self.method_options)

    @property
    def num_active_paths(self) -> int:
        """sherpa-onnx's name of ``beam``."""
        return self.beam

    def replace(self, **changes: object) -> "DecodingOptions":
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def chunk_frames(self, frame_shift_ms: int) -> int:
        """Encoder frames per chunk (``-1`` for full context); ``ValueError`` unless ``chunk_ms`` is a
        positive multiple of ``frame_shift_ms``."""
        if self.chunk_ms is None:
            return -1
        if self.chunk_ms % frame_shift_ms:
            raise ValueError(f"chunk_ms={self.chunk_ms} must be a positive multiple of {frame_shift_ms} ms "
                             "(the model's output frame shift)")
        return self.chunk_ms // frame_shift_ms

    def left_context_frames(self, frame_shift_ms: int, default: int) -> int:
        """Encoder frames of left context (``default``, the model's, when ``left_context_ms`` is None)."""
        if self.left_context_ms is None:
            return default
        if self.left_context_ms % frame_shift_ms:
            raise ValueError(f"left_context_ms={self.left_context_ms} must be a non-negative multiple of "
                             f"{frame_shift_ms} ms (the model's output frame shift)")
        return self.left_context_ms // frame_shift_ms

    @property
    def tag(self) -> str:
        """Names a decoding run in output paths: ``<method>_full`` or ``<method>_chunk<N>ms``."""
        settings = "".join(f"_{k}{_path_safe(v)}" for k, v in self.method_options)
        return f"{self.method}{settings}_{'full' if self.chunk_ms is None else f'chunk{self.chunk_ms}ms'}"

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "DecodingOptions":
        """From the flags of ``add_decoding_arguments``."""
        return cls(method=args.method, beam=args.beam, chunk_ms=args.chunk_ms, left_context_ms=args.left_context_ms,
                   max_sym_per_frame=args.max_sym_per_frame, tail_padding_ms=args.tail_padding_ms,
                   method_options=tuple(getattr(args, "method_options", None) or ()))


def _path_safe(value: str) -> str:
    """A method option's value as part of a directory name: a path gives its file name (an LM
    path would otherwise nest the output dirs), other unsafe characters become ``_``."""
    if "/" in value:
        value = value.rstrip("/").rpartition("/")[2]
    return re.sub(r"[^\w.=+-]", "_", value)


def parse_chunk_ms(value: str) -> int | None:
    """``--chunk-ms`` values: milliseconds, or ``full`` for full context."""
    if value == "full":
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is neither a number of ms nor 'full'") from None


def parse_method_option(value: str) -> tuple[str, str]:
    """``--method-option`` values: ``KEY=VALUE``."""
    key, sep, text = value.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{value!r} is not KEY=VALUE")
    return key, text


def add_decoding_arguments(parser: argparse.ArgumentParser, *, default_chunk_ms: int | None = None,
                           end: str = "each utterance") -> None:
    """The flags of every CLI that decodes (read back with ``DecodingOptions.from_args``).

    ``default_chunk_ms``: None (full context) for offline decoding, a chunk for servers;
    ``end`` says what the tail padding follows (e.g. "each file's end"). Old spellings stay as
    aliases: ``--decoding-method``, ``--num-active-paths``, ``--tail-pad-ms``.
    """
    defaults = DecodingOptions()
    add_search_arguments(parser)
    full = "full context" if default_chunk_ms is None else f"{default_chunk_ms} ms"
    parser.add_argument("--chunk-ms", type=parse_chunk_ms, default=default_chunk_ms,
                        help=f"encoder chunk in ms (a multiple of 40) or 'full' (default: {full})")
    parser.add_argument("--left-context-ms", type=int, default=None,
                        help="attention left context in ms when chunked (default: the model's)")
    parser.add_argument("--max-sym-per-frame", type=int, default=defaults.max_sym_per_frame,
                        help="greedy search: tokens per encoder frame at most")
    parser.add_argument("--tail-padding-ms", "--tail-pad-ms", dest="tail_padding_ms", type=int,
                        default=defaults.tail_padding_ms,
                        help=f"silence-level feature frames decoded after {end} (ms; 0: none)")


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    """``--method``, ``--beam`` and ``--method-option``: the search part of ``add_decoding_arguments``,
    for tools that set the chunking themselves (``bench/nonspeech.py``)."""
    defaults = DecodingOptions()
    parser.add_argument("--method", "--decoding-method", dest="method", choices=search_method_names(),
                        default=defaults.method, help="search method")
    parser.add_argument("--beam", "--num-active-paths", dest="beam", type=int, default=defaults.beam,
                        help="active paths of beam searches")
    parser.add_argument("--method-option", dest="method_options", type=parse_method_option, action="append",
                        default=[], metavar="KEY=VALUE",
                        help="a setting of the search method itself (repeatable), e.g. lm_scale=0.3")


def add_itn_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--itn/--no-itn`` with the one default of ``asr transcribe`` and ``asr serve``: on when the
    ITN tagger and grammars load (``asr.decoding.text.load_itn``)."""
    parser.add_argument("--itn", action=argparse.BooleanOptionalAction, default=None,
                        help=f"inverse text normalization of {what} (default: on if the ITN tagger and grammars "
                        "load, else off with a log line; --itn makes a load failure fatal)")
