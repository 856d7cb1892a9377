"""Multi-talker training targets: HEAT channel assignment and ``<eos>``-terminated channel transcripts.

SURT emits one token sequence per output channel. Which talker goes to which channel follows
HEAT (heuristic error assignment training, Lu et al. 2021; icefall's SURT): the utterances of a
cut are sorted by start time (then end time, then speaker, so the order is deterministic), and
each goes to the first channel that is free at its start (the channel's previous utterance has
ended); when none is free, to the channel whose previous utterance ends earliest (ties: the lower
channel). With two channels and two talkers that never overlap themselves every utterance finds
a free channel; a third talker overlapping both goes to the channel that frees first, so its
words follow that channel's current utterance.

A channel's target is the concatenation, in start order, of its utterances' tokens, each
followed by the ``<eos>`` token when one is given (the end-of-sentence token that SURT's
endpointing is trained on). A channel with no utterance has an empty target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from asr.errors import DataDirError, TokenizerError

EOS = "<eos>"
"""The end-of-sentence token: a tokenizer user symbol (``train_tokenizer(..., user_symbols=[EOS])``)."""


class TokenEncoder(Protocol):
    def encode(self, text: str) -> list[int]: ...


@dataclass(frozen=True)
class TimedUtterance:
    """One talker's utterance in a multi-talker cut: seconds on the cut's timeline."""

    start: float
    end: float
    text: str
    speaker: str = ""


def heat_assign(segments: Sequence[tuple[float, float]], num_channels: int = 2) -> list[int]:
    """The HEAT channel of each ``(start, end)`` segment (same order as given), in [0, num_channels)."""
    if num_channels < 1:
        raise ValueError(f"num_channels={num_channels} must be >= 1")
    for start, end in segments:
        if end < start:
            raise ValueError(f"segment ({start}, {end}) ends before it starts")
    order = sorted(range(len(segments)), key=lambda i: (segments[i][0], segments[i][1], i))
    channel_end = [float("-inf")] * num_channels
    assigned = [0] * len(segments)
    for i in order:
        start, end = segments[i]
        free = [c for c in range(num_channels) if channel_end[c] <= start]
        channel = free[0] if free else min(range(num_channels), key=lambda c: (channel_end[c], c))
        assigned[i] = channel
        channel_end[channel] = max(channel_end[channel], end)
    return assigned


def cut_utterances(cut: Any) -> list[TimedUtterance]:
    """A cut's supervisions with text, as ``TimedUtterance``s sorted by (start, end, speaker)."""
    utts = [TimedUtterance(float(s.start), float(s.start + s.duration), " ".join(s.text.split()), s.speaker or "")
            for s in cut.supervisions if s.text is not None and s.text.strip()]
    return sorted(utts, key=lambda u: (u.start, u.end, u.speaker))


def channel_utterances(utterances: Sequence[TimedUtterance], num_channels: int = 2) -> list[list[TimedUtterance]]:
    """The utterances of each channel (HEAT), each channel's in start order."""
    channels = heat_assign([(u.start, u.end) for u in utterances], num_channels)
    out: list[list[TimedUtterance]] = [[] for _ in range(num_channels)]
    for utt, c in sorted(zip(utterances, channels), key=lambda p: (p[0].start, p[0].end, p[0].speaker)):
        out[c].append(utt)
    return out


def channel_targets(cut: Any, tokenizer: TokenEncoder, num_channels: int = 2,
                    eos_id: int | None = None) -> list[list[int]]:
    """Token ids of each channel of a multi-talker cut: HEAT-assigned utterances in start order,
    each followed by ``eos_id`` when given. Raises ``TokenizerError`` naming the cut for text the
    tokenizer cannot represent and ``DataDirError`` for a cut without supervisions."""
    if not cut.supervisions:
        raise DataDirError(f"cut {cut.id}: has no supervision (no transcript to train on)")
    targets: list[list[int]] = []
    for utts in channel_utterances(cut_utterances(cut), num_channels):
        ids: list[int] = []
        for utt in utts:
            try:
                ids.extend(tokenizer.encode(utt.text))
            except TokenizerError as e:
                raise TokenizerError(f"cut {cut.id}: transcript {utt.text!r} cannot be tokenized: {e}") from e
            if eos_id is not None:
                ids.append(eos_id)
        targets.append(ids)
    return targets


def channel_end_times(cut: Any, num_channels: int = 2) -> list[list[float]]:
    """The end (seconds on the cut's timeline) of each channel's utterances, in the order of
    ``channel_targets``: one per ``<eos>`` of that channel's target (SURT's endpoint window)."""
    return [[u.end for u in utts] for utts in channel_utterances(cut_utterances(cut), num_channels)]
