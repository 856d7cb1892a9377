"""HEC: the hybrid first pass, then the transducer as a second pass at each segment's end.

For each file: encode once, CTC-HLG best path over the whole file (word times), split it at
pauses (``asr.hybrid.decode.split_at_pauses``), and per segment take the first pass's n-best
(``nbest_from_log_probs`` on the segment's frames) and rescore it with the transducer's exact
sequence log-likelihood log p(y|x) over the segment's encoder frames (the full RNN-T loss,
``asr.losses.rnnt_loss`` with ``reduction="none"``, all hypotheses in one batch):

    score = am_weight * AM + lm_weight * LM + e2e_weight * log p(y|x)

AM is the CTC log-likelihood of the hypothesis' best alignment, LM the n-gram log-probability
(natural log), both from the first pass. The weights are options, to be tuned on dev.

The other way (``RescoreOptions(method="biased_search")``): the transducer's modified beam search
over the segment, biased toward the words of its n-best (``asr.hybrid.biased_search``); it can
write words the first pass missed, so it does not guarantee lexicon words.

Rescoring only chooses among first-pass hypotheses, all made of lexicon words, so it never
produces a word outside the lexicon and a word added to it (``asr lexicon add``) that the first
pass recognizes stays recognizable. A hypothesis the transducer's tokenizer cannot spell gets no
transducer score (-inf) and loses to every one it can.

When the transducer is the model the hybrid dir was built from (same ``model.pt``), one encoder
run serves both passes; otherwise each model encodes the audio, with the same chunking.

``GmmCascade``: the same rescoring over an HMM first pass (``asr.hybrid.gmm``, a GMM-HMM or a
DNN-HMM): its own MFCCs of the audio, the n-best of HCLG (``asr.hybrid.gmm.nbest``: AM the scaled
acoustic log-likelihood plus HMM transitions, LM the rest of the graph score), the transducer
encoding the same audio.
Without ``pause_ms``, whole utterances, one segment each (the first pass's words give its times);
with it, the HMM's best path over the whole file is split at pauses between words as above, and
each segment's audio gets its own n-best and transducer encoding (long recordings).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from asr import losses
from asr.decoding.options import DecodingOptions
from asr.errors import AsrError, ModelDirError
from asr.decoding.endpoint import EndpointConfig, detect_endpoint
from asr.decoding.online import OnlineStream, RecognitionResult
from asr.hybrid.decode import (HlgHypothesis, HlgOptions, HlgStream, HybridModel, HybridRecognizer, ctc_log_probs,
                               encode_features, encode_waveforms, nbest_from_log_probs, split_at_pauses)
from asr.models.model import Transducer, pad_targets
from asr.models.model_dir import LoadedModel
from asr.text.tokenizer import Tokenizer
from asr.utils.io import sha256_file

if TYPE_CHECKING:
    from asr.hybrid.gmm import GmmDecodeOptions, GmmModelDir


SECOND_PASS_METHODS = ("rescore", "biased_search")
# Longest segment the second pass gets (split_at_pauses' max_frames): its RNN-T lattice is
# frames x tokens x vocabulary for each hypothesis, 20 s about 60 MB.
MAX_SEGMENT_SECONDS = 20.0


@dataclass(frozen=True)
class RescoreOptions:
    """The second pass: ``method`` "rescore" (interpolation weights below, see the module
    docstring) or "biased_search" (``asr.hybrid.biased_search``: modified beam search of
    ``beam`` paths with ``bias_bonus`` per token toward the words of the segment's n-best)."""

    am_weight: float = 0.3
    lm_weight: float = 0.5
    e2e_weight: float = 1.0
    method: str = "rescore"
    bias_bonus: float = 1.5
    beam: int = 4

    def __post_init__(self) -> None:
        if self.method not in SECOND_PASS_METHODS:
            raise ValueError(f"second pass {self.method!r}: choose one of {', '.join(SECOND_PASS_METHODS)}")


@torch.no_grad()
def transducer_log_likelihoods(model: Transducer, encoder_out: torch.Tensor, token_seqs: Sequence[Sequence[int]]) -> list[float]:
    """log p(y|x) of each token sequence given the same encoder frames (T, C): minus the full
    RNN-T loss over all alignments, the hypotheses batched (padded to the longest)."""
    if not token_seqs:
        return []
    n, blank = len(token_seqs), model.blank_id
    y, y_lens = pad_targets(token_seqs, blank, encoder_out.device)
    sos_y = torch.cat([y.new_full((n, 1), blank), y], dim=1)  # (N, U + 1)
    decoder_out = model.joiner.project_decoder(model.predictor(sos_y))  # (N, U + 1, J)
    enc = model.joiner.project_encoder(encoder_out)[None].expand(n, -1, -1)  # (N, T, J)
    logits = model.joiner(enc[:, :, None, :], decoder_out[:, None, :, :])  # (N, T, U + 1, V)
    boundary = torch.zeros(n, 4, dtype=torch.int64, device=encoder_out.device)
    boundary[:, 2] = y_lens
    boundary[:, 3] = encoder_out.size(0)
    loss = losses.rnnt_loss(logits.float(), y, boundary=boundary, termination_symbol=blank,
                            rnnt_type=model.config.rnnt_type, reduction="none")
    return (-loss).tolist()


class FirstPassHypothesis(Protocol):
    """What the second pass needs of a first-pass n-best entry (``HlgHypothesis``, ``GmmHypothesis``):
    its words and first-pass AM and LM log-scores."""

    words: list[str]
    am_score: float
    lm_score: float

    @property
    def text(self) -> str: ...


@dataclass
class ScoredHypothesis:
    """An n-best entry with its scores; ``rank``: its position in the first pass's n-best."""

    words: list[str]
    am_score: float
    lm_score: float
    e2e_score: float
    score: float
    rank: int = 0


def rescore(model: Transducer, tokenizer: Tokenizer, encoder_out: torch.Tensor, nbest: Sequence[FirstPassHypothesis],
            options: RescoreOptions) -> list[ScoredHypothesis]:
    """The n-best with transducer scores and interpolated totals, best first (ties: first-pass order)."""
    spelled, seqs = [], []
    for k, hyp in enumerate(nbest):
        try:
            seqs.append(tokenizer.encode(hyp.text) if hyp.words else [])
            spelled.append(k)
        except AsrError:
            pass
    e2e = dict(zip(spelled, transducer_log_likelihoods(model, encoder_out, seqs)))
    out = []
    for k, hyp in enumerate(nbest):
        e = e2e.get(k, -math.inf)
        total = options.am_weight * hyp.am_score + options.lm_weight * hyp.lm_score + options.e2e_weight * e
        out.append(ScoredHypothesis(hyp.words, hyp.am_score, hyp.lm_score, e, total, k))
    out.sort(key=lambda h: -h.score if math.isfinite(h.score) else math.inf)
    return out


def best_rescored(scored: Sequence[ScoredHypothesis], nbest: Sequence[FirstPassHypothesis]) -> FirstPassHypothesis:
    """The n-best entry the second pass chose: the best finite total, else (no hypothesis the
    transducer can spell) the first pass's best."""
    return nbest[scored[0].rank] if scored and math.isfinite(scored[0].score) else nbest[0]


@dataclass
class CascadeSegment:
    """A segment: speech start/end in seconds from the file start, the cascade's text and the
    first pass's 1-best text of the same stretch."""

    start: float
    end: float
    text: str
    first_pass: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CascadeResult:
    text: str
    segments: list[CascadeSegment] = field(default_factory=list)
    first_pass: str = ""


class Cascade:
    """Hybrid first pass + transducer second pass over whole files (see the module docstring)."""

    def __init__(self, e2e: LoadedModel, hybrid: HybridModel, options: DecodingOptions | None = None,
                 hlg_options: HlgOptions | None = None, rescore_options: RescoreOptions | None = None) -> None:
        self.e2e, self.hybrid = e2e, hybrid
        self.options = options or DecodingOptions()
        self.hlg_options = hlg_options or HlgOptions()
        self.rescore_options = rescore_options or RescoreOptions()
        if e2e.config.frame_shift_ms != hybrid.loaded.config.frame_shift_ms:
            raise ModelDirError(f"{e2e.path} and {hybrid.path}: encoder frame shifts differ "
                                f"({e2e.config.frame_shift_ms} vs {hybrid.loaded.config.frame_shift_ms} ms)")
        weights = e2e.path / "model.pt"
        self.shared_encoder = weights.is_file() and sha256_file(weights) == hybrid.model_sha256
        self.frame_shift_s = e2e.config.frame_shift_s
        self.pause_frames = max(1, round(self.hlg_options.pause_ms / e2e.config.frame_shift_ms))
        self.max_segment_frames = round(MAX_SEGMENT_SECONDS / self.frame_shift_s)

    def decode(self, waveforms: Sequence[np.ndarray]) -> list[CascadeResult]:
        """Whole waveforms at the models' sample rate."""
        first_enc = encode_waveforms(self.hybrid.loaded, waveforms, self.options)
        e2e_enc = first_enc if self.shared_encoder else encode_waveforms(self.e2e, waveforms, self.options)
        return [self._decode_one(f, e) for f, e in zip(first_enc, e2e_enc)]

    def decode_features(self, features: Sequence[torch.Tensor]) -> list[CascadeResult]:
        """Whole utterances' raw fbank (T_i, F), as stored with cuts."""
        first_enc = encode_features(self.hybrid.loaded, features, self.options)
        e2e_enc = first_enc if self.shared_encoder else encode_features(self.e2e, features, self.options)
        return [self._decode_one(f, e) for f, e in zip(first_enc, e2e_enc)]

    def _decode_one(self, first_enc: torch.Tensor, e2e_enc: torch.Tensor) -> CascadeResult:
        log_probs = ctc_log_probs(self.hybrid.loaded.model, first_enc)
        stream = HlgStream(self.hybrid.graph, self.hlg_options)
        stream.accept(log_probs)
        best = stream.best()
        segments = []
        num_frames = min(log_probs.shape[0], e2e_enc.size(0))
        for seg in split_at_pauses(best, num_frames, self.pause_frames, self.max_segment_frames):
            text = self.second_pass(log_probs[seg.cut_start:seg.cut_end], e2e_enc[seg.cut_start:seg.cut_end])
            segments.append(CascadeSegment(round(seg.start * self.frame_shift_s, 3), round(seg.end * self.frame_shift_s, 3),
                                           text, " ".join(seg.words)))
        return CascadeResult(" ".join(s.text for s in segments if s.text), segments, best.text)

    def second_pass(self, log_probs: np.ndarray, e2e_enc: torch.Tensor) -> str:
        """The second pass's text of one segment's frames."""
        nbest = nbest_from_log_probs(self.hybrid.graph, log_probs, self.hlg_options)
        if self.rescore_options.method == "biased_search":
            from asr.decoding.text import Detokenizer
            from asr.hybrid.biased_search import biased_beam_search

            tokenizer = self.e2e.tokenizer
            pieces = [tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)]
            words = {w for h in nbest for w in h.words}
            hyp = biased_beam_search(self.e2e.model, e2e_enc, pieces, words, self.rescore_options.beam,
                                     self.rescore_options.bias_bonus)
            return Detokenizer(tokenizer).text(hyp.tokens)
        scored = rescore(self.e2e.model, self.e2e.tokenizer, e2e_enc, nbest, self.rescore_options)
        return best_rescored(scored, nbest).text


