"""Streaming recognition, shaped like sherpa-onnx's ``OnlineRecognizer`` so a server maps 1:1.

A stream owns its audio front end (``OnlineFbank``), the feature frames not yet decoded, the
encoder state and the search state. ``decode_streams`` takes the streams with a full chunk of
features (or the final, partial one), stacks their chunks and encoder states, runs one
``encoder.infer`` and one search step for all of them, and hands each stream its new state.
Decoding a stream alone or inside any batch gives the same result.

Chunk by chunk with carried state equals the offline encoder with the same chunk mask
(``model.encode(feats, lens, chunk_size, left_context)``) followed by the same search.

The search is whichever ``DecodingOptions.method`` names in the registry
(``asr.decoding.search``); the recognizer only stacks, steps and unstacks its typed state.

When a stream's input finishes, ``tail_padding_ms`` of silence-level feature frames
(``asr.decoding.tail_padding``) follow its last real frame, so a causal model can still emit a
word that ends right at the end of the audio; ``decode_waveforms`` and ``asr.decoding.evaluate``
append the same frames, so all three give the same tokens. Only the true end of the input is
padded: ``reset`` (an endpoint) starts a new segment without any.

Times: ``num_processed_frames`` counts encoder frames (``frame_shift_s``, 40 ms) since the stream started;
``RecognitionResult.start_time`` is the current segment's start in seconds since the stream
started and ``timestamps`` are seconds since the segment's start (as sherpa-onnx).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import soxr
import torch

from asr.decoding.hypothesis import Hypothesis
from asr.decoding.options import DEFAULT_STREAMING_CHUNK_MS, DecodingOptions
from asr.decoding.search import SearchState
from asr.decoding.tail_padding import TAIL_PADDING_VALUE, tail_padding_frames
from asr.decoding.text import Detokenizer
from asr.errors import AudioError
from asr.features import OnlineFbank
from asr.models.encoder import EncoderState
from asr.models.model_dir import LoadedModel


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

    def __init__(self, fbank: OnlineFbank, encoder_state: EncoderState, search_state: SearchState,
                 tail_padding_frames: int = 0) -> None:
        self.fbank = fbank
        self.tail_padding_frames = tail_padding_frames
        self.num_tail_frames_pending = 0  # tail padding not yet decoded (set by input_finished)
        self.encoder_state = encoder_state
        self.search_state = search_state  # batch 1
        self.finalized = False  # the search's finalize ran (input finished, every frame decoded)
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
        return self.search_state.best_hypotheses()[0]

    @property
    def num_trailing_blank_frames(self) -> int:
        """Encoder frames of the current segment after its last token (all of them if none)."""
        hyp = self.best_hypothesis()
        last = hyp.timestamps[-1] + 1 if hyp.timestamps else self.segment_start_frame
        return self.num_processed_frames - last


class OnlineRecognizer:
    """Batched streaming transducer decoding over many ``OnlineStream``s (sherpa-onnx shaped).

    ``options.chunk_ms`` must be set (streaming has no full context); without options the chunk is
    ``DEFAULT_STREAMING_CHUNK_MS``. Raises ``ValueError`` for a chunk or left context that is not
    a multiple of the model's frame shift.
    """

    def __init__(self, loaded: LoadedModel, options: DecodingOptions | None = None) -> None:
        self.loaded = loaded
        self.model = loaded.model.eval()
        self.options = options or DecodingOptions(chunk_ms=DEFAULT_STREAMING_CHUNK_MS)
        if self.options.chunk_ms is None:
            raise ValueError("streaming needs a chunk: set DecodingOptions.chunk_ms (full context is offline only)")
        config = loaded.config
        if config.output_channels > 1:
            raise ValueError("a SURT model has one output per channel: stream it with "
                             "asr.decoding.surt.MultiChannelRecognizer, not OnlineRecognizer")
        self.search = self.options.search
        self.chunk_frames = self.options.chunk_frames(config.frame_shift_ms)
        self.chunk_feature_frames = self.chunk_frames * config.subsampling_factor
        self.left_context_frames = self.options.left_context_frames(config.frame_shift_ms, config.left_context_frames)
        self.frame_shift_s = config.frame_shift_s
        self.detokenizer = Detokenizer(loaded.tokenizer)
        self.device = next(self.model.parameters()).device

    @property
    def config(self) -> DecodingOptions:
        """The decoding options (sherpa-onnx calls them the recognizer's config)."""
        return self.options

    @property
    def sample_rate(self) -> int:
        return self.loaded.feature_options.sample_rate

    @torch.no_grad()
    def create_stream(self) -> OnlineStream:
        opts = self.loaded.feature_options
        return OnlineStream(OnlineFbank(opts),
                            self.model.encoder.init_states(1, self.left_context_frames, self.device),
                            self.search.init_state(self.model, 1, self.device),
                            tail_padding_frames(self.options.tail_padding_ms, opts.frame_shift_ms))

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
        out, out_lens, encoder_state = self.model.encoder.infer(
            torch.from_numpy(feats).to(self.device), chunk_lens, EncoderState.stack([s.encoder_state for s in ready]))
        search_state = type(ready[0].search_state).stack([s.search_state for s in ready])
        search_state = self.search.step(self.model, out, out_lens, search_state, self.options)
        for s, enc, search in zip(ready, encoder_state.unstack(), search_state.unstack()):
            s.encoder_state, s.search_state = enc, search
        for s, n, m, frames in zip(ready, lens, real, out_lens.tolist()):
            s.num_feature_frames_consumed += m
            s.num_tail_frames_pending -= n - m
            s.num_processed_frames += frames
            s.fbank.discard(s.num_feature_frames_consumed)  # a long stream keeps no decoded frames
            if s.is_finished and s.num_pending_feature_frames == 0 and not s.finalized:
                s.search_state = self.search.finalize(self.model, s.search_state, self.options)
                s.finalized = True

    def decode_stream(self, stream: OnlineStream) -> None:
        self.decode_streams([stream])

    def decode_until_done(self, streams: list[OnlineStream]) -> None:
        """Decode every ready chunk of ``streams`` (batched), e.g. after ``input_finished``."""
        while any(self.is_ready(s) for s in streams):
            self.decode_streams(streams)

    def get_result(self, stream: OnlineStream) -> RecognitionResult:
        hyp = stream.best_hypothesis()
        start = stream.segment_start_frame
        return RecognitionResult(
            text=self.detokenizer.text(hyp.tokens),
            tokens=self.detokenizer.pieces(hyp.tokens),
            timestamps=[round((t - start) * self.frame_shift_s, 3) for t in hyp.timestamps],
            start_time=round(start * self.frame_shift_s, 3),
            token_ids=list(hyp.tokens),
            segment=stream.segment,
        )

    def reset(self, stream: OnlineStream) -> None:
        """Start a new segment: tokens are cleared, encoder and predictor context are kept."""
        stream.search_state = stream.search_state.new_segment()
        stream.segment += 1
        stream.segment_start_frame = stream.num_processed_frames
