"""CTC-HLG decoding of a transducer's CTC head: the hybrid first pass (icefall's ``ctc_decode.py``
with ``--decoding-method 1best/nbest`` over HLG, and sherpa-onnx's ``OnlineCtcFstDecoder``).

The graph is a token lang dir's HLG (``asr.hybrid.lang.write_token_lang_dir``): input labels are
CTC token ids + 1, output labels ``words.txt`` ids, weights the n-gram LM's costs (L and H carry
none). ``kaldi_decoder.DecodableCtc`` reads ``log_probs[t, label - 1]``.

- ``HlgStream``: ``FasterDecoder`` fed chunk by chunk (``DecodableCtc(chunk, offset)`` then
  ``advance_decoding``), the best path at any time (partials) with word times in encoder frames.
- ``nbest_from_log_probs``: ``LatticeSimpleDecoder``'s raw lattice, projected on words,
  determinized, its ``n`` best distinct word sequences, each with its AM score (log-likelihood
  of its best CTC alignment, unscaled) and LM score (G's log-probability, natural log).
- ``split_at_pauses``: segments of a best path, cut where the pause between two words (blank
  frames) reaches ``pause_frames``.
- ``HybridModel`` / ``save_hybrid_model_dir`` / ``load_hybrid_model_dir``: the hybrid model dir
  (a transducer model dir with a CTC head + ``HLG.fst``, ``G.fst``, ``words.txt``, ``lexicon.txt``
  and ``hybrid.json`` naming the model, tokens and words the graph was built for).
- ``CtcHlgSearch`` / ``HybridRecognizer``: the first pass as a search over ``OnlineRecognizer``'s
  streams, so features, chunks, tail padding and segments are the transducer path's.

Keep the graph alive while a decoder uses it: kaldi-decoder holds no Python reference to it, so
every decoder here keeps its ``HlgGraph``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from asr.hybrid.fst import GraphError, linear_path, load_fst, nbest_word_sequences, num_arcs

import kaldi_decoder  # noqa: E402  (asr.hybrid.fst explains a missing install)
import kaldifst  # noqa: E402

from asr.decoding.hypothesis import Hypothesis
from asr.decoding.online import OnlineRecognizer, OnlineStream, RecognitionResult
from asr.decoding.options import DecodingOptions
from asr.decoding.search import SearchMethod, SearchState
from asr.decoding.tail_padding import pad_tail, tail_padding_frames
from asr.errors import ModelDirError
from asr.features import compute_fbank
from asr.hybrid.lang import read_symbols
from asr.models.model import Transducer
from asr.models.model_dir import LoadedModel, load_model_dir
from asr.utils import fields_below
from asr.utils.io import atomic_path, atomic_write, check_recorded_sha256, read_dir_config, sha256_file

HYBRID_CONFIG = "hybrid.json"
GRAPH_FILES = ("HLG.fst", "G.fst", "words.txt", "lexicon.txt")


@dataclass(frozen=True)
class HlgOptions:
    """First-pass search settings.

    beam / max_active: FasterDecoder's pruning (best path, partials); nbest_beam / lattice_beam:
    LatticeSimpleDecoder's search and lattice pruning for the n-best (it has no max_active, so its
    beam is narrower: flat posteriors at beam 12 cost 5 s a second of audio, at 8 0.2 s);
    nbest: distinct word sequences per segment for the second pass;
    acoustic_scale: multiplies the CTC log-probs before the search (LM weight = 1/acoustic_scale);
    pause_ms: a pause between words at least this long ends a segment (``split_at_pauses``).
    """

    beam: float = 12.0
    max_active: int = 3000
    nbest_beam: float = 8.0
    lattice_beam: float = 6.0
    nbest: int = 10
    acoustic_scale: float = 1.0
    pause_ms: int = 480

    def __post_init__(self) -> None:
        bad = fields_below(self, ("beam", "nbest_beam", "lattice_beam", "acoustic_scale"), 0, or_equal=True)
        bad += fields_below(self, ("max_active", "nbest", "pause_ms"), 1)
        if bad:
            raise ValueError(f"HlgOptions: {', '.join(bad)} must be positive")


@dataclass
class HlgHypothesis:
    """A first-pass result. Frames are encoder frames from the start of the decoded log-probs
    (plus the stream's offset); ``word_ends`` are exclusive. ``tokens`` / ``token_frames``: the
    collapsed CTC token ids and the frame each was emitted at (empty for n-best entries).
    ``am_score``: CTC log-likelihood of the path (unscaled); ``lm_score``: graph log-probability."""

    words: list[str] = field(default_factory=list)
    word_starts: list[int] = field(default_factory=list)
    word_ends: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    token_frames: list[int] = field(default_factory=list)
    am_score: float = 0.0
    lm_score: float = 0.0

    @property
    def text(self) -> str:
        return " ".join(self.words)


@dataclass
class HlgGraph:
    """HLG (ilabel-sorted), G with back-off arcs as epsilons (for LM scores), symbol tables, and
    each word's spellings as token-id tuples."""

    hlg: kaldifst.StdVectorFst
    G: kaldifst.StdVectorFst
    words: dict[int, str]
    spellings: dict[str, list[tuple[int, ...]]]

    @classmethod
    def load(cls, graph_dir: str | os.PathLike) -> HlgGraph:
        graph_dir = Path(graph_dir)
        hlg = load_fst(graph_dir / "HLG.fst")
        kaldifst.arcsort(hlg, sort_type="ilabel")
        words = {i: w for w, i in read_symbols(graph_dir / "words.txt").items()}
        tokens = read_symbols(graph_dir / "tokens.txt")
        spellings: dict[str, list[tuple[int, ...]]] = {}
        for line in (graph_dir / "lexicon.txt").read_text(encoding="utf-8").splitlines():
            fields = line.split()
            if fields:
                missing = [p for p in fields[1:] if p not in tokens]
                if missing:
                    raise GraphError(f"{graph_dir}/lexicon.txt: {fields[0]} uses {missing}, not in tokens.txt")
                spellings.setdefault(fields[0], []).append(tuple(tokens[p] for p in fields[1:]))
        return cls(hlg=hlg, G=_epsilon_backoff(load_fst(graph_dir / "G.fst"), read_symbols(graph_dir / "words.txt")),
                   words=words, spellings=spellings)

    def lm_score(self, word_ids: Sequence[int]) -> float:
        """log-probability (tropical: the best back-off path) of the word sequence under G."""
        linear = kaldifst.make_linear_acceptor(list(word_ids))
        kaldifst.arcsort(linear, sort_type="olabel")
        best = kaldifst.shortest_path(kaldifst.compose(linear, self.G))
        ok, _, _, weight = kaldifst.get_linear_symbol_sequence(best)
        if not ok or best.num_states == 0:
            return float("-inf")
        return -float(weight.value)


def _epsilon_backoff(G: kaldifst.StdVectorFst, words: dict[str, int]) -> kaldifst.StdVectorFst:
    """G with its ``#0`` back-off input labels turned into epsilons (a plain weighted acceptor)."""
    disambig = words.get("#0")
    text = []
    for line in G.to_str(show_weight_one=True).splitlines():
        fields = line.split()
        if len(fields) >= 4 and int(fields[2]) == disambig:
            fields[2] = "0"
        text.append("\t".join(fields))
    out = kaldifst.compile("\n".join(text) + "\n")
    kaldifst.arcsort(out, sort_type="ilabel")
    return out


class HlgStream:
    """FasterDecoder over one stream's CTC log-probs, fed chunk by chunk (see the module docstring).

    ``frame_offset`` is the absolute frame of this decoder's first frame (a new segment of a stream
    starts a new decoder). The log-probs of the segment are kept for the n-best at its end.
    """

    def __init__(self, graph: HlgGraph, options: HlgOptions, frame_offset: int = 0, keep_encoder: bool = False) -> None:
        self.graph, self.options, self.frame_offset = graph, options, frame_offset
        self.keep_encoder = keep_encoder
        self.encoder_chunks: list[torch.Tensor] = []  # with keep_encoder: the segment's encoder frames
        self.decoder = kaldi_decoder.FasterDecoder(
            graph.hlg, kaldi_decoder.FasterDecoderOptions(beam=options.beam, max_active=options.max_active))
        self.decoder.init_decoding()
        self.num_frames = 0
        self.chunks: list[np.ndarray] = []

    def accept(self, log_probs: np.ndarray, encoder_out: torch.Tensor | None = None) -> None:
        """Decode the next frames: (T, V) CTC log-probs, unscaled (and their (T, C) encoder frames,
        kept for a second pass when the stream keeps them)."""
        if log_probs.shape[0] == 0:
            return
        if self.keep_encoder and encoder_out is not None:
            self.encoder_chunks.append(encoder_out.detach().clone())
        log_probs = np.ascontiguousarray(log_probs, dtype=np.float32)
        self.chunks.append(log_probs)
        scaled = log_probs * np.float32(self.options.acoustic_scale)
        self.decoder.advance_decoding(kaldi_decoder.DecodableCtc(scaled, offset=self.num_frames))
        self.num_frames += log_probs.shape[0]

    @property
    def log_probs(self) -> np.ndarray:
        """(T, V) the log-probs decoded so far (empty (0, 0) before any)."""
        return np.concatenate(self.chunks) if self.chunks else np.zeros((0, 0), dtype=np.float32)

    def best(self, final: bool = True) -> HlgHypothesis:
        """The best path so far; ``final`` requires it to end in a final state when one is reached."""
        if self.num_frames == 0:
            return HlgHypothesis()
        ok, lattice = self.decoder.get_best_path(use_final_probs=final)
        if not ok:
            return HlgHypothesis()
        hyp = best_path_hypothesis(lattice, self.graph, self.options.acoustic_scale)
        return shift_frames(hyp, self.frame_offset)

    @property
    def encoder_out(self) -> torch.Tensor:
        """(T, C) the kept encoder frames of the segment."""
        return torch.cat(self.encoder_chunks) if self.encoder_chunks else torch.zeros(0, 0)

    def next_segment(self) -> HlgStream:
        """A fresh decoder for the frames that follow this one's."""
        return HlgStream(self.graph, self.options, self.frame_offset + self.num_frames, self.keep_encoder)


def shift_frames(hyp: HlgHypothesis, offset: int) -> HlgHypothesis:
    if offset == 0:
        return hyp
    return HlgHypothesis(hyp.words, [s + offset for s in hyp.word_starts], [e + offset for e in hyp.word_ends],
                         hyp.tokens, [t + offset for t in hyp.token_frames], hyp.am_score, hyp.lm_score)


def best_path_hypothesis(lattice, graph: HlgGraph, acoustic_scale: float = 1.0) -> HlgHypothesis:
    """Words, word times, collapsed CTC tokens and scores of a linear best-path lattice.

    Every arc with an input label consumes one frame (token = label - 1). Word times come from
    matching the emitted tokens to the words' spellings in order; a word whose spelling does not
    match (a graph from another lexicon) gets the frame where the graph output it.
    """
    path, graph_cost, acoustic_cost = linear_path(lattice)
    frame_tokens: list[int] = []
    word_ids: list[int] = []
    word_out_frames: list[int] = []
    for ilabel, olabel in path:
        if olabel != 0:
            word_ids.append(olabel)
            word_out_frames.append(len(frame_tokens))
        if ilabel != 0:
            frame_tokens.append(ilabel - 1)
    tokens, token_frames, prev = [], [], 0
    for t, token in enumerate(frame_tokens):
        if token != 0 and token != prev:
            tokens.append(token)
            token_frames.append(t)
        prev = token
    words = [graph.words[i] for i in word_ids]
    starts, ends = _word_times(words, tokens, token_frames, graph.spellings, word_out_frames, frame_tokens)
    return HlgHypothesis(words, starts, ends, tokens, token_frames,
                         am_score=-acoustic_cost / acoustic_scale, lm_score=-graph_cost)


def _word_times(words: list[str], tokens: list[int], token_frames: list[int], spellings: dict[str, list[tuple[int, ...]]],
                out_frames: list[int], frame_tokens: list[int]) -> tuple[list[int], list[int]]:
    """(start, exclusive end) frame of each word: its first token's frame, and one past the last
    frame of its last token (the token's run of repeated frames)."""
    starts, ends, pos = [], [], 0
    for k, word in enumerate(words):
        match = next((s for s in spellings.get(word, []) if tuple(tokens[pos:pos + len(s)]) == s), None)
        if match is None or not match:
            starts.append(out_frames[k])
            ends.append(out_frames[k] + 1)
            continue
        starts.append(token_frames[pos])
        last = token_frames[pos + len(match) - 1]
        end = last + 1
        while end < len(frame_tokens) and frame_tokens[end] == frame_tokens[last]:
            end += 1
        ends.append(end)
        pos += len(match)
    return starts, ends


def nbest_from_log_probs(graph: HlgGraph, log_probs: np.ndarray, options: HlgOptions) -> list[HlgHypothesis]:
    """The ``options.nbest`` best distinct word sequences of the lattice of (T, V) log-probs, best
    first, with AM (unscaled CTC log-likelihood of the best alignment) and LM scores; no times."""
    if log_probs.shape[0] == 0:
        return [HlgHypothesis()]
    decoder = kaldi_decoder.LatticeSimpleDecoder(
        graph.hlg, kaldi_decoder.LatticeSimpleDecoderConfig(beam=options.nbest_beam, lattice_beam=options.lattice_beam))
    scaled = np.ascontiguousarray(log_probs * np.float32(options.acoustic_scale), dtype=np.float32)
    decoder.decode(kaldi_decoder.DecodableCtc(scaled))
    ok, lattice = decoder.get_raw_lattice(use_final_probs=True)
    if not ok:
        return [HlgHypothesis()]
    out = []
    for word_ids, cost in nbest_word_sequences(lattice, options.nbest):
        lm = graph.lm_score(word_ids)
        out.append(HlgHypothesis(words=[graph.words[i] for i in word_ids], am_score=(-cost - lm) / options.acoustic_scale,
                                 lm_score=lm))
    out.sort(key=lambda h: -(h.am_score * options.acoustic_scale + h.lm_score))
    return out or [HlgHypothesis()]


@dataclass
class Segment:
    """A stretch of audio between pauses: ``start``/``end`` encoder frames of its speech (first
    word's start, last word's end), ``cut_start``/``cut_end`` the frames it owns (cut at the middle
    of the pauses around it), and the first pass's words."""

    start: int
    end: int
    cut_start: int
    cut_end: int
    words: list[str] = field(default_factory=list)


def split_at_pauses(hyp: HlgHypothesis, num_frames: int, pause_frames: int, max_frames: int | None = None) -> list[Segment]:
    """Segments of a first-pass best path: a new one starts where the gap between a word's end and
    the next word's start is at least ``pause_frames``. No words: no segments. A segment whose
    speech is longer than ``max_frames`` is split again at its longest gap between words, until
    none is (or it is one word): the second pass's cost grows with the square of a segment's length,
    and a recording without long pauses would otherwise be one segment."""
    if not hyp.words:
        return []
    groups: list[list[int]] = [[0]]
    for k in range(1, len(hyp.words)):
        if hyp.word_starts[k] - hyp.word_ends[k - 1] >= pause_frames:
            groups.append([])
        groups[-1].append(k)
    if max_frames is not None:
        groups = [part for g in groups for part in _split_long(hyp, g, max_frames)]
    segments = []
    for g, idx in enumerate(groups):
        first, last = idx[0], idx[-1]
        cut_start = 0 if g == 0 else (hyp.word_ends[groups[g - 1][-1]] + hyp.word_starts[first]) // 2
        cut_end = num_frames if g == len(groups) - 1 else (hyp.word_ends[last] + hyp.word_starts[groups[g + 1][0]]) // 2
        segments.append(Segment(hyp.word_starts[first], hyp.word_ends[last], cut_start, cut_end,
                                [hyp.words[k] for k in idx]))
    return segments


def _split_long(hyp: HlgHypothesis, group: list[int], max_frames: int) -> list[list[int]]:
    """``group`` (word indices) split at its longest gaps until each part spans ``max_frames`` at most."""
    if len(group) < 2 or hyp.word_ends[group[-1]] - hyp.word_starts[group[0]] <= max_frames:
        return [group]
    _, k = max((hyp.word_starts[group[k]] - hyp.word_ends[group[k - 1]], k) for k in range(1, len(group)))
    return _split_long(hyp, group[:k], max_frames) + _split_long(hyp, group[k:], max_frames)


# ---------------------------------------------------------------------------------------------
# The hybrid model dir


@dataclass
class HybridModel:
    """A loaded hybrid model dir: the CTC-head transducer, its graph and its config."""

    loaded: LoadedModel
    graph: HlgGraph
    config: dict
    path: Path

    @property
    def model_sha256(self) -> str:
        return self.config["model_sha256"]


def is_hybrid_model_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / HYBRID_CONFIG).is_file()


