"""Two-talker mixtures simulated from any single-talker CutSet, with per-speaker timed transcripts.

``simulate_two_talker`` pairs cuts of different speakers and mixes them with lhotse's
``Cut.mix`` (a lazy ``MixedCut``): the second talker starts at an offset chosen so that the
overlap ratio -- overlapped time divided by the mixture's duration, as in LibriCSS -- is drawn
uniformly from ``[min_overlap, max_overlap]`` (clipped to what the two durations allow). Each
mixture keeps both supervisions with their start offsets, speakers and texts.
``materialize`` writes mixtures to wav files and returns plain ``MonoCut``s carrying the same
timed supervisions, so later stages see ordinary recordings. Reproducible from ``seed``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment
from lhotse.cut import Cut, MixedCut, PaddingCut
from tqdm import tqdm

from asr.errors import DataDirError


@dataclass
class MixtureConfig:
    """How many mixtures and how much they overlap."""

    num_mixtures: int | None = None  # default: len(cuts) // 2
    min_overlap: float = 0.0  # overlap ratio = overlapped seconds / mixture seconds
    max_overlap: float = 0.5
    max_level_db: float = 5.0  # second talker's level relative to the first, uniform in +-this
    seed: int = 0


def offset_for_overlap(first_duration: float, second_duration: float, ratio: float) -> float:
    """Start of the second talker (s) so that overlap / mixture duration equals ``ratio``.

    With offset o, first d1, second d2: partial overlap gives (d1 - o) / (o + d2) = r, so
    o = (d1 - r d2) / (1 + r). The largest reachable ratio is min(d1, d2) / max(d1, d2)
    (one talker inside the other); larger requests are clipped to it. ``ratio`` 0 starts the
    second talker where the first ends.
    """
    if first_duration <= 0 or second_duration <= 0:
        raise ValueError(f"durations must be positive, got {first_duration}, {second_duration}")
    max_ratio = min(first_duration, second_duration) / max(first_duration, second_duration)
    ratio = min(max(ratio, 0.0), max_ratio)
    offset = (first_duration - ratio * second_duration) / (1.0 + ratio)
    # At the clip point the formula lands exactly on the containment boundary; keep it there.
    return max(0.0, min(offset, first_duration))


def overlap_ratio(segments: Iterable[tuple[float, float]]) -> float:
    """Overlapped time of two (start, end) segments divided by the span they cover together."""
    (s1, e1), (s2, e2) = segments
    overlap = max(0.0, min(e1, e2) - max(s1, s2))
    span = max(e1, e2) - min(s1, s2)
    return overlap / span if span > 0 else 0.0


def mix_with_delays(cuts: list[Cut], delays: list[float], mix_id: str, gains_db: list[float] | None = None) -> Cut:
    """Overlay ``cuts`` so that ``cuts[i]`` starts at ``delays[i]`` seconds; returns a ``MixedCut``.

    ``gains_db[i]`` (relative to the first cut, as lhotse's ``snr``) scales track i; ``None``
    sums the tracks as they are.
    """
    if len(cuts) != len(delays) or not cuts:
        raise ValueError(f"{mix_id}: {len(cuts)} cuts but {len(delays)} delays")
    order = sorted(range(len(cuts)), key=lambda i: delays[i])
    base = cuts[order[0]]
    if delays[order[0]] > 0:
        base = base.pad(duration=base.duration + delays[order[0]], direction="left")
    mixed = base
    for i in order[1:]:
        snr = None if gains_db is None else -gains_db[i]
        mixed = mixed.mix(cuts[i], offset_other_by=delays[i], allow_padding=True, snr=snr)
    return mixed.with_id(mix_id)


def _single_talker_pool(cuts: CutSet, what: str) -> tuple[list[Cut], dict[str, list[Cut]]]:
    """The cuts sorted by id and grouped by speaker; ``DataDirError`` for a cut that is not
    single-talker, or fewer than 2 speakers (``what``: "mixtures" or "sessions", for the message)."""
    pool = sorted(cuts, key=lambda c: c.id)
    for cut in pool:
        if len(cut.supervisions) != 1 or not cut.supervisions[0].speaker:
            raise DataDirError(f"cut {cut.id}: a single-talker cut needs exactly one supervision with a speaker")
    by_speaker: dict[str, list[Cut]] = {}
    for cut in pool:
        by_speaker.setdefault(cut.supervisions[0].speaker, []).append(cut)
    if len(by_speaker) < 2:
        raise DataDirError(f"two-talker {what} need 2+ speakers, the cuts have {sorted(by_speaker)}")
    return pool, by_speaker


def simulate_two_talker(cuts: CutSet, config: MixtureConfig | None = None) -> CutSet:
    """Lazy two-talker ``MixedCut``s from single-talker ``cuts`` (speakers must be set and differ).

    Ids are ``mix-{n:06d}``; every mixture has exactly two supervisions, of two speakers.
    """
    cfg = config or MixtureConfig()
    if not 0.0 <= cfg.min_overlap <= cfg.max_overlap <= 1.0:
        raise ValueError(f"overlap range must satisfy 0 <= min <= max <= 1, got {cfg.min_overlap}..{cfg.max_overlap}")
    pool, by_speaker = _single_talker_pool(cuts, "mixtures")
    speakers = sorted(by_speaker)
    rng = random.Random(cfg.seed)
    num = cfg.num_mixtures if cfg.num_mixtures is not None else len(pool) // 2
    mixtures = []
    for n in range(num):
        spk_a, spk_b = rng.sample(speakers, 2)
        first, second = rng.choice(by_speaker[spk_a]), rng.choice(by_speaker[spk_b])
        ratio = rng.uniform(cfg.min_overlap, cfg.max_overlap)
        offset = offset_for_overlap(first.duration, second.duration, ratio)
        level = rng.uniform(-cfg.max_level_db, cfg.max_level_db) if cfg.max_level_db > 0 else None
        gains = None if level is None else [0.0, level]
        mixtures.append(mix_with_delays([first, second], [0.0, offset], f"mix-{n:06d}", gains))
    return CutSet.from_cuts(mixtures)


@dataclass
class SessionConfig:
    """Multi-utterance two-talker sessions for SURT (``simulate_sessions``).

    A session alternates two speakers A, B, A, ...: each utterance after the first starts so that
    its overlap ratio with the previous one (overlapped seconds / the two utterances' span, as
    ``overlap_ratio``) is drawn from ``[min_overlap, max_overlap]``, or is 0 (a pause of up to
    ``max_pause`` seconds follows the previous utterance) with probability ``no_overlap_prob``;
    it never starts before its own speaker's previous utterance has ended (plus ``min_self_gap``),
    so at most two talkers overlap and each talker's speech is a sequence of sentences.
    The number of utterances is drawn uniformly from ``[min_utterances, max_utterances]``.
    """

    num_sessions: int | None = None  # default: len(cuts) // 2
    min_utterances: int = 2
    max_utterances: int = 3
    min_overlap: float = 0.0
    max_overlap: float = 1.0
    no_overlap_prob: float = 0.1
    max_pause: float = 0.5
    min_self_gap: float = 0.2
    max_level_db: float = 5.0
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.min_overlap <= self.max_overlap <= 1.0:
            problems.append(f"overlap range must satisfy 0 <= min <= max <= 1, got {self.min_overlap}..{self.max_overlap}")
        if not 1 <= self.min_utterances <= self.max_utterances:
            problems.append(f"utterances per session must satisfy 1 <= min <= max, got "
                            f"{self.min_utterances}..{self.max_utterances}")
        if not 0.0 <= self.no_overlap_prob <= 1.0:
            problems.append(f"no_overlap_prob={self.no_overlap_prob} is outside [0, 1]")
        if self.max_pause < 0 or self.min_self_gap < 0:
            problems.append("max_pause and min_self_gap must be >= 0")
        if problems:
            raise ValueError("invalid SessionConfig: " + "; ".join(problems))


def session_delays(durations: list[float], ratios: list[float], pauses: list[float], min_self_gap: float) -> list[float]:
    """Start times of alternating-speaker utterances (speaker of utterance i: i % 2).

    ``ratios[i - 1]`` is the wanted overlap ratio of utterance i with utterance i - 1 (0: start
    ``pauses[i - 1]`` after it ends); no utterance starts before ``min_self_gap`` after the end of
    its own speaker's previous one (which may lower the overlap actually reached)."""
    starts = [0.0]
    for i in range(1, len(durations)):
        prev_start, prev_duration = starts[i - 1], durations[i - 1]
        if ratios[i - 1] <= 0.0:
            start = prev_start + prev_duration + pauses[i - 1]
        else:
            start = prev_start + offset_for_overlap(prev_duration, durations[i], ratios[i - 1])
        if i >= 2:
            start = max(start, starts[i - 2] + durations[i - 2] + min_self_gap)
        starts.append(round(start, 4))
    return starts


def simulate_sessions(cuts: CutSet, config: SessionConfig | None = None) -> CutSet:
    """Lazy two-talker sessions (``MixedCut``s, ids ``sess-{n:06d}``) of 1..k utterances from
    single-talker ``cuts`` (see ``SessionConfig``); every utterance keeps its timed supervision."""
    cfg = config or SessionConfig()
    pool, by_speaker = _single_talker_pool(cuts, "sessions")
    speakers = sorted(by_speaker)
    rng = random.Random(cfg.seed)
    num = cfg.num_sessions if cfg.num_sessions is not None else len(pool) // 2
    sessions = []
    for n in range(num):
        pair = rng.sample(speakers, 2)
        count = rng.randint(cfg.min_utterances, cfg.max_utterances)
        chosen = [rng.choice(by_speaker[pair[i % 2]]) for i in range(count)]
        ratios = [0.0 if rng.random() < cfg.no_overlap_prob else rng.uniform(cfg.min_overlap, cfg.max_overlap)
                  for _ in range(count - 1)]
        pauses = [rng.uniform(0.0, cfg.max_pause) for _ in range(count - 1)]
        delays = session_delays([c.duration for c in chosen], ratios, pauses, cfg.min_self_gap)
        level = rng.uniform(-cfg.max_level_db, cfg.max_level_db) if cfg.max_level_db > 0 else 0.0
        gains = [0.0 if i % 2 == 0 else level for i in range(count)] if cfg.max_level_db > 0 else None
        # the same source may be drawn twice in a session: lhotse needs distinct track ids
        tracks = [c.with_id(f"{c.id}-{i}") if i else c for i, c in enumerate(chosen)]
        sessions.append(mix_with_delays(tracks, delays, f"sess-{n:06d}", gains))
    return CutSet.from_cuts(sessions)


def write_channel_sources(cut: Cut, audio_dir: Path, scale: float, num_channels: int = 2) -> list[str]:
    """For SURT's mask loss: the audio of each HEAT channel of a ``MixedCut`` (the sum of the
    tracks assigned to it, at their levels in the mix, times ``scale``), written to
    ``audio_dir/<id>-src<c>.wav``; returns the paths. A channel without speech is silence."""
    from asr.audio import save_audio
    from asr.data.heat import heat_assign

    if isinstance(cut, MixedCut):
        # one (1, samples) array per track, positioned and scaled as in the mix; padding tracks
        # (a session that ends in a pause) are left out
        arrays = cut.load_audio(mixed=False)
        if len(arrays) != len(cut.tracks):
            raise DataDirError(f"cut {cut.id}: {len(arrays)} audio tracks but {len(cut.tracks)} tracks")
        tracks, kept = [], []
        for track, array in zip(cut.tracks, arrays):
            if not isinstance(track.cut, PaddingCut):
                tracks.append(track)
                kept.append(np.asarray(array)[:1])
        audio = np.concatenate(kept, axis=0)
        spans = [(t.offset, t.offset + t.cut.duration) for t in tracks]
    else:  # a one-utterance session is a plain cut: all of it is channel 0
        audio = cut.load_audio()[:1]
        spans = [(0.0, cut.duration)]
    channels = heat_assign(spans, num_channels)
    paths = []
    for c in range(num_channels):
        source = np.zeros(audio.shape[1], dtype=np.float32)
        for k, channel in enumerate(channels):
            if channel == c:
                source += audio[k].astype(np.float32)
        path = audio_dir / f"{cut.id}-src{c}.wav"
        save_audio(path, source * scale, cut.sampling_rate)
        paths.append(str(path))
    return paths


def materialize(cuts: CutSet, audio_dir: str | Path, progress: bool = True, write_sources: bool = False) -> CutSet:
    """Write each (mixed) cut's audio to ``audio_dir/<id>.wav`` and return ``MonoCut``s.

    Supervisions keep their start offsets, speakers and texts; their ids become
    ``<speaker>-<id>-<k>`` (speaker first: Kaldi's sort order for the utterances of a data dir).
    A mixture whose peak exceeds 1 is scaled down to 0.99 peak (no clipping). Existing files are
    reused, so an interrupted run resumes. ``write_sources``: also each HEAT channel's source audio
    (``write_channel_sources``, same scaling), listed in the cut's ``custom["channel_sources"]``.
    """
    from asr.audio import save_audio

    audio_dir = Path(audio_dir)
    out = []
    for cut in tqdm(list(cuts), desc="mixing", disable=not progress):
        path = audio_dir / f"{cut.id}.wav"
        sample_rate = cut.sampling_rate
        sources = [str(audio_dir / f"{cut.id}-src{c}.wav") for c in range(2)]
        if not path.exists() or (write_sources and not all(Path(p).exists() for p in sources)):
            audio = cut.load_audio()[0].astype(np.float32)
            peak = float(np.max(np.abs(audio))) if audio.size else 0.0
            scale = 0.99 / peak if peak > 1.0 else 1.0
            if write_sources:
                sources = write_channel_sources(cut, audio_dir, scale)
            save_audio(path, audio * scale, sample_rate)  # last: its presence marks the cut done
        recording = Recording.from_file(path, recording_id=cut.id)
        supervisions = [
            SupervisionSegment(
                id=f"{sup.speaker}-{cut.id}-{k}",
                recording_id=cut.id,
                start=round(max(0.0, sup.start), 4),
                duration=round(min(sup.duration, recording.duration - max(0.0, sup.start)), 4),
                channel=0,
                text=sup.text,
                speaker=sup.speaker,
                language=sup.language,
                custom={"source": sup.id},
            )
            for k, sup in enumerate(sorted(cut.supervisions, key=lambda s: (s.start, s.speaker or "")))
        ]
        custom = {"channel_sources": sources} if write_sources else None
        out.append(MonoCut(id=cut.id, start=0.0, duration=recording.duration, channel=0, recording=recording,
                           supervisions=supervisions, custom=custom))
    return CutSet.from_cuts(out)


def main(argv: list[str] | None = None) -> None:
    """``python -m asr.corpora.mixtures CUTS_IN CUTS_OUT --audio-dir D [--num-mixtures N] ...``"""
    import argparse

    from asr.data.manifests import read_cuts, write_cuts

    parser = argparse.ArgumentParser(prog="python -m asr.corpora.mixtures", description="two-talker mixtures from single-talker cuts")
    parser.add_argument("cuts_in", type=Path, help="single-talker CutSet manifest")
    parser.add_argument("cuts_out", type=Path, help="mixture CutSet manifest to write")
    parser.add_argument("--audio-dir", type=Path, required=True, help="where the mixture wavs go")
    parser.add_argument("--audio-root", type=Path, default=None,
                        help="CUTS_IN's relative audio paths are relative to this dir (another recipe's), not the working dir")
    parser.add_argument("--num-mixtures", type=int, default=None, help="default: half the input cuts")
    parser.add_argument("--min-overlap", type=float, default=MixtureConfig.min_overlap)
    parser.add_argument("--max-overlap", type=float, default=MixtureConfig.max_overlap)
    parser.add_argument("--max-level-db", type=float, default=MixtureConfig.max_level_db)
    parser.add_argument("--seed", type=int, default=MixtureConfig.seed)
    parser.add_argument("--max-utterances", type=int, default=0,
                        help="> 0: SURT sessions of --min-utterances..this many alternating utterances "
                             "(simulate_sessions) instead of one utterance per talker")
    parser.add_argument("--min-utterances", type=int, default=SessionConfig.min_utterances)
    parser.add_argument("--no-overlap-prob", type=float, default=SessionConfig.no_overlap_prob)
    parser.add_argument("--min-self-gap", type=float, default=SessionConfig.min_self_gap,
                        help="seconds of silence at least between two utterances of one talker (sessions)")
    parser.add_argument("--write-sources", action="store_true",
                        help="also write each HEAT channel's source audio (<id>-src<c>.wav) for SURT's mask loss")
    parser.add_argument("--speed-perturb", type=float, nargs="*", default=[], metavar="FACTOR",
                        help="draw utterances from CUTS_IN plus a speed-perturbed copy per factor (e.g. 0.9 1.1): "
                             "new acoustics from the same recordings, each copy keeping its speaker")
    args = parser.parse_args(argv)
    single = read_cuts(args.cuts_in, args.audio_root)
    if args.speed_perturb:
        from asr.augment import speed_perturb

        single = speed_perturb(single, args.speed_perturb)
    if args.max_utterances > 0:
        session_cfg = SessionConfig(args.num_mixtures, min(args.min_utterances, args.max_utterances), args.max_utterances,
                                    args.min_overlap, args.max_overlap, args.no_overlap_prob,
                                    min_self_gap=args.min_self_gap, max_level_db=args.max_level_db, seed=args.seed)
        simulated = simulate_sessions(single, session_cfg)
    else:
        cfg = MixtureConfig(args.num_mixtures, args.min_overlap, args.max_overlap, args.max_level_db, args.seed)
        simulated = simulate_two_talker(single, cfg)
    mixed = materialize(simulated, args.audio_dir, write_sources=args.write_sources)
    write_cuts(mixed, args.cuts_out)
    print(f"{len(mixed)} mixtures, {sum(c.duration for c in mixed) / 3600:.3f} h -> {args.cuts_out}")


if __name__ == "__main__":
    main()
