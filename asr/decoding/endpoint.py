"""Endpoint detection with sherpa-onnx's three rules (sherpa-onnx/csrc/endpoint.cc).

An endpoint ends a segment of a stream: the server marks the segment final, applies ITN to its
text and resets the recognizer for the next segment. Each rule looks at two lengths of the
current segment, both in seconds:

- ``utterance_length``: frames decoded in this segment times the frame shift;
- ``trailing_silence``: trailing blank frames times the frame shift.

A rule fires when all three of its conditions hold:
``(utterance_length > trailing_silence or not must_contain_nonsilence)``,
``trailing_silence >= min_trailing_silence`` and ``utterance_length >= min_utterance_length``.
The segment has ended when any rule fires.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EndpointRule:
    """One endpoint rule, as in sherpa-onnx's ``EndpointRule``.

    Attributes:
        must_contain_nonsilence: the rule fires only if something other than trailing
            silence was decoded in the segment.
        min_trailing_silence: seconds of trailing silence (trailing blank frames) needed.
        min_utterance_length: seconds of decoded audio in the segment needed.
    """

    must_contain_nonsilence: bool = True
    min_trailing_silence: float = 2.0
    min_utterance_length: float = 0.0

    def __post_init__(self) -> None:
        if self.min_trailing_silence < 0 or self.min_utterance_length < 0:
            raise ValueError(f"endpoint rule lengths must be >= 0, got {self}")


@dataclass(frozen=True)
class EndpointConfig:
    """sherpa-onnx's default rules.

    rule1: 2.4 s of trailing silence, even when nothing was decoded;
    rule2: 1.2 s of trailing silence after something was decoded;
    rule3: a segment of 20 s, whatever it contains.
    """

    rule1: EndpointRule = field(default_factory=lambda: EndpointRule(False, 2.4, 0.0))
    rule2: EndpointRule = field(default_factory=lambda: EndpointRule(True, 1.2, 0.0))
    rule3: EndpointRule = field(default_factory=lambda: EndpointRule(False, 0.0, 20.0))

    @property
    def rules(self) -> tuple[EndpointRule, EndpointRule, EndpointRule]:
        return (self.rule1, self.rule2, self.rule3)


def rule_activated(rule: EndpointRule, trailing_silence: float, utterance_length: float) -> bool:
    """Whether ``rule`` fires for a segment; both lengths in seconds (sherpa's ``RuleActivated``)."""
    contains_nonsilence = utterance_length > trailing_silence
    return (
        (contains_nonsilence or not rule.must_contain_nonsilence)
        and trailing_silence >= rule.min_trailing_silence
        and utterance_length >= rule.min_utterance_length
    )


def detect_endpoint(
    config: EndpointConfig,
    num_frames_decoded: int,
    trailing_silence_frames: int,
    frame_shift_s: float,
) -> bool:
    """Whether the current segment has ended (sherpa-onnx's ``Endpoint::IsEndpoint``).

    Args:
        config: the three rules.
        num_frames_decoded: frames decoded since the segment started.
        trailing_silence_frames: trailing blank frames at the end of the segment.
        frame_shift_s: seconds per frame (0.04 for this toolkit's encoder output frames;
            sherpa-onnx counts 10 ms feature frames and multiplies blanks by 4, the same lengths).
    """
    if num_frames_decoded < 0 or trailing_silence_frames < 0 or frame_shift_s <= 0:
        raise ValueError(
            f"bad endpoint input: num_frames_decoded={num_frames_decoded}, "
            f"trailing_silence_frames={trailing_silence_frames}, frame_shift_s={frame_shift_s}"
        )
    utterance_length = num_frames_decoded * frame_shift_s
    trailing_silence = trailing_silence_frames * frame_shift_s
    return any(rule_activated(rule, trailing_silence, utterance_length) for rule in config.rules)
