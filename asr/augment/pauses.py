"""Sub-utterances cut at the pauses between words, for corpora of words spoken with pauses.

In yesno (and FSDD's connected strings) every word is followed by a short pause. Cutting an
utterance in the middle of a pause gives a shorter utterance whose transcript is exactly the
words after the cut, without any alignment. The suffixes make every word appear at the start of
an utterance, which matters when the training set never starts with some word: under Kaldi's
yesno split every training file starts with NO, and a transducer trained on the files alone
learns that YES never comes first.

The pauses come from an energy detector with a threshold relative to each recording's own
noise floor and speech level. A cut is split only when the detector finds exactly as many speech
segments as the transcript has words; every other cut is kept whole and counted, so a recording
with a missing word (yesno's ``0_1_0_1_0_0_0_0``) never yields a misaligned sub-utterance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lhotse import CutSet
from lhotse.cut import Cut
from lhotse.utils import fastcopy


@dataclass
class PauseSplitConfig:
    frame_s: float = 0.025
    hop_s: float = 0.010
    #: speech where a frame's energy (dB) lies above noise + threshold * (speech - noise), with
    #: noise the 10th and speech the 98th percentile of the recording's frame energies
    threshold: float = 0.5
    #: silences shorter than this inside a word are bridged
    min_pause_s: float = 0.05
    #: speech bursts shorter than this (clicks) are dropped
    min_speech_s: float = 0.10


@dataclass
class PauseSplitResult:
    cuts: CutSet
    """The input cuts followed by the suffix cuts."""
    num_split: int
    num_kept_whole: int


def speech_segments(audio: np.ndarray, sample_rate: int, config: PauseSplitConfig) -> list[tuple[float, float]]:
    """(start, end) seconds of the speech segments of mono ``audio``, in order."""
    win, hop = int(config.frame_s * sample_rate), int(config.hop_s * sample_rate)
    if len(audio) < win:
        return []
    frames = np.lib.stride_tricks.sliding_window_view(audio.astype(np.float64), win)[::hop]
    energy_db = 10.0 * np.log10(np.sum(frames ** 2, axis=1) + 1e-10)
    noise, speech = np.percentile(energy_db, 10), np.percentile(energy_db, 98)
    active = energy_db > noise + config.threshold * (speech - noise)
    segments: list[list[float]] = []
    start = None
    for i, is_speech in enumerate(np.append(active, False)):
        if is_speech and start is None:
            start = i
        elif not is_speech and start is not None:
            begin, end = start * hop / sample_rate, ((i - 1) * hop + win) / sample_rate
            if segments and begin - segments[-1][1] < config.min_pause_s:
                segments[-1][1] = end
            else:
                segments.append([begin, end])
            start = None
    return [(a, b) for a, b in segments if b - a >= config.min_speech_s]


def word_suffixes(cut: Cut, config: PauseSplitConfig) -> list[Cut]:
    """The suffixes of ``cut`` that start at its 2nd, 3rd, ... word (ids ``<id>_from<k>``), or
    [] when the detector's segments do not match the transcript's words one to one."""
    if len(cut.supervisions) != 1:
        raise ValueError(f"{cut.id}: pause splitting needs one supervision per cut, found {len(cut.supervisions)}")
    supervision = cut.supervisions[0]
    words = (supervision.text or "").split()
    audio = cut.load_audio()[0]
    segments = speech_segments(audio, cut.sampling_rate, config)
    if len(words) < 2 or len(segments) != len(words):
        return []
    suffixes = []
    for k in range(1, len(words)):
        offset = (segments[k - 1][1] + segments[k][0]) / 2  # the middle of the pause before word k
        part = cut.truncate(offset=offset, preserve_id=False)
        cut_id = f"{cut.id}_from{k}"
        part_supervision = fastcopy(supervision, id=cut_id, start=0.0, duration=part.duration, text=" ".join(words[k:]))
        suffixes.append(fastcopy(part, id=cut_id, supervisions=[part_supervision]))
    return suffixes


def split_at_pauses(cuts: CutSet, config: PauseSplitConfig | None = None) -> PauseSplitResult:
    """The cuts plus, for every cut whose pauses match its words, its word suffixes."""
    config = config or PauseSplitConfig()
    originals, suffixes, num_split = [], [], 0
    for cut in cuts:
        originals.append(cut)
        parts = word_suffixes(cut, config)
        num_split += bool(parts)
        suffixes.extend(parts)
    return PauseSplitResult(CutSet.from_cuts(originals + suffixes), num_split, len(originals) - num_split)
