"""A synthesized corpus from any text file, spoken by espeak-ng and flite voices.

The corpus every fresh machine can build: no download, only the Debian packages espeak-ng and
flite. Each non-empty line (normalized with ``asr.text.normalize_transcript``; lines that are
empty after normalization are skipped and counted) becomes ``repeats`` utterances.

Voices (``list_voices``): every espeak-ng English accent that needs no MBROLA data
(``espeak-ng --voices=en``: en-us, en-gb, en-gb-scotland, en-gb-x-rp, en-gb-x-gbclan,
en-gb-x-gbcwmd, en-029, en-us-nyc, ...) crossed with the variants m1-m7 and f1-f5, plus the
flite voices of ``flite -lv`` except the limited-domain ``awb_time`` (kal, kal16, awb, rms, slt).
Held out for test only (``TEST_ONLY``): the espeak variants ``m4`` and ``f4`` (all accents) and
flite ``rms``; train and dev never use them. Per utterance the rate (espeak words/min, flite
duration stretch) and pitch (espeak pitch 0-99, flite target mean F0) are drawn at random.

Splits are by sentence: a line goes to test with probability ``test_fraction``, to dev with
``dev_fraction``, else train. Every random choice is seeded by ``(seed, line, repeat)``, so the
corpus does not depend on the number of jobs or on resumption. Audio is resampled to 16 kHz and
written atomically to ``<audio_dir>/<speaker>/<utt>.wav``; a rerun skips files already there.
With ``max_hours`` the lines are taken in a seeded random order until the total reaches it.
The speaker of an utterance is its voice (``espeak-en-us-f3``), which prefixes the utterance id.

More training data without touching dev and test: ``extra_repeats`` speaks every train-split line
of the main text (beyond the ``max_hours`` cap too) again with that many further voices, and
``extra_train_texts`` adds other text files whose lines are all training material; both go to the
split ``train_extra`` (uncapped), so the capped corpus and its held-out test stay exactly the same.
Lines of an extra text that also occur in the main text's dev or test split are dropped.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import subprocess
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import soundfile as sf
from lhotse import CutSet
from tqdm import tqdm

from asr.corpora.common import corpus_cli, make_cut
from asr.errors import AudioError, DataDirError
from asr.utils.io import atomic_write

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
FLITE_EXCLUDED = ("awb_time",)  # limited domain: speaks only clock times
TEST_ONLY = ("espeak:*+m4", "espeak:*+f4", "flite:rms")
# Rough mean F0 (Hz) of each flite voice; the pitch factor scales it.
FLITE_F0 = {"kal": 105.0, "kal16": 105.0, "awb": 110.0, "rms": 100.0, "slt": 170.0}


@dataclass(frozen=True)
class Voice:
    engine: str  # "espeak" or "flite"
    name: str  # espeak "en-us+f3", flite "slt"

    @property
    def speaker(self) -> str:
        """A speaker id safe in file names and Kaldi ids: ``espeak-en-us-f3``, ``flite-slt``."""
        return f"{self.engine}-{self.name.replace('+', '-')}"

    @property
    def test_only(self) -> bool:
        variant = self.name.partition("+")[2]
        for pattern in TEST_ONLY:
            engine, _, name = pattern.partition(":")
            if engine != self.engine:
                continue
            if name == self.name or (name.startswith("*+") and variant == name[2:]):
                return True
        return False


@dataclass
class SynthConfig:
    """What to synthesize and how to vary it."""

    seed: int = 0
    repeats: int = 1  # utterances per text line, each with its own voice, rate and pitch
    max_hours: float | None = None  # stop once this much audio is planned and synthesized
    dev_fraction: float = 0.05
    test_fraction: float = 0.05
    flite_fraction: float = 0.3  # share of utterances spoken by flite voices
    espeak_rate: tuple[int, int] = (135, 205)  # words per minute
    espeak_pitch: tuple[int, int] = (25, 75)  # 0-99
    flite_stretch: tuple[float, float] = (0.85, 1.2)  # duration multiplier (>1 slower)
    flite_pitch: tuple[float, float] = (0.85, 1.2)  # multiplier of the voice's mean F0
    num_jobs: int = 1
    audio_dir: Path | None = None  # default <output_dir>/synth_audio
    progress: bool = True
    #: further voices per train-split line of the main text, for the split ``train_extra``
    extra_repeats: int = 0
    #: text files whose lines are all training material (``train_extra``), each spoken ``extra_repeats`` times (at least once)
    extra_train_texts: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Utterance:
    """One planned utterance; ``synthesize`` turns it into a 16 kHz wav at ``path``."""

    utt_id: str
    split: str
    voice: Voice
    rate: float  # espeak words/min or flite duration stretch
    pitch: float  # espeak pitch or flite mean F0 in Hz
    text: str
    path: Path = field(compare=False)


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, check=True, capture_output=True, **kwargs)
    except FileNotFoundError as exc:
        raise RuntimeError(f"{cmd[0]} not installed (apt-get install espeak-ng flite)") from exc


def list_voices() -> list[Voice]:
    """All usable English voices of the installed engines; raises ``RuntimeError`` if there are none."""
    voices: list[Voice] = []
    if shutil.which("espeak-ng"):
        out = _run(["espeak-ng", "--voices=en"], text=True).stdout.splitlines()[1:]
        accents = []
        for line in out:
            cols = line.split()
            # columns: Pty Language Age/Gender VoiceName File [Other languages]
            if len(cols) >= 5 and not cols[4].startswith("mb/") and cols[1].startswith("en") and cols[1] not in accents:
                accents.append(cols[1])
        voices += [Voice("espeak", f"{accent}+{variant}") for accent in sorted(accents) for variant in ESPEAK_VARIANTS]
    if shutil.which("flite"):
        out = _run(["flite", "-lv"], text=True).stdout
        names = out.split(":", 1)[1].split() if ":" in out else []
        voices += [Voice("flite", name) for name in sorted(names) if name not in FLITE_EXCLUDED]
    if not voices:
        raise RuntimeError("no speech synthesizer found: apt-get install espeak-ng flite")
    return voices


def read_lines(text_path: str | Path) -> tuple[list[tuple[int, str]], int]:
    """``([(line_index, normalized_text), ...], number_of_skipped_empty_lines)``."""
    from asr.text import normalize_transcript

    kept, skipped = [], 0
    with open(text_path, encoding="utf-8") as f:
        for index, line in enumerate(f):
            text = normalize_transcript(line, allow_empty=True)
            if text:
                kept.append((index, text))
            else:
                skipped += 1
    return kept, skipped


def line_split(index: int, cfg: SynthConfig) -> str:
    """The split of main-text line ``index``: seeded by the line alone, so it never depends on
    the cap, the repeats or the extra material."""
    u = random.Random(f"{cfg.seed}-split-{index}").random()
    return "test" if u < cfg.test_fraction else "dev" if u < cfg.test_fraction + cfg.dev_fraction else "train"


def _draw_utterance(key: str, utt_id: str, split: str, text: str, pool: Sequence[Voice], audio_dir: Path,
                    cfg: SynthConfig) -> Utterance:
    rng = random.Random(key)
    engine = "flite" if rng.random() < cfg.flite_fraction else "espeak"
    candidates = [v for v in pool if v.engine == engine] or list(pool)
    voice = rng.choice(candidates)
    if voice.engine == "espeak":
        rate = float(rng.randint(*cfg.espeak_rate))
        pitch = float(rng.randint(*cfg.espeak_pitch))
    else:
        rate = round(rng.uniform(*cfg.flite_stretch), 3)
        pitch = round(FLITE_F0.get(voice.name, 120.0) * rng.uniform(*cfg.flite_pitch), 1)
    utt_id = f"{voice.speaker}-{utt_id}"
    return Utterance(utt_id, split, voice, rate, pitch, text, audio_dir / voice.speaker / f"{utt_id}.wav")


def _voice_pools(voices: Sequence[Voice]) -> tuple[list[Voice], list[Voice]]:
    train_voices = [v for v in voices if not v.test_only]
    test_voices = [v for v in voices if v.test_only]
    if not train_voices or not test_voices:
        raise RuntimeError(f"need voices for both train and test, have {[v.speaker for v in voices]}")
    return train_voices, test_voices


def plan(lines: list[tuple[int, str]], voices: Sequence[Voice], audio_dir: Path, cfg: SynthConfig) -> list[Utterance]:
    """Every utterance with its split, voice, rate and pitch, in the seeded order used by ``max_hours``."""
    train_voices, test_voices = _voice_pools(voices)
    utterances = []
    for index, text in lines:
        split = line_split(index, cfg)
        pool = test_voices if split == "test" else train_voices
        for repeat in range(cfg.repeats):
            key = f"{cfg.seed}-{index}-{repeat}"
            utterances.append(_draw_utterance(key, f"{index:06d}-{repeat}", split, text, pool, audio_dir, cfg))
    random.Random(f"{cfg.seed}-order").shuffle(utterances)
    return utterances


def plan_extra(lines: list[tuple[int, str]], extra_texts: Sequence[list[tuple[int, str]]], voices: Sequence[Voice],
               audio_dir: Path, cfg: SynthConfig) -> list[Utterance]:
    """The ``train_extra`` utterances: train-split main lines spoken by ``extra_repeats`` further
    voices (repeat numbers after the main ones, so ids never collide), and every line of each extra
    text (ids ``<voice>-x<file><line>-<repeat>``) unless the main text holds it in dev or test."""
    train_voices, _ = _voice_pools(voices)
    held_out = {text for index, text in lines if line_split(index, cfg) != "train"}
    utterances = []
    for index, text in lines:
        if line_split(index, cfg) != "train":
            continue
        for repeat in range(cfg.repeats, cfg.repeats + cfg.extra_repeats):
            key = f"{cfg.seed}-{index}-{repeat}"
            utterances.append(_draw_utterance(key, f"{index:06d}-{repeat}", "train_extra", text, train_voices, audio_dir, cfg))
    for file_no, extra in enumerate(extra_texts):
        for index, text in extra:
            if text in held_out:
                continue
            for repeat in range(max(1, cfg.extra_repeats)):
                key = f"{cfg.seed}-x{file_no}-{index}-{repeat}"
                utt = f"x{file_no}{index:06d}-{repeat}"
                utterances.append(_draw_utterance(key, utt, "train_extra", text, train_voices, audio_dir, cfg))
    return utterances


def synthesize(utt: Utterance) -> float:
    """Write ``utt.path`` (16 kHz mono wav) unless a readable file is there; returns its duration (s)."""
    from asr.audio import load_audio, save_audio

    if utt.path.exists():
        try:
            return sf.info(str(utt.path)).duration
        except RuntimeError:
            log.warning("%s unreadable, synthesizing again", utt.path)
    with tempfile.TemporaryDirectory(prefix="synth-") as tmp:
        raw = Path(tmp) / "raw.wav"
        if utt.voice.engine == "espeak":
            cmd = ["espeak-ng", "-v", utt.voice.name, "-s", str(int(utt.rate)), "-p", str(int(utt.pitch)), "-w", str(raw), "--stdin"]
            _run(cmd, input=utt.text.encode())
        else:
            text_file = Path(tmp) / "text.txt"
            text_file.write_text(utt.text + "\n", encoding="utf-8")
            cmd = [
                "flite", "-voice", utt.voice.name,
                "--setf", f"duration_stretch={utt.rate}",
                "--setf", f"int_f0_target_mean={utt.pitch}",
                "-f", str(text_file), "-o", str(raw),
            ]  # fmt: skip
            _run(cmd)
        samples = load_audio(raw, SAMPLE_RATE)
    if samples.size == 0:
        raise AudioError(f"{utt.utt_id}: {utt.voice.engine} produced no audio for '{utt.text}'")
    save_audio(utt.path, samples, SAMPLE_RATE)
    return len(samples) / SAMPLE_RATE


def _synthesize_all(utterances: list[Utterance], cfg: SynthConfig) -> Iterator[tuple[Utterance, float]]:
    """Yield ``(utterance, duration)`` in plan order; work runs on ``cfg.num_jobs`` processes."""
    if cfg.num_jobs <= 1:
        for utt in utterances:
            yield utt, synthesize(utt)
        return
    with ProcessPoolExecutor(cfg.num_jobs) as pool:
        try:
            # map keeps plan order, so max_hours cuts the same prefix whatever the job count.
            yield from zip(utterances, pool.map(synthesize, utterances, chunksize=8))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _cut_of(utt: Utterance):
    cut = make_cut(utt.utt_id, utt.path, utt.text, utt.voice.speaker)
    cut.supervisions[0].custom = {"engine": utt.voice.engine, "voice": utt.voice.name, "rate": utt.rate, "pitch": utt.pitch}
    return cut


def prepare(
    text_path: str | Path,
    output_dir: str | Path,
    config: SynthConfig | None = None,
    voices: Sequence[Voice] | None = None,
) -> dict[str, CutSet]:
    """Synthesize the corpus; returns ``{"train", "dev", "test"[, "train_extra"]}`` cuts (a split may be empty
    only when the text is tiny). Writes ``<output_dir>/synth_info.json`` with the voices, the
    config, the skipped line count and the hours per split."""
    cfg = config or SynthConfig()
    text_path, output_dir = Path(text_path), Path(output_dir)
    if not text_path.is_file():
        raise DataDirError(f"{text_path}: text file not found")
    lines, skipped = read_lines(text_path)
    if skipped:
        log.info("%s: skipped %d lines that are empty after normalization", text_path, skipped)
    if not lines:
        raise DataDirError(f"{text_path}: no non-empty lines to synthesize")
    voices = list(voices) if voices is not None else list_voices()
    audio_dir = Path(cfg.audio_dir) if cfg.audio_dir else output_dir / "synth_audio"
    utterances = plan(lines, voices, audio_dir, cfg)

    cap = cfg.max_hours * 3600 if cfg.max_hours else None
    bar = tqdm(
        total=cap if cap else len(utterances),
        unit="s" if cap else "utt",
        desc="synthesizing (audio seconds)" if cap else "synthesizing",
        disable=not cfg.progress,
        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} [{elapsed}<{remaining}, {rate_fmt}]",
    )
    splits: dict[str, list] = {"train": [], "dev": [], "test": [], "train_extra": []}
    total = 0.0
    with bar:
        for utt, duration in _synthesize_all(utterances, cfg):
            splits[utt.split].append(_cut_of(utt))
            total += duration
            bar.update(min(duration, cap - bar.n) if cap else 1)
            bar.set_postfix(hours=f"{total / 3600:.2f}")
            if cap and total >= cap:
                break
    extra_texts = []
    for path in cfg.extra_train_texts:
        if not Path(path).is_file():
            raise DataDirError(f"{path}: extra training text not found")
        extra_lines, _ = read_lines(path)
        extra_texts.append(extra_lines)
    extra = plan_extra(lines, extra_texts, voices, audio_dir, cfg)
    if extra:
        with tqdm(total=len(extra), desc="synthesizing train_extra", unit="utt", disable=not cfg.progress) as extra_bar:
            for utt, _ in _synthesize_all(extra, cfg):
                splits[utt.split].append(_cut_of(utt))
                extra_bar.update(1)
    result = {name: CutSet.from_cuts(sorted(cuts, key=lambda c: c.id)) for name, cuts in splits.items() if cuts}
    info = {
        "text": str(text_path),
        "skipped_empty_lines": skipped,
        "voices": {"train_dev": [v.speaker for v in voices if not v.test_only], "test_only": [v.speaker for v in voices if v.test_only]},
        "config": json.loads(json.dumps(asdict(cfg), default=str)),
        "hours": {name: sum(c.duration for c in cuts) / 3600 for name, cuts in result.items()},
        "utterances": {name: len(cuts) for name, cuts in result.items()},
    }
    with atomic_write(output_dir / "synth_info.json") as f:
        json.dump(info, f, indent=2)
    print(f"skipped {skipped} empty lines; " + ", ".join(f"{k}: {v} utts {info['hours'][k]:.3f} h" for k, v in info["utterances"].items()))
    return result


def download(target_dir: str | Path) -> Path:
    """Nothing to fetch: checks that a synthesizer is installed and returns ``target_dir``."""
    list_voices()
    return Path(target_dir)


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="utterances per text line")
    parser.add_argument("--hours", dest="max_hours", type=float, default=None, help="cap on total audio")
    parser.add_argument("--num-jobs", type=int, default=1)
    parser.add_argument("--audio-dir", type=Path, default=None)
    parser.add_argument("--list-voices", dest="show_voices", action="store_true", help="print the voices and exit")
    parser.add_argument("--extra-repeats", type=int, default=0,
                        help="speak every train-split line this many more times, into the split train_extra (uncapped)")
    parser.add_argument("--test-fraction", type=float, default=SynthConfig.test_fraction,
                        help="share of lines in test (held-out voices); 1 makes the whole text a test set")
    parser.add_argument("--dev-fraction", type=float, default=SynthConfig.dev_fraction, help="share of lines in dev")
    parser.add_argument("--extra-train-text", dest="extra_train_texts", type=Path, action="append", default=[],
                        help="a text file whose lines are all training material (train_extra); repeatable")


def _prepare_cli(
    corpus_dir: Path, output_dir: Path, seed: int, repeats: int, max_hours: float | None, num_jobs: int, audio_dir: Path | None, show_voices: bool,
    extra_repeats: int = 0, extra_train_texts: Sequence[Path] = (),
    test_fraction: float = SynthConfig.test_fraction, dev_fraction: float = SynthConfig.dev_fraction,
) -> dict[str, CutSet]:
    if show_voices:
        for voice in list_voices():
            print(voice.speaker, "(test only)" if voice.test_only else "")
        raise SystemExit(0)
    cfg = SynthConfig(seed=seed, repeats=repeats, max_hours=max_hours, num_jobs=num_jobs, audio_dir=audio_dir,
                      extra_repeats=extra_repeats, extra_train_texts=tuple(extra_train_texts),
                      test_fraction=test_fraction, dev_fraction=dev_fraction)
    return prepare(corpus_dir, output_dir, cfg)


def main(argv: Sequence[str] | None = None) -> None:
    corpus_cli("synth", download, _prepare_cli, _add_args, argv=argv)


if __name__ == "__main__":
    main()