class GmmCascade:
    """HMM first pass (GMM-HMM or DNN-HMM) + transducer second pass (module docstring).

    ``decode`` returns one ``CascadeResult`` a waveform, its segments (none without words): the
    whole utterance, or with ``pause_ms`` the stretches between pauses of at least that long in
    the HMM's best path; ``decode_scored`` also returns each segment's rescored n-best (for tuning
    the weights).
    """

    def __init__(self, e2e: LoadedModel, gmm_dir: GmmModelDir, options: DecodingOptions | None = None,
                 gmm_options: GmmDecodeOptions | None = None, rescore_options: RescoreOptions | None = None,
                 pause_ms: int | None = None) -> None:
        if rescore_options is not None and rescore_options.method != "rescore":
            raise ValueError(f"GMM-HMM first pass: second pass {rescore_options.method!r} is not supported, only 'rescore'")
        self.e2e, self.gmm = e2e, gmm_dir
        self.options = options or DecodingOptions()
        self.gmm_options = gmm_options or gmm_dir.decode_options()
        self.rescore_options = rescore_options or RescoreOptions()
        self.sample_rate = e2e.feature_options.sample_rate
        features = gmm_dir.model.features
        self.frame_shift_s = features.frame_shift_seconds
        if pause_ms is not None and pause_ms <= 0:
            raise ValueError(f"pause_ms={pause_ms}: must be positive (None: whole utterances)")
        self.pause_frames = None if pause_ms is None else max(1, round(pause_ms / features.frame_shift_ms))
        self.max_segment_frames = round(MAX_SEGMENT_SECONDS / self.frame_shift_s)

    def decode(self, waveforms: Sequence[np.ndarray]) -> list[CascadeResult]:
        """Whole waveforms at the transducer's sample rate."""
        return [result for result, _ in self.decode_scored(waveforms)]

    def decode_scored(self, waveforms: Sequence[np.ndarray]) -> list[tuple[CascadeResult, list[list[ScoredHypothesis]]]]:
        from asr.features.mfcc import compute_mfcc
        from asr.hybrid.gmm import decode as gmm_decode

        features = self.gmm.model.features
        hop = round(features.sample_rate * self.frame_shift_s)
        window = round(features.sample_rate * features.frame_length_ms / 1000)
        out = []
        for samples in waveforms:
            # The HMM's features are computed once over the whole file and sliced per segment: a
            # short segment's own CMVN would be dominated by its silence.
            feats = compute_mfcc(self._hmm_rate(samples), features.sample_rate, features)
            if self.pause_frames is None:
                out.append(self._decode_segments([samples], [feats], [0], first_pass=None))
                continue
            best = gmm_decode(self.gmm, feats, self.gmm_options)
            pieces, slices, offsets = [], [], []
            for seg in split_at_pauses(best, len(feats), self.pause_frames, self.max_segment_frames):
                # the segment's frames: MFCC frame t reads samples [t * hop, t * hop + window)
                start, end = self._e2e_sample(seg.cut_start * hop), self._e2e_sample((seg.cut_end - 1) * hop + window)
                pieces.append(samples[start:end])
                slices.append(feats[seg.cut_start:seg.cut_end])
                offsets.append(seg.cut_start)
            out.append(self._decode_segments(pieces, slices, offsets, first_pass=best.text))
        return out

    def _hmm_rate(self, samples: np.ndarray) -> np.ndarray:
        from asr.audio.io import resample

        rate = self.gmm.model.features.sample_rate
        return samples if rate == self.sample_rate else resample(samples, self.sample_rate, rate)

    def _e2e_sample(self, hmm_sample: int) -> int:
        return round(hmm_sample * self.sample_rate / self.gmm.model.features.sample_rate)

    def _decode_segments(self, pieces: Sequence[np.ndarray], slices: Sequence[np.ndarray], offsets: Sequence[int],
                         first_pass: str | None) -> tuple[CascadeResult, list[list[ScoredHypothesis]]]:
        """Each segment of a file (its audio, its HMM features, its first HMM frame in the file)
        through the n-best and the rescoring; ``first_pass`` the file's 1-best text (None: the
        segments' n-best heads)."""
        from asr.hybrid.gmm import nbest as gmm_nbest

        e2e_enc = encode_waveforms(self.e2e, list(pieces), self.options) if pieces else []
        segments, scored_lists, heads = [], [], []
        for feats, offset, enc in zip(slices, offsets, e2e_enc):
            nbest = gmm_nbest(self.gmm, feats, self.gmm_options)
            scored = rescore(self.e2e.model, self.e2e.tokenizer, enc, nbest, self.rescore_options)
            chosen = best_rescored(scored, nbest)
            scored_lists.append(scored)
            heads.append(nbest[0].text)
            if chosen.words:
                segments.append(CascadeSegment(round((offset + chosen.word_starts[0]) * self.frame_shift_s, 3),
                                               round((offset + chosen.word_ends[-1]) * self.frame_shift_s, 3),
                                               chosen.text, nbest[0].text))
        text = " ".join(s.text for s in segments)
        first = first_pass if first_pass is not None else " ".join(h for h in heads if h)
        return CascadeResult(text, segments, first), scored_lists


