"""Kaldi data directories: read, write, validate (the checks of Kaldi's validate_data_dir.sh),
and conversion to and from lhotse CutSets, the training-time format.

A data dir holds ``wav.scp`` (recording -> file, or command ending in ``|``), ``text``
(utterance -> transcript), ``utt2spk``, ``spk2utt`` and, when utterances are parts of
recordings, ``segments`` (utterance -> recording start end, in seconds).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lhotse import CutSet, Recording
from lhotse.cut import Cut, MonoCut
from lhotse.kaldi import load_kaldi_data_dir

from asr.audio import audio_info
from asr.errors import AudioError, DataDirError
from asr.utils.io import atomic_write

MAX_REPORTED = 10  # problems listed in one DataDirError message


@dataclass(frozen=True)
class Segment:
    """One line of ``segments``: the utterance is [start, end) seconds of ``recording_id``."""

    recording_id: str
    start: float
    end: float


def _read_table(path: Path, min_fields: int = 2, allow_empty_value: bool = False) -> tuple[dict[str, str], list[str]]:
    """Read ``key value...`` lines keeping file order; returns the table and ordering problems."""
    table: dict[str, str] = {}
    problems: list[str] = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            parts = line.split(maxsplit=1)
            if not parts:
                raise DataDirError(f"{path}:{n}: empty line")
            key = parts[0]
            value = parts[1].strip() if len(parts) > 1 else ""
            if not value and not allow_empty_value:
                raise DataDirError(f"{path}:{n}: key {key!r} has no value")
            if min_fields > 2 and len(value.split()) < min_fields - 1:
                raise DataDirError(f"{path}:{n}: expected {min_fields} fields, got {line!r}")
            if key in table:
                raise DataDirError(f"{path}:{n}: duplicate id {key!r}")
            table[key] = value
    keys = list(table)
    unsorted = next((i for i in range(1, len(keys)) if keys[i - 1] > keys[i]), None)
    if unsorted is not None:
        problems.append(f"{path.name} is not sorted: {keys[unsorted - 1]!r} comes before {keys[unsorted]!r}")
    return table, problems


def _write_table(path: Path, table: dict[str, str]) -> None:
    with atomic_write(path) as f:
        for key in sorted(table):
            value = table[key]
            f.write(f"{key} {value}\n" if value else f"{key}\n")


def spk2utt_from_utt2spk(utt2spk: dict[str, str]) -> dict[str, list[str]]:
    """Speaker -> sorted utterance ids."""
    out: dict[str, list[str]] = {}
    for utt in sorted(utt2spk):
        out.setdefault(utt2spk[utt], []).append(utt)
    return dict(sorted(out.items()))


@dataclass
class KaldiDataDir:
    """In-memory Kaldi data dir. Tables map ids to values; ``segments`` is None for whole-file utterances."""

    wav_scp: dict[str, str] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)
    utt2spk: dict[str, str] = field(default_factory=dict)
    segments: dict[str, Segment] | None = None
    path: Path | None = None
    # Problems seen only in the files (order, a spk2utt that disagrees), reported by validate().
    file_problems: list[str] = field(default_factory=list, repr=False, compare=False)

    @property
    def utterance_ids(self) -> list[str]:
        return sorted(self.segments if self.segments is not None else self.wav_scp)

    @property
    def spk2utt(self) -> dict[str, list[str]]:
        return spk2utt_from_utt2spk(self.utt2spk)

    @classmethod
    def read(cls, path: str | os.PathLike) -> "KaldiDataDir":
        """Read a data dir; malformed lines and duplicate ids raise DataDirError (call validate() for the rest)."""
        path = Path(path)
        if not path.is_dir():
            raise DataDirError(f"{path}: data dir does not exist")
        for name in ("wav.scp", "utt2spk"):
            if not (path / name).is_file():
                raise DataDirError(f"{path}: missing {name}")
        problems: list[str] = []
        wav_scp, p = _read_table(path / "wav.scp")
        problems += p
        utt2spk, p = _read_table(path / "utt2spk")
        problems += p
        text: dict[str, str] = {}
        if (path / "text").is_file():
            text, p = _read_table(path / "text", allow_empty_value=True)
            problems += p
        segments = None
        if (path / "segments").is_file():
            raw, p = _read_table(path / "segments", min_fields=4)
            problems += p
            segments = {}
            for utt, value in raw.items():
                fields = value.split()
                try:
                    segments[utt] = Segment(fields[0], float(fields[1]), float(fields[2]))
                except (ValueError, IndexError):
                    raise DataDirError(f"{path / 'segments'}: utterance {utt!r}: bad segment {value!r}") from None
        if (path / "spk2utt").is_file():
            spk2utt, p = _read_table(path / "spk2utt")
            problems += p
            expected = spk2utt_from_utt2spk(utt2spk)
            got = {spk: sorted(v.split()) for spk, v in spk2utt.items()}
            if got != expected:
                spk = next(s for s in sorted(set(got) | set(expected)) if got.get(s) != expected.get(s))
                problems.append(
                    f"spk2utt disagrees with utt2spk for speaker {spk!r}: "
                    f"spk2utt has {got.get(spk)}, utt2spk gives {expected.get(spk)}"
                )
        return cls(wav_scp=wav_scp, text=text, utt2spk=utt2spk, segments=segments, path=path, file_problems=problems)

    def write(self, path: str | os.PathLike) -> None:
        """Write every file sorted (and spk2utt generated from utt2spk), each atomically; ``text`` only if any."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        _write_table(path / "wav.scp", self.wav_scp)
        if self.text:
            _write_table(path / "text", self.text)
        elif (path / "text").exists():
            (path / "text").unlink()  # a test set without transcripts: no stale ones either
        _write_table(path / "utt2spk", self.utt2spk)
        _write_table(path / "spk2utt", {spk: " ".join(utts) for spk, utts in self.spk2utt.items()})
        if self.segments is not None:
            _write_table(
                path / "segments",
                {u: f"{s.recording_id} {s.start:.3f} {s.end:.3f}" for u, s in self.segments.items()},
            )
        elif (path / "segments").exists():
            (path / "segments").unlink()  # a stale segments file would redefine the utterances
        self.path = path

    def problems(self, require_text: bool = True, check_speaker_order: bool = True) -> list[str]:
        """Every problem validate_data_dir.sh would report, as messages naming the ids."""
        out = list(self.file_problems)
        utts = set(self.utterance_ids)
        if not utts:
            out.append("no utterances")
        for utt in sorted(utts - set(self.utt2spk)):
            out.append(f"utterance {utt!r} has no speaker in utt2spk")
        for utt in sorted(set(self.utt2spk) - utts):
            out.append(f"utterance {utt!r} in utt2spk has no audio in {'segments' if self.segments is not None else 'wav.scp'}")
        if require_text:
            for utt in sorted(utts - set(self.text)):
                out.append(f"utterance {utt!r} is missing from text")
        for utt in sorted(set(self.text) - utts):
            out.append(f"utterance {utt!r} in text has no audio")
        for utt in sorted(u for u, t in self.text.items() if not t.strip()):
            out.append(f"utterance {utt!r} has an empty transcript")
        if self.segments is not None:
            for utt, seg in sorted(self.segments.items()):
                if seg.recording_id not in self.wav_scp:
                    out.append(f"segment {utt!r}: recording {seg.recording_id!r} is not in wav.scp")
                if not 0 <= seg.start < seg.end:
                    out.append(f"segment {utt!r}: need end > start >= 0, got start {seg.start} end {seg.end}")
        if check_speaker_order:
            # Kaldi sorts by utterance and by speaker interchangeably, so utterance ids must start
            # with their speaker id (or otherwise sort the same way).
            by_speaker = [u for u, _ in sorted(self.utt2spk.items(), key=lambda kv: (kv[1], kv[0]))]
            if by_speaker != sorted(self.utt2spk):
                i = next(i for i, (a, b) in enumerate(zip(by_speaker, sorted(self.utt2spk))) if a != b)
                out.append(
                    f"utterances sort differently by speaker than by id (first at {by_speaker[i]!r}, speaker "
                    f"{self.utt2spk[by_speaker[i]]!r}); make utterance ids start with the speaker id"
                )
        return out

    def validate(self, require_text: bool = True, check_speaker_order: bool = True) -> None:
        """Raise DataDirError listing the problems found (see ``problems``)."""
        found = self.problems(require_text=require_text, check_speaker_order=check_speaker_order)
        if found:
            where = self.path if self.path is not None else "data dir"
            shown = "\n  ".join(found[:MAX_REPORTED])
            more = f"\n  ... and {len(found) - MAX_REPORTED} more" if len(found) > MAX_REPORTED else ""
            raise DataDirError(f"{where}: {len(found)} problem(s):\n  {shown}{more}")