def save_hybrid_model_dir(out_dir: str | os.PathLike, model_dir: str | os.PathLike, lang_dir: str | os.PathLike) -> Path:
    """Make a hybrid model dir from a transducer model dir with a CTC head and a token lang dir
    built from its tokens (``python -m asr.hybrid.prepare LANG --tokens-dir MODEL_DIR``).

    Refuses (``ModelDirError``) a model without a CTC head and a lang dir spelled in other tokens.
    ``hybrid.json`` is written last, so a dir with it is complete.
    """
    out_dir, model_dir, lang_dir = Path(out_dir), Path(model_dir), Path(lang_dir)
    loaded = load_model_dir(model_dir)
    if loaded.model.ctc is None:
        raise ModelDirError(f"{model_dir}: the model has no CTC head (train it with use_ctc: true): HLG decodes "
                            "the CTC head's posteriors")
    for name in GRAPH_FILES + ("tokens.txt",):
        if not (lang_dir / name).is_file():
            raise ModelDirError(f"{lang_dir}: no {name} (build it with python -m asr.hybrid.prepare "
                                f"{lang_dir} --tokens-dir {model_dir} --text ...)")
    if sha256_file(lang_dir / "tokens.txt") != sha256_file(model_dir / "tokens.txt"):
        raise ModelDirError(f"{lang_dir}/tokens.txt differs from {model_dir}/tokens.txt: the graph was spelled in "
                            "another model's tokens; rebuild the lang dir with --tokens-dir pointing at this model")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / HYBRID_CONFIG).unlink(missing_ok=True)
    for name in ("model.pt", "config.json", "tokens.txt", "bpe.model"):
        if (model_dir / name).is_file():
            with atomic_path(out_dir / name) as tmp:
                shutil.copyfile(model_dir / name, tmp)
    for name in GRAPH_FILES:
        with atomic_path(out_dir / name) as tmp:
            shutil.copyfile(lang_dir / name, tmp)
    hlg = load_fst(out_dir / "HLG.fst")
    config = {
        "kind": "ctc_hlg",
        "source_model_dir": str(model_dir.resolve()),
        "lang_dir": str(lang_dir.resolve()),
        "model_sha256": sha256_file(out_dir / "model.pt"),
        "tokens_sha256": sha256_file(out_dir / "tokens.txt"),
        "words_sha256": sha256_file(out_dir / "words.txt"),
        "graph_sha256": sha256_file(out_dir / "HLG.fst"),
        "graph_states": hlg.num_states,
        "graph_arcs": num_arcs(hlg),
        "num_words": sum(1 for line in (out_dir / "lexicon.txt").read_text(encoding="utf-8").splitlines() if line.strip()),
    }
    with atomic_write(out_dir / HYBRID_CONFIG) as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    return out_dir


