"""Streaming recognition, shaped like sherpa-onnx's ``OnlineRecognizer`` so a server maps 1:1.

A stream owns its audio front end (``OnlineFbank``), the feature frames not yet decoded, the
encoder state and the search state. ``decode_streams`` takes the streams with a full chunk of
features (or the final, partial one), stacks their chunks and encoder states, runs one
``encoder.infer`` and one search step for all of them, and hands each stream its new state.
Decoding a stream alone or inside any batch gives the same result.

Chunk by chunk with carried state equals the offline encoder with the same chunk mask
(``model.encode(feats, lens, chunk_size, left_context)``) followed by the same search.

When a stream's input finishes, ``tail_padding_ms`` of silence-level feature frames
(``asr.decoding.tail_padding``) follow its last real frame, so a causal model can still emit a
word that ends right at the end of the audio; ``decode_waveforms`` and ``asr.training.decode``
append the same frames, so all three give the same tokens. Only the true end of the input is
padded: ``reset`` (an endpoint) starts a new segment without any.

Times: ``num_processed_frames`` counts 40 ms encoder frames since the stream started;
``RecognitionResult.start_time`` is the current segment's start in seconds since the stream
started and ``timestamps`` are seconds since the segment's start (as sherpa-onnx).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import soxr
import torch

from asr.decoding.beam_search import Beam, best_hypothesis, init_beams, modified_beam_search_step
from asr.decoding.greedy import DEFAULT_MAX_SYM_PER_FRAME, GreedySearchState, greedy_search_step, init_greedy_state
from asr.decoding.hypothesis import Hypothesis
from asr.decoding.tail_padding import DEFAULT_TAIL_PADDING_MS, TAIL_PADDING_VALUE, tail_padding_frames
from asr.errors import AudioError
from asr.features import OnlineFbank
from asr.models.config import FRAME_SHIFT_S, SUBSAMPLING_FACTOR
from asr.models.encoder import stack_states, unstack_states
from asr.models.model_dir import LoadedModel

DECODING_METHODS = ("greedy_search", "modified_beam_search")
_FRAME_MS = round(FRAME_SHIFT_S * 1000)


@dataclass
class OnlineRecognizerConfig:
    """Streaming options.

    chunk_ms: audio per encoder chunk, a multiple of 40 ms (the model's latency step).
    left_context_ms: attention left context; None = the model config's ``left_context_frames``.
    decoding_method: "greedy_search" or "modified_beam_search" (``num_active_paths`` beams).
    max_sym_per_frame: greedy search's limit of tokens per encoder frame.
    tail_padding_ms: silence-level feature frames decoded after the input finishes (0: none).
    """

    chunk_ms: int = 320
    left_context_ms: int | None = None
    decoding_method: str = "greedy_search"
    num_active_paths: int = 4
    max_sym_per_frame: int = DEFAULT_MAX_SYM_PER_FRAME
    tail_padding_ms: int = DEFAULT_TAIL_PADDING_MS

    def __post_init__(self) -> None:
        if self.chunk_ms <= 0 or self.chunk_ms % _FRAME_MS:
            raise ValueError(f"chunk_ms={self.chunk_ms} must be a positive multiple of {_FRAME_MS}")
        if self.left_context_ms is not None and (self.left_context_ms < 0 or self.left_context_ms % _FRAME_MS):
            raise ValueError(f"left_context_ms={self.left_context_ms} must be a non-negative multiple of {_FRAME_MS}")
        if self.decoding_method not in DECODING_METHODS:
            raise ValueError(f"decoding_method={self.decoding_method!r} is not one of {DECODING_METHODS}")
        if self.num_active_paths < 1 or self.max_sym_per_frame < 1:
            raise ValueError("num_active_paths and max_sym_per_frame must be >= 1")
        if self.tail_padding_ms < 0:
            raise ValueError(f"tail_padding_ms={self.tail_padding_ms} must be >= 0")


@dataclass
class RecognitionResult:
    """The current segment's hypothesis.

    text: detokenized text; tokens: token pieces; token_ids: their ids; timestamps: seconds of
    each token from the segment start; start_time: segment start (s from the stream start);
    segment: index of the segment (0, 1, ... after each ``reset``).
    """

    text: str
    tokens: list[str]
    timestamps: list[float]
    start_time: float
    token_ids: list[int] = field(default_factory=list)
    segment: int = 0


class OnlineStream:
    """One audio stream: feed it with ``accept_waveform`` and end it with ``input_finished``.

    Created by ``OnlineRecognizer.create_stream``; the recognizer reads and updates its state.
    """

    def __init__(self, fbank: OnlineFbank, encoder_states: list[torch.Tensor],
                 greedy_state: GreedySearchState | None, beam: Beam | None, tail_padding_frames: int = 0) -> None:
        self.fbank = fbank
        self.tail_padding_frames = tail_padding_frames
        self.num_tail_frames_pending = 0  # tail padding not yet decoded (set by input_finished)
        self.encoder_states = encoder_states
        self.greedy_state = greedy_state
        self.beam = beam
        self.num_feature_frames_consumed = 0  # audio frames decoded (tail padding not counted)
        self.num_processed_frames = 0
        self.segment = 0
        self.segment_start_frame = 0
        self.num_samples_accepted = 0
        self._resampler: soxr.ResampleStream | None = None
        self._input_rate: int | None = None
        self._finished = False

    @property
    def sample_rate(self) -> int:
        """The rate the model's features are computed at."""
        return self.fbank.opts.sample_rate

    @property
    def is_finished(self) -> bool:
        return self._finished

    def accept_waveform(self, sample_rate: int, samples: np.ndarray) -> None:
        """Append float samples (T,) in [-1, 1]; other rates than ``sample_rate`` are resampled."""
        if self._finished:
            raise AudioError("accept_waveform() after input_finished() on this stream")
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 1:
            raise AudioError(f"expected 1-D samples (T,), got shape {samples.shape}")
        if not np.isfinite(samples).all():
            raise AudioError("samples contain NaN or infinite values")
        if self._input_rate is None:
            self._input_rate = int(sample_rate)
            if self._input_rate <= 0:
                raise AudioError(f"sample rate must be positive, got {sample_rate}")
            if self._input_rate != self.sample_rate:
                self._resampler = soxr.ResampleStream(self._input_rate, self.sample_rate, 1, dtype="float32")
        elif int(sample_rate) != self._input_rate:
            raise AudioError(f"sample rate changed within a stream: {self._input_rate} Hz, then {sample_rate} Hz")
        self.num_samples_accepted += samples.size
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        self.fbank.accept_waveform(samples)

    def input_finished(self) -> None:
        """No more audio: the tail padding follows the last frame, and the last, partial chunk
        becomes ready (it is padded when decoded, beyond its length).

        Raises ``AudioError`` if the stream got no audio, or too little for one 10 ms frame.
        """
        if self._finished:
            return
        if self._resampler is not None:
            self.fbank.accept_waveform(self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
        self.fbank.input_finished()
        self._finished = True
        if self.num_samples_accepted == 0:
            raise AudioError("empty audio: the stream ended without any samples")
        if self.fbank.num_frames_ready == 0:
            raise AudioError(f"audio too short: {self.num_samples_accepted} samples give no feature frame")
        self.num_tail_frames_pending = self.tail_padding_frames

    @property
    def num_pending_feature_frames(self) -> int:
        """Feature frames not yet decoded, tail padding included."""
        return self.fbank.num_frames_ready - self.num_feature_frames_consumed + self.num_tail_frames_pending

    def best_hypothesis(self) -> Hypothesis:
        """Best hypothesis of the current segment."""
        if self.greedy_state is not None:
            return self.greedy_state.hyps[0]
        assert self.beam is not None
        return best_hypothesis(self.beam)

    @property
    def num_trailing_blank_frames(self) -> int:
        """Encoder frames of the current segment after its last token (all of them if none)."""
        hyp = self.best_hypothesis()
        last = hyp.timestamps[-1] + 1 if hyp.timestamps else self.segment_start_frame
        return self.num_processed_frames - last


class OnlineRecognizer:
    """Batched streaming transducer decoding over many ``OnlineStream``s (sherpa-onnx shaped)."""

    def __init__(self, loaded: LoadedModel, config: OnlineRecognizerConfig | None = None) -> None:
        self.loaded = loaded
        self.model = loaded.model.eval()
        self.config = config or OnlineRecognizerConfig()
        self.chunk_frames = self.config.chunk_ms // _FRAME_MS
        self.chunk_feature_frames = self.chunk_frames * SUBSAMPLING_FACTOR
        self.left_context_frames = (loaded.config.left_context_frames if self.config.left_context_ms is None
                                    else self.config.left_context_ms // _FRAME_MS)
        self.device = next(self.model.parameters()).device

    @property
    def sample_rate(self) -> int:
        return self.loaded.feature_options.sample_rate

    @torch.no_grad()
    def create_stream(self) -> OnlineStream:
        greedy = beam = None
        if self.config.decoding_method == "greedy_search":
            greedy = init_greedy_state(self.model, 1, self.device)
        else:
            beam = init_beams(self.model, 1, self.device)[0]
        states = self.model.encoder.init_states(1, self.left_context_frames, self.device)
        opts = self.loaded.feature_options
        return OnlineStream(OnlineFbank(opts), states, greedy, beam,
                            tail_padding_frames(self.config.tail_padding_ms, opts.frame_shift_ms))

    def is_ready(self, stream: OnlineStream) -> bool:
        """A full chunk of features is waiting, or the input has finished and some frames remain."""
        pending = stream.num_pending_feature_frames
        return pending >= self.chunk_feature_frames or (stream.is_finished and pending > 0)

    @torch.no_grad()
    def decode_streams(self, streams: list[OnlineStream]) -> None:
        """One chunk for every ready stream in ``streams``, as one batch; others are left alone."""
        ready = [s for s in streams if self.is_ready(s)]
        if not ready:
            return
        size, dim = self.chunk_feature_frames, self.loaded.config.feature_dim
        feats = np.zeros((len(ready), size, dim), dtype=np.float32)  # beyond lens: masked, any value
        lens, real = [], []
        for i, s in enumerate(ready):
            n = min(size, s.num_pending_feature_frames)
            m = min(n, s.fbank.num_frames_ready - s.num_feature_frames_consumed)  # real frames, then tail padding
            feats[i, :m] = s.fbank.get_frames(s.num_feature_frames_consumed, m)
            feats[i, m:n] = TAIL_PADDING_VALUE
            lens.append(n)
            real.append(m)
        chunk_lens = torch.tensor(lens, dtype=torch.int64, device=self.device)
        out, out_lens, states = self.model.encoder.infer(
            torch.from_numpy(feats).to(self.device), chunk_lens, stack_states([s.encoder_states for s in ready]))
        for s, state in zip(ready, unstack_states(states)):
            s.encoder_states = state
        if self.config.decoding_method == "greedy_search":
            batch = GreedySearchState.stack([s.greedy_state for s in ready])
            batch = greedy_search_step(self.model, out, out_lens, batch, self.config.max_sym_per_frame)
            for s, state in zip(ready, batch.split()):
                s.greedy_state = state
        else:
            beams = modified_beam_search_step(self.model, out, out_lens, [s.beam for s in ready],
                                              [s.num_processed_frames for s in ready], self.config.num_active_paths)
            for s, beam in zip(ready, beams):
                s.beam = beam
        for s, n, m, frames in zip(ready, lens, real, out_lens.tolist()):
            s.num_feature_frames_consumed += m
            s.num_tail_frames_pending -= n - m
            s.num_processed_frames += frames
            s.fbank.discard(s.num_feature_frames_consumed)  # a long stream keeps no decoded frames

    def decode_stream(self, stream: OnlineStream) -> None:
        self.decode_streams([stream])

    def decode_until_done(self, streams: list[OnlineStream]) -> None:
        """Decode every ready chunk of ``streams`` (batched), e.g. after ``input_finished``."""
        while any(self.is_ready(s) for s in streams):
            self.decode_streams(streams)

    def get_result(self, stream: OnlineStream) -> RecognitionResult:
        hyp = stream.best_hypothesis()
        tokenizer = self.loaded.tokenizer
        start = stream.segment_start_frame
        return RecognitionResult(
            text=tokenizer.decode(hyp.tokens),
            tokens=[tokenizer.id_to_token(t) for t in hyp.tokens],
            timestamps=[round((t - start) * FRAME_SHIFT_S, 3) for t in hyp.timestamps],
            start_time=round(start * FRAME_SHIFT_S, 3),
            token_ids=list(hyp.tokens),
            segment=stream.segment,
        )

    def reset(self, stream: OnlineStream) -> None:
        """Start a new segment: tokens are cleared, encoder and predictor context are kept."""
        best = stream.best_hypothesis()
        fresh = Hypothesis(decoder_out=best.decoder_out, predictor_state=best.predictor_state)
        if stream.greedy_state is not None:
            stream.greedy_state.hyps = [fresh]
        else:
            stream.beam = [fresh]
        stream.segment += 1
        stream.segment_start_frame = stream.num_processed_frames