def _sample_rate_of(data: KaldiDataDir) -> int:
    """The sample rate every file in wav.scp shares (commands are trusted to match the files)."""
    rates: dict[int, str] = {}
    for rec, source in data.wav_scp.items():
        if source.endswith("|"):
            continue
        try:
            rates.setdefault(audio_info(source).sample_rate, rec)
        except AudioError as e:
            raise DataDirError(f"{data.path}: recording {rec!r}: {e}") from e
    if not rates:
        raise DataDirError(f"{data.path}: every wav.scp entry is a command; pass sample_rate explicitly")
    if len(rates) > 1:
        raise DataDirError(f"{data.path}: wav.scp mixes sample rates {dict(sorted(rates.items()))} (rate: first recording)")
    return next(iter(rates))


def datadir_to_cuts(path: str | os.PathLike, sample_rate: int | None = None, num_jobs: int = 1) -> CutSet:
    """Validate a Kaldi data dir and turn it into a CutSet, one cut per utterance (cut id = utterance id).

    Uses lhotse's ``load_kaldi_data_dir``; ``sample_rate`` defaults to that of the audio files.
    """
    data = KaldiDataDir.read(path)
    data.validate()
    rate = sample_rate or _sample_rate_of(data)
    recordings, supervisions, _ = load_kaldi_data_dir(path, sampling_rate=rate, num_jobs=num_jobs)
    dropped = sorted(set(data.wav_scp) - set(recordings.ids))
    if dropped:
        raise DataDirError(f"{path}: cannot read the audio of recordings {dropped[:MAX_REPORTED]}")
    if supervisions is None:
        raise DataDirError(f"{path}: no supervisions (utt2spk/segments) found")
    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    if data.segments is not None:
        cuts = cuts.trim_to_supervisions(keep_overlapping=False)
    return CutSet.from_cuts(cut.with_id(cut.supervisions[0].id) for cut in cuts)