def load_hybrid_model_dir(path: str | os.PathLike, device: str | torch.device = "cpu") -> HybridModel:
    """Load a hybrid model dir; a graph, words.txt or tokens.txt that is not the one recorded in
    ``hybrid.json`` (the graph built for other words or tokens) raises ``ModelDirError`` naming it."""
    path = Path(path)
    config = read_dir_config(path, HYBRID_CONFIG, "hybrid", "python -m asr.hybrid.model_dir")
    recorded = {name: config.get(key) for name, key in (("words.txt", "words_sha256"), ("tokens.txt", "tokens_sha256"),
                                                         ("HLG.fst", "graph_sha256"))}
    check_recorded_sha256(path, recorded, HYBRID_CONFIG, "HLG.fst",
                          "the graph would map labels to the wrong words or tokens; rebuild the hybrid model dir")
    loaded = load_model_dir(path, device)
    if loaded.model.ctc is None:
        raise ModelDirError(f"{path}: the model has no CTC head")
    return HybridModel(loaded=loaded, graph=HlgGraph.load(path), config=config, path=path)


# ---------------------------------------------------------------------------------------------
# Offline and streaming first pass


@torch.no_grad()
def encode_waveforms(loaded: LoadedModel, waveforms: Sequence[np.ndarray], options: DecodingOptions) -> list[torch.Tensor]:
    """Each waveform's encoder output (T_i, C), as ``encode_features`` gives for its fbank."""
    opts = loaded.feature_options
    return encode_features(loaded, [torch.from_numpy(compute_fbank(w, opts.sample_rate, opts)) for w in waveforms], options)


