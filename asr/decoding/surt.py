"""Streaming multi-channel recognition with per-channel endpoints: SURT's ``<eos>`` and a rule fallback.

``MultiChannelRecognizer`` streams audio through a SURT model (``asr.models.SurtModel``: C output
channels) or a single-talker transducer (one channel), chunk by chunk, with the registered
greedy search over the ``N * C`` channel rows (stream-major, as the model stacks them); ``greedy_search`` and
``modified_beam_search`` (``options.method``) both work. After
each chunk, every channel is checked for the end of a segment:

- ``<eos>`` (the model's ``config.eos_id``) in the channel's best hypothesis: the tokens before it
  become a final segment (``eos=True``), its text is reset to the tokens after it (beam search
  keeps the hypotheses that share the finalized prefix, with it removed, and drops the others:
  a final segment is not revised); the predictor context is *kept*
  (it has seen the ``<eos>``, as in training, where a channel's target is its utterances
  joined by ``<eos>``), unless greedy search's ``eos_to_predictor=false`` kept the ``<eos>``
  from it: then the context goes on from the sentence's last token, and the repeats of the
  ``<eos>`` in the silence that follows count once;
- with ``eos_min_silence`` S > 0, an ``<eos>`` counts only once the channel has emitted nothing
  for S seconds after the token before it (``eos_decision``): until then it is pending, and a
  token that comes sooner cancels it (it was a pause inside the sentence: the ``<eos>`` leaves the
  text, the segment goes on; the predictor keeps having seen it). A pending ``<eos>`` at the end
  of input counts. The endpoint is then the audio consumed when the silence was confirmed;
- otherwise the fallback rule (sherpa-onnx's rule 2 by default: 1.2 s of trailing blanks after
  something was decoded) finalizes the segment with ``eos=False``;
- at the end of input whatever is left is final (``eos=False``).

A segment's ``start``/``end`` are its first token's frame and one frame past its last token's, in
seconds of the input; ``endpoint`` is when it was finalized: the audio consumed when the chunk
that emitted ``<eos>`` (or fired the rule) was decoded, or the end of input. ITN (``itn``) is
applied to each final segment's text, as ``asr serve`` does. A stream keeps only the current
segment's tokens per channel plus the list of final segments (``pop_segments`` empties it), so
memory stays bounded however long the session.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from asr.decoding.endpoint import EndpointRule, rule_activated
from asr.decoding.beam_search import BeamSearchState
from asr.decoding.greedy import GreedySearchState
from asr.decoding.hypothesis import Hypothesis
from asr.decoding.online import OnlineStream
from asr.decoding.options import DEFAULT_STREAMING_CHUNK_MS, DecodingOptions
from asr.decoding.tail_padding import TAIL_PADDING_VALUE, tail_padding_frames
from asr.decoding.text import Detokenizer, Itn, normalize_final_text
from asr.features import OnlineFbank
from asr.models.encoder import EncoderState
from asr.models.model_dir import LoadedModel
from asr.models.surt import SurtModel, SurtState

RULE2 = EndpointRule(must_contain_nonsilence=True, min_trailing_silence=1.2, min_utterance_length=0.0)
"""sherpa-onnx's rule 2: 1.2 s of trailing silence once something was decoded."""


@dataclass(frozen=True)
class ChannelEndpointOptions:
    """How a channel's segment ends: on ``<eos>`` (``use_eos``, when the model has one), and by the
    fallback ``rule`` (None: never; only ``<eos>`` and the end of input end a segment)."""

    use_eos: bool = True
    rule: EndpointRule | None = RULE2
    eos_min_silence: float = 0.0
    """Seconds without a token after the one before an ``<eos>`` that confirm it (0: at once)."""

    def __post_init__(self) -> None:
        if not self.eos_min_silence >= 0:
            raise ValueError(f"eos_min_silence must be >= 0 seconds, got {self.eos_min_silence}")


