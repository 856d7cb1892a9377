"""Sub-utterances cut at the pauses between words, for corpora of words spoken with pauses.

In yesno (and FSDD's connected strings) every word is followed by a short pause. Cutting an
utterance in the middle of a pause gives shorter utterances whose transcripts are exactly the
words before and after the cut, without any alignment. The suffixes make every word appear at the
start of an utterance, which matters when the training set never starts with some word: under
Kaldi's yesno split every training file starts with NO, and a transducer trained on the files
alone learns that YES never comes first. The prefixes end soon after their last word, as a
recording cut off early does, where the files themselves all end in a long silence.

A suffix keeps the recording's own lead-in (the audio before its first word): cut without it,
every real file would still be the only kind of utterance that starts with a long silence, and
that silence alone tells the model the first word is NO. Sub-utterances are written as wav files.

The pauses come from an energy detector with a threshold relative to each recording's own
noise floor and speech level. A cut is split only when the detector finds exactly as many speech
segments as the transcript has words; every other cut is kept whole and counted, so a recording
with a missing word (yesno's ``0_1_0_1_0_0_0_0``) never yields a misaligned sub-utterance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lhotse import CutSet
from lhotse.cut import Cut

from asr.audio import save_audio
from asr.corpora.common import make_cut


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
    #: the lead-in a suffix keeps ends this long before the detected start of the first word,
    #: so that no onset of it (quieter than the threshold) is kept
    lead_in_guard_s: float = 0.05
    suffixes: bool = True
    prefixes: bool = True


@dataclass
class PauseSplitResult:
    cuts: CutSet
    """The input cuts followed by the sub-utterances."""
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


def sub_utterances(cut: Cut, audio_dir: str | Path, config: PauseSplitConfig) -> list[Cut]:
    """The word suffixes and prefixes of ``cut``, written as wavs under ``audio_dir``, or [] when the
    detector's segments do not match the transcript's words one to one.

    Suffix ``<id>_from<k>`` (words k, k+1, ...; k >= 1 counting from 0): the cut's lead-in, then its
    audio from the middle of the pause before word k. Prefix ``<id>_to<k>`` (words 0 .. k-1): the
    audio up to the middle of the pause after word k-1.
    """
    if len(cut.supervisions) != 1:
        raise ValueError(f"{cut.id}: pause splitting needs one supervision per cut, found {len(cut.supervisions)}")
    supervision = cut.supervisions[0]
    words = (supervision.text or "").split()
    audio = cut.load_audio()[0]
    rate = cut.sampling_rate
    segments = speech_segments(audio, rate, config)
    if len(words) < 2 or len(segments) != len(words):
        return []
    lead_in = audio[:max(0, round((segments[0][0] - config.lead_in_guard_s) * rate))]
    pieces: list[tuple[str, np.ndarray, list[str]]] = []
    for k in range(1, len(words)):
        pause_middle = round((segments[k - 1][1] + segments[k][0]) / 2 * rate)
        if config.suffixes:
            pieces.append((f"{cut.id}_from{k}", np.concatenate([lead_in, audio[pause_middle:]]), words[k:]))
        if config.prefixes:
            pieces.append((f"{cut.id}_to{k}", audio[:pause_middle], words[:k]))
    parts = []
    for cut_id, samples, span in pieces:
        path = Path(audio_dir) / f"{cut_id}.wav"
        save_audio(path, samples, rate)
        parts.append(make_cut(cut_id, path, " ".join(span), supervision.speaker or "unknown",
                              language=supervision.language or "English"))
    return parts


def split_at_pauses(cuts: CutSet, audio_dir: str | Path, config: PauseSplitConfig | None = None) -> PauseSplitResult:
    """The cuts plus, for every cut whose pauses match its words, its sub-utterances (audio in ``audio_dir``)."""
    config = config or PauseSplitConfig()
    Path(audio_dir).mkdir(parents=True, exist_ok=True)
    originals, parts, num_split = [], [], 0
    for cut in cuts:
        originals.append(cut)
        pieces = sub_utterances(cut, audio_dir, config)
        num_split += bool(pieces)
        parts.extend(pieces)
    return PauseSplitResult(CutSet.from_cuts(originals + parts), num_split, len(originals) - num_split)