@torch.no_grad()
def encode_features(loaded: LoadedModel, features: Sequence[torch.Tensor], options: DecodingOptions) -> list[torch.Tensor]:
    """Each (T_i, F) fbank's encoder output (T'_i, C): tail-padded, full context or ``options.chunk_ms``
    chunks (the masks ``OnlineRecognizer``'s chunks equal), as ``decode_features`` encodes."""
    model = loaded.model
    lens = torch.tensor([f.size(0) for f in features], dtype=torch.int64)
    x = torch.nn.utils.rnn.pad_sequence(list(features), batch_first=True)
    x, lens = pad_tail(x, lens, tail_padding_frames(options.tail_padding_ms, loaded.feature_options.frame_shift_ms))
    chunk = options.chunk_frames(model.config.frame_shift_ms)
    left = None if chunk < 0 else options.left_context_frames(model.config.frame_shift_ms, model.config.left_context_frames)
    device = next(model.parameters()).device
    enc, enc_lens = model.encode(x.to(device), lens.to(device), chunk, left)
    return [enc[i, : int(enc_lens[i])] for i in range(len(features))]


@torch.no_grad()
def ctc_log_probs(model: Transducer, encoder_out: torch.Tensor) -> np.ndarray:
    """(T, C) encoder frames -> (T, V) CTC log-probs as float32 numpy."""
    return model.ctc(encoder_out[None])[0].float().cpu().numpy()