def eos_decision(tokens: list[int], timestamps: list[int], eos_id: int, processed_frames: int,
                 min_silence_frames: int, final: bool = False) -> tuple[str, int]:
    """What the first ``<eos>`` of a channel's current tokens does (``ChannelEndpointOptions.eos_min_silence``).

    tokens, timestamps: the channel's current segment (token ids and their encoder frames);
    processed_frames: encoder frames decoded so far; min_silence_frames: frames without a token,
    counted from the one after the token before the ``<eos>``, that confirm it; final: the input
    has ended. Returns ("none", -1) without an ``<eos>``, else with its index k: ("finalize", k),
    ("cancel", k) when a token came before the silence was long enough, ("wait", k), or
    ("duplicate", k + 1) for an ``<eos>`` right after it (greedy search's ``eos_to_predictor=false``
    repeats it at every silent frame), which adds nothing and is dropped.
    """
    if eos_id not in tokens:
        return "none", -1
    k = tokens.index(eos_id)
    if k + 1 < len(tokens) and tokens[k + 1] == eos_id:
        return "duplicate", k + 1
    if k == 0 or min_silence_frames <= 0:
        return "finalize", k
    confirmed_at = timestamps[k - 1] + 1 + min_silence_frames
    if k + 1 < len(tokens):
        return ("cancel", k) if timestamps[k + 1] < confirmed_at else ("finalize", k)
    return "finalize" if final or processed_frames >= confirmed_at else "wait", k


@dataclass
class ChannelSegment:
    """A final segment of one channel; times in seconds on the input's timeline."""

    channel: int
    text: str
    start: float
    end: float
    endpoint: float
    eos: bool
    token_ids: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "text": self.text, "start": self.start, "end": self.end,
                "endpoint": self.endpoint, "eos": self.eos}


@dataclass
class MultiChannelResult:
    """A stream's transcript: each channel's final segments' texts joined, and the segments."""

    channels: list[str]
    segments: list[ChannelSegment]

    def to_json(self, stream_id: str) -> str:
        """One JSON line: ``{"id", "channels", "segments": [{"channel", "text", "start", "end",
        "endpoint", "eos"}]}`` (``asr transcribe --format jsonl``)."""
        return json.dumps({"id": stream_id, "channels": self.channels,
                           "segments": [s.to_json() for s in self.segments]}, ensure_ascii=False)


class ChannelStream(OnlineStream):
    """An ``OnlineStream`` whose search state has one row per output channel, with per-channel segments."""

    def __init__(self, fbank: OnlineFbank, encoder_state: Any, search_state: GreedySearchState | BeamSearchState,
                 tail_padding_frames: int, num_channels: int) -> None:
        super().__init__(fbank, encoder_state, search_state, tail_padding_frames)
        self.num_channels = num_channels
        self.channel_segment_start = [0] * num_channels  # encoder frame where each channel's segment began
        self.final_segments: list[ChannelSegment] = []
        self.flushed = False

    def channel_hypotheses(self, channel: int) -> list[Hypothesis]:
        """The live hypotheses of a channel (one for greedy search, the beam for beam search)."""
        state = self.search_state
        return [state.hyps[channel]] if isinstance(state, GreedySearchState) else state.beams[channel]

    def channel_hypothesis(self, channel: int) -> Hypothesis:
        """The channel's best hypothesis of the current segment."""
        return max(self.channel_hypotheses(channel), key=lambda h: h.log_prob)

    def drop_tokens(self, channel: int, start: int, stop: int) -> None:
        """Remove tokens ``start:stop`` of the channel's best hypothesis from the segment (the
        predictor state, which has seen them, stays): hypotheses sharing its tokens up to ``stop``
        lose them too, the others are dropped (a final segment, or a cancelled ``<eos>``, is not
        revised by another hypothesis)."""
        prefix = self.channel_hypothesis(channel).tokens[:stop]
        kept = []
        for hyp in self.channel_hypotheses(channel):
            if hyp.tokens[:stop] == prefix:
                hyp.tokens = hyp.tokens[:start] + hyp.tokens[stop:]
                hyp.timestamps = hyp.timestamps[:start] + hyp.timestamps[stop:]
                kept.append(hyp)
        if isinstance(self.search_state, BeamSearchState):
            self.search_state.beams[channel] = kept

    def pop_segments(self) -> list[ChannelSegment]:
        """The segments finalized since the last call (a server sends and forgets them)."""
        out, self.final_segments = self.final_segments, []
        return out