def _wav_scp_entry(cut: Cut) -> str:
    rec: Recording = cut.recording
    if len(rec.sources) != 1:
        raise DataDirError(f"cut {cut.id}: recording {rec.id!r} has {len(rec.sources)} sources; wav.scp needs one")
    source = rec.sources[0]
    if source.type == "file":
        return str(source.source)
    if source.type == "command":
        return f"{source.source} |"
    raise DataDirError(f"cut {cut.id}: recording {rec.id!r} is held as {source.type!r}; save its audio to a file first")


def cuts_to_datadir(cuts: Iterable[Cut], path: str | os.PathLike, prefix_speaker_ids: bool = False) -> KaldiDataDir:
    """Write a Kaldi data dir for single-recording cuts; each supervision becomes an utterance.

    ``segments`` is written unless every utterance is a whole recording with the recording's id.
    With ``prefix_speaker_ids`` utterance ids become ``<speaker>-<id>`` (Kaldi's sort order).
    The result is validated before anything is written.
    """
    data = KaldiDataDir()
    segments: dict[str, Segment] = {}
    whole_recordings = True
    for cut in cuts:
        if not isinstance(cut, MonoCut):
            raise DataDirError(f"cut {cut.id}: {type(cut).__name__} has no single recording; save mixed audio first")
        rec = cut.recording
        data.wav_scp[rec.id] = _wav_scp_entry(cut)
        for sup in cut.supervisions:
            if sup.speaker is None:
                raise DataDirError(f"cut {cut.id}: supervision {sup.id!r} has no speaker")
            utt = f"{sup.speaker}-{sup.id}" if prefix_speaker_ids else sup.id
            if utt in segments:
                raise DataDirError(f"cut {cut.id}: duplicate utterance id {utt!r}")
            start = max(0.0, cut.start + sup.start)
            end = min(rec.duration, cut.start + sup.end)
            segments[utt] = Segment(rec.id, round(start, 3), round(end, 3))
            data.text[utt] = " ".join((sup.text or "").split())
            data.utt2spk[utt] = sup.speaker
            if utt != rec.id or start > 1e-3 or end < rec.duration - 1e-3:
                whole_recordings = False
    if not whole_recordings or len(segments) != len(data.wav_scp):
        data.segments = segments
    data.path = Path(path)
    data.validate()
    data.write(path)
    return data