def decode_hybrid(hybrid: HybridModel, waveforms: Sequence[np.ndarray], options: DecodingOptions | None = None,
                  hlg_options: HlgOptions | None = None) -> list[HlgHypothesis]:
    """The hybrid alone: each waveform's best path over HLG (words and word times in frames)."""
    options = options or DecodingOptions()
    return decode_hybrid_encoded(hybrid, encode_waveforms(hybrid.loaded, waveforms, options), hlg_options)


def decode_hybrid_encoded(hybrid: HybridModel, encoder_outs: Sequence[torch.Tensor],
                          hlg_options: HlgOptions | None = None) -> list[HlgHypothesis]:
    """Best paths over HLG of encoder outputs (T_i, C) of the hybrid's model."""
    hlg_options = hlg_options or HlgOptions()
    out = []
    for enc in encoder_outs:
        stream = HlgStream(hybrid.graph, hlg_options)
        stream.accept(ctc_log_probs(hybrid.loaded.model, enc))
        out.append(stream.best())
    return out


class CtcHlgSearchState(SearchState):
    """One ``HlgStream`` per utterance (Python objects: each stream owns its own)."""

    def __init__(self, streams: list[HlgStream]) -> None:
        self.streams = streams

    @classmethod
    def stack(cls, states: Sequence[CtcHlgSearchState]) -> CtcHlgSearchState:
        return cls([s for state in states for s in state.streams])

    def unstack(self) -> list[CtcHlgSearchState]:
        return [CtcHlgSearchState([s]) for s in self.streams]

    def best_hypotheses(self) -> list[Hypothesis]:
        out = []
        for s in self.streams:
            best = s.best(final=False)
            out.append(Hypothesis(tokens=best.tokens, timestamps=best.token_frames, log_prob=best.am_score + best.lm_score))
        return out

    def new_segment(self) -> CtcHlgSearchState:
        return CtcHlgSearchState([s.next_segment() for s in self.streams])