class MultiChannelRecognizer:
    """Batched streaming decoding of SURT (C channels) or transducer (1 channel) models with
    per-channel endpoints (module docstring)."""

    def __init__(self, loaded: LoadedModel, options: DecodingOptions | None = None,
                 endpoint: ChannelEndpointOptions | None = None, itn: Itn | None = None) -> None:
        self.loaded = loaded
        self.model = loaded.model.eval()
        self.options = options or DecodingOptions(chunk_ms=DEFAULT_STREAMING_CHUNK_MS)
        if self.options.chunk_ms is None:
            raise ValueError("streaming needs a chunk: set DecodingOptions.chunk_ms")
        if self.options.method not in ("greedy_search", "modified_beam_search"):
            raise ValueError(f"multi-channel decoding supports greedy_search and modified_beam_search, "
                             f"got {self.options.method!r}")
        config = loaded.config
        self.search = self.options.search
        self.endpoint = endpoint or ChannelEndpointOptions()
        self.itn = itn
        self.is_surt = isinstance(self.model, SurtModel)
        self.num_channels = config.output_channels
        self.eos_id = config.eos_id if (config.eos_id >= 0 and self.endpoint.use_eos) else None
        self.chunk_frames = self.options.chunk_frames(config.frame_shift_ms)
        self.chunk_feature_frames = self.chunk_frames * config.subsampling_factor
        if self.is_surt and self.chunk_feature_frames % config.unmix_segment_frames:
            raise ValueError(f"chunk_ms={self.options.chunk_ms} is {self.chunk_feature_frames} feature frames, not a "
                             f"multiple of the SURT mask estimator's segment of {config.unmix_segment_frames} frames "
                             f"({config.unmix_segment_frames * 10} ms)")
        self.left_context_frames = self.options.left_context_frames(config.frame_shift_ms, config.left_context_frames)
        self.frame_shift_s = config.frame_shift_s
        self.eos_min_silence_frames = math.ceil(round(self.endpoint.eos_min_silence / self.frame_shift_s, 6))
        self.feature_shift_s = loaded.feature_options.frame_shift_ms / 1000
        self.detokenizer = Detokenizer(loaded.tokenizer)
        self.device = next(self.model.parameters()).device

    @property
    def sample_rate(self) -> int:
        return self.loaded.feature_options.sample_rate

    @torch.no_grad()
    def create_stream(self) -> ChannelStream:
        opts = self.loaded.feature_options
        if self.is_surt:
            encoder_state: Any = self.model.init_states(1, self.left_context_frames, self.device)
        else:
            encoder_state = self.model.encoder.init_states(1, self.left_context_frames, self.device)
        return ChannelStream(OnlineFbank(opts), encoder_state,
                             self.search.init_state(self.model, self.num_channels, self.device),
                             tail_padding_frames(self.options.tail_padding_ms, opts.frame_shift_ms), self.num_channels)

    def is_ready(self, stream: ChannelStream) -> bool:
        pending = stream.num_pending_feature_frames
        return pending >= self.chunk_feature_frames or (stream.is_finished and pending > 0)

    @torch.no_grad()
    def decode_streams(self, streams: list[ChannelStream]) -> None:
        """One chunk for every ready stream, batched; then each channel's endpoints."""
        ready = [s for s in streams if self.is_ready(s)]
        if ready:
            self._decode_chunk(ready)
        for s in streams:
            if s.is_finished and s.num_pending_feature_frames == 0 and not s.flushed:
                self._flush(s)

    def _decode_chunk(self, ready: list[ChannelStream]) -> None:
        size, dim = self.chunk_feature_frames, self.loaded.config.feature_dim
        feats = np.zeros((len(ready), size, dim), dtype=np.float32)
        lens, real = [], []
        for i, s in enumerate(ready):
            n = min(size, s.num_pending_feature_frames)
            m = min(n, s.fbank.num_frames_ready - s.num_feature_frames_consumed)
            feats[i, :m] = s.fbank.get_frames(s.num_feature_frames_consumed, m)
            feats[i, m:n] = TAIL_PADDING_VALUE
            lens.append(n)
            real.append(m)
        chunk = torch.from_numpy(feats).to(self.device)
        chunk_lens = torch.tensor(lens, dtype=torch.int64, device=self.device)
        if self.is_surt:
            out, out_lens, state = self.model.infer(chunk, chunk_lens, SurtState.stack([s.encoder_state for s in ready]))
        else:
            out, out_lens, state = self.model.encoder.infer(chunk, chunk_lens,
                                                            EncoderState.stack([s.encoder_state for s in ready]))
        state_type = type(ready[0].search_state)
        search_state = state_type.stack([s.search_state for s in ready])
        search_state = self.search.step(self.model, out, out_lens, search_state, self.options)
        c = self.num_channels
        searches = search_state.unstack()
        frames = out_lens.tolist()
        for i, (s, enc) in enumerate(zip(ready, state.unstack())):
            s.encoder_state = enc
            s.search_state = state_type.stack(searches[i * c:(i + 1) * c])
            s.num_feature_frames_consumed += real[i]
            s.num_tail_frames_pending -= lens[i] - real[i]
            s.num_processed_frames += frames[i * c]
            s.fbank.discard(s.num_feature_frames_consumed)
            self._endpoints(s)

    def _now(self, stream: ChannelStream) -> float:
        """Seconds of audio consumed (tail padding not counted)."""
        return round(stream.num_feature_frames_consumed * self.feature_shift_s, 3)

    def _finalize(self, stream: ChannelStream, channel: int, tokens: list[int], timestamps: list[int],
                  eos: bool, endpoint: float) -> None:
        if not tokens:
            return
        text = normalize_final_text(self.detokenizer.text(tokens), self.itn, f"channel {channel}")
        if not text:  # tokens that spell nothing (a word boundary alone): no segment, as for no tokens
            return
        stream.final_segments.append(ChannelSegment(
            channel, text, round(timestamps[0] * self.frame_shift_s, 3),
            round((timestamps[-1] + 1) * self.frame_shift_s, 3), endpoint, eos, list(tokens)))

    def _endpoints(self, stream: ChannelStream, final: bool = False) -> None:
        now = self._now(stream)
        for c in range(stream.num_channels):
            hyp = stream.channel_hypothesis(c)
            eos_pending = False
            while self.eos_id is not None:
                action, k = eos_decision(hyp.tokens, hyp.timestamps, self.eos_id, stream.num_processed_frames,
                                         self.eos_min_silence_frames, final)
                if action in ("cancel", "duplicate"):
                    stream.drop_tokens(c, k, k + 1)
                elif action == "finalize":
                    self._finalize(stream, c, hyp.tokens[:k], hyp.timestamps[:k], True, now)
                    stream.channel_segment_start[c] = hyp.timestamps[k] + 1
                    stream.drop_tokens(c, 0, k + 1)
                else:
                    eos_pending = action == "wait"
                    break
                hyp = stream.channel_hypothesis(c)
            rule = self.endpoint.rule
            if rule is not None and hyp.tokens and not eos_pending:
                trailing = stream.num_processed_frames - (hyp.timestamps[-1] + 1)
                length = stream.num_processed_frames - stream.channel_segment_start[c]
                if rule_activated(rule, trailing * self.frame_shift_s, length * self.frame_shift_s):
                    self._finalize(stream, c, hyp.tokens, hyp.timestamps, False, now)
                    stream.drop_tokens(c, 0, len(hyp.tokens))
                    stream.channel_segment_start[c] = stream.num_processed_frames

    def _flush(self, stream: ChannelStream) -> None:
        """End of input: the search's finalize, then every channel's remaining tokens are final."""
        stream.search_state = self.search.finalize(self.model, stream.search_state, self.options)
        stream.finalized = True
        self._endpoints(stream, final=True)
        end = round(stream.num_samples_accepted / max(stream._input_rate or self.sample_rate, 1), 3)
        for c in range(stream.num_channels):
            hyp = stream.channel_hypothesis(c)
            self._finalize(stream, c, hyp.tokens, hyp.timestamps, False, end)
            stream.drop_tokens(c, 0, len(hyp.tokens))
        stream.flushed = True

    def decode_until_done(self, streams: list[ChannelStream]) -> None:
        while any(self.is_ready(s) or (s.is_finished and not s.flushed) for s in streams):
            self.decode_streams(streams)

    def partial_texts(self, stream: ChannelStream) -> list[str]:
        """Each channel's current (not yet final) text."""
        return [self.detokenizer.text(stream.channel_hypothesis(c).tokens) for c in range(stream.num_channels)]

    def get_result(self, stream: ChannelStream) -> MultiChannelResult:
        """Final segments so far (all of them once the stream is flushed), in endpoint order, and
        each channel's text: its final segments' texts joined by spaces."""
        segments = sorted(stream.final_segments, key=lambda s: (s.endpoint, s.channel, s.start))
        texts = [" ".join(s.text for s in segments if s.channel == c and s.text) for c in range(stream.num_channels)]
        return MultiChannelResult(texts, segments)


def transcribe_channels(recognizer: MultiChannelRecognizer, waveforms: list[np.ndarray]) -> list[MultiChannelResult]:
    """Stream whole waveforms (at the model's rate) through ``recognizer``, batched; results in order."""
    streams = [recognizer.create_stream() for _ in waveforms]
    for stream, samples in zip(streams, waveforms):
        stream.accept_waveform(recognizer.sample_rate, samples)
        stream.input_finished()
    recognizer.decode_until_done(streams)
    return [recognizer.get_result(s) for s in streams]


__all__ = ["ChannelEndpointOptions", "ChannelSegment", "ChannelStream", "MultiChannelRecognizer", "MultiChannelResult",
           "RULE2", "eos_decision", "transcribe_channels"]
