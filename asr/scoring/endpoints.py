"""Endpoint scoring: how long after the end of a talker's sentence its segment was finalized.

Reference: the utterances of each session with their times (a cuts manifest's supervisions, or
``SESSION SPEAKER START END`` lines). Hypothesis: ``asr transcribe --format jsonl`` lines (each
segment has ``channel`` and ``endpoint`` seconds).

Matching, per session: the reference utterances are put in channels by HEAT (``asr.data.heat``,
as SURT's training targets), and the hypothesis channels are mapped to them by the permutation
with the fewest missed endpoints (then the smallest total |delay|). Within a channel the
utterances are walked in start order; utterance i's endpoint is the earliest unused hypothesis
segment of the mapped channel whose endpoint lies after the utterance starts and before the
next utterance of the channel ends (after that, the endpoint belongs to the next one). None:
a *missed* endpoint. Delay = endpoint - end of speech.

Reported: EP50 and EP90 (median and 90th percentile of the delays, seconds), the early-cutoff rate
(delay < -0.2 s, among matched endpoints) and the missed rate (among reference utterances).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from asr.data.heat import heat_assign
from asr.errors import DataDirError

EARLY_CUTOFF_S = 0.2


@dataclass(frozen=True)
class RefUtterance:
    session: str
    speaker: str
    start: float
    end: float


@dataclass
class EndpointStats:
    """Endpoint delays (seconds, matched utterances) and counts."""

    delays: list[float]
    num_reference: int
    missed: int

    @staticmethod
    def percentile(values: list[float], q: float) -> float:
        """Linear-interpolated percentile (numpy's default), q in [0, 100]; nan when empty."""
        if not values:
            return math.nan
        xs = sorted(values)
        pos = (len(xs) - 1) * q / 100
        lo, hi = math.floor(pos), math.ceil(pos)
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

    @property
    def ep50(self) -> float:
        return self.percentile(self.delays, 50)

    @property
    def ep90(self) -> float:
        return self.percentile(self.delays, 90)

    @property
    def early_cutoff_rate(self) -> float:
        return sum(d < -EARLY_CUTOFF_S for d in self.delays) / len(self.delays) if self.delays else math.nan

    @property
    def missed_rate(self) -> float:
        return self.missed / self.num_reference if self.num_reference else math.nan

    def line(self) -> str:
        return (f"EP50 {self.ep50:.3f} s  EP90 {self.ep90:.3f} s  early-cutoff {100 * self.early_cutoff_rate:.2f}% "
                f"[ {sum(d < -EARLY_CUTOFF_S for d in self.delays)} / {len(self.delays)} ]  missed "
                f"{100 * self.missed_rate:.2f}% [ {self.missed} / {self.num_reference} ]")


def read_reference(path: str | Path) -> dict[str, list[RefUtterance]]:
    """Session -> utterances, from a cuts manifest (``.jsonl``/``.jsonl.gz``: each cut a session,
    each supervision an utterance) or ``SESSION SPEAKER START END`` lines."""
    path = Path(path)
    if not path.is_file():
        raise DataDirError(f"{path}: endpoint reference does not exist")
    out: dict[str, list[RefUtterance]] = {}
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        from asr.data.manifests import read_cuts

        for cut in read_cuts(path):
            out[cut.id] = [RefUtterance(cut.id, s.speaker or "", float(s.start), float(s.start + s.duration))
                           for s in cut.supervisions]
        return out
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            session, speaker, start, end = parts[0], parts[1], float(parts[2]), float(parts[3])
        except (IndexError, ValueError):
            raise DataDirError(f"{path}:{n}: expected 'SESSION SPEAKER START END', got {line!r}") from None
        out.setdefault(session, []).append(RefUtterance(session, speaker, start, end))
    return out


def read_hypothesis(path: str | Path) -> dict[str, dict[int, list[float]]]:
    """Session -> channel -> sorted segment endpoints, from ``asr transcribe --format jsonl`` output."""
    path = Path(path)
    if not path.is_file():
        raise DataDirError(f"{path}: endpoint hypothesis does not exist")
    out: dict[str, dict[int, list[float]]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            channels = out.setdefault(str(item["id"]), {c: [] for c in range(len(item["channels"]))})
            for seg in item["segments"]:
                channels.setdefault(int(seg["channel"]), []).append(float(seg["endpoint"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise DataDirError(f"{path}:{n}: not a transcribe --format jsonl line ({e})") from None
    for channels in out.values():
        for endpoints in channels.values():
            endpoints.sort()
    return out


def match_channel(utterances: list[RefUtterance], endpoints: list[float]) -> list[float | None]:
    """Endpoint of each utterance of one channel (start order), None when missed (module docstring)."""
    used = [False] * len(endpoints)
    result: list[float | None] = []
    for i, utt in enumerate(utterances):
        limit = utterances[i + 1].end if i + 1 < len(utterances) else math.inf
        found = None
        for j, e in enumerate(endpoints):
            if not used[j] and utt.start < e < limit:
                used[j] = True
                found = e
                break
        result.append(found)
    return result


def score_endpoints(reference: dict[str, list[RefUtterance]],
                    hypothesis: dict[str, dict[int, list[float]]]) -> EndpointStats:
    """Endpoint delays over all sessions (a session without hypothesis: all missed)."""
    delays: list[float] = []
    missed = total = 0
    for session, utts in sorted(reference.items()):
        utts = sorted(utts, key=lambda u: (u.start, u.end))
        hyp = hypothesis.get(session, {})
        num_channels = max(2, len(hyp)) if len(utts) > 1 else max(1, len(hyp))
        assigned = heat_assign([(u.start, u.end) for u in utts], num_channels)
        ref_channels = [[u for u, c in zip(utts, assigned) if c == k] for k in range(num_channels)]
        hyp_ids = sorted(hyp) + [None] * (num_channels - len(hyp))
        best: tuple[int, float, list[float | None]] | None = None
        for perm in itertools.permutations(hyp_ids, num_channels):
            matched: list[float | None] = []
            delay_sum = 0.0
            for k, h in enumerate(perm):
                got = match_channel(ref_channels[k], hyp.get(h, []) if h is not None else [])
                matched.extend(None if e is None else e - u.end for u, e in zip(ref_channels[k], got))
            misses = sum(m is None for m in matched)
            delay_sum = sum(abs(m) for m in matched if m is not None)
            if best is None or (misses, delay_sum) < best[:2]:
                best = (misses, delay_sum, matched)
        assert best is not None
        total += len(utts)
        missed += best[0]
        delays.extend(m for m in best[2] if m is not None)
    return EndpointStats(delays, total, missed)