class CtcHlgSearch(SearchMethod):
    """The first pass as a search method over the CTC head (not registered: it needs a graph)."""

    name = "ctc_hlg"

    def __init__(self, graph: HlgGraph, options: HlgOptions, keep_encoder: bool = False) -> None:
        self.graph, self.hlg_options, self.keep_encoder = graph, options, keep_encoder

    def init_state(self, model: Transducer, batch_size: int, device: torch.device | str = "cpu") -> CtcHlgSearchState:
        return CtcHlgSearchState([HlgStream(self.graph, self.hlg_options, keep_encoder=self.keep_encoder)
                                  for _ in range(batch_size)])

    @torch.no_grad()
    def step(self, model: Transducer, encoder_out: torch.Tensor, encoder_out_lens: torch.Tensor,
             state: CtcHlgSearchState, options: DecodingOptions) -> CtcHlgSearchState:
        log_probs = model.ctc(encoder_out).float().cpu().numpy()
        for i, stream in enumerate(state.streams):
            n = int(encoder_out_lens[i])
            stream.accept(log_probs[i, :n], encoder_out[i, :n])
        return state


class HybridRecognizer(OnlineRecognizer):
    """``OnlineRecognizer`` whose search is the CTC-HLG first pass: partials are the best path so
    far over HLG, words from the graph. ``options.method`` is ignored."""

    def __init__(self, hybrid: HybridModel, options: DecodingOptions | None = None, hlg_options: HlgOptions | None = None,
                 keep_encoder: bool = False) -> None:
        super().__init__(hybrid.loaded, options)
        self.hybrid = hybrid
        self.hlg_options = hlg_options or HlgOptions()
        self.search = CtcHlgSearch(hybrid.graph, self.hlg_options, keep_encoder)

    def first_pass(self, stream: OnlineStream, final: bool | None = None) -> HlgHypothesis:
        """The current segment's best path (``final``: end in a final state; default: once the
        stream's input has finished and every frame is decoded)."""
        final = stream.finalized if final is None else final
        return stream.search_state.streams[0].best(final=final)

    def get_result(self, stream: OnlineStream) -> RecognitionResult:
        hyp = self.first_pass(stream)
        start = stream.segment_start_frame
        pieces = self.detokenizer.pieces(hyp.tokens)
        return RecognitionResult(
            text=hyp.text, tokens=pieces,
            timestamps=[round((t - start) * self.frame_shift_s, 3) for t in hyp.token_frames],
            start_time=round(start * self.frame_shift_s, 3), token_ids=list(hyp.tokens), segment=stream.segment)