class CascadeRecognizer(HybridRecognizer):
    """Streaming cascade for ``asr serve``: partials are the first pass's best path; a segment's
    final (at an endpoint of ``endpoint``, the rules the server applies to the same frame counts,
    or at the end of the input) is the second pass over the segment's frames.

    Needs the transducer the hybrid dir was built from (one encoder serves both passes).
    """

    def __init__(self, cascade: Cascade, options: DecodingOptions | None = None, endpoint: EndpointConfig | None = None) -> None:
        if not cascade.shared_encoder:
            raise ModelDirError(f"streaming cascade: {cascade.e2e.path} is not the model {cascade.hybrid.path} was built "
                                "from (hybrid.json's model_sha256); streaming needs one encoder for both passes")
        super().__init__(cascade.hybrid, options, cascade.hlg_options, keep_encoder=True)
        self.cascade, self.endpoint = cascade, endpoint
        self._finals: dict[int, tuple[tuple[int, int], str]] = {}

    def is_segment_end(self, stream: OnlineStream) -> bool:
        if stream.finalized:
            return True
        return self.endpoint is not None and detect_endpoint(
            self.endpoint, stream.num_processed_frames - stream.segment_start_frame,
            stream.num_trailing_blank_frames, self.frame_shift_s)

    def get_result(self, stream: OnlineStream) -> RecognitionResult:
        result = super().get_result(stream)
        if not self.is_segment_end(stream):
            return result
        first = stream.search_state.streams[0]
        key = (stream.segment, first.num_frames)
        cached = self._finals.get(id(stream))
        if cached is None or cached[0] != key:
            text = self.cascade.second_pass(first.log_probs, first.encoder_out) if first.num_frames else ""
            self._finals[id(stream)] = cached = (key, text)
        result.text = cached[1]
        return result

    def reset(self, stream: OnlineStream) -> None:
        self._finals.pop(id(stream), None)
        super().reset(stream)
