"""Training data for the ITN tagger: labelled word sequences in ASR style.

Three sources, all with BIO labels (``asr.itn.tags``):

* **Synthetic**: written expressions drawn at random per category (``$12.50``, ``March 3``,
  ``555-1234``, ...), verbalized by the category grammar (``GrammarSet.verbalize``), and
  inserted at random word boundaries into carrier sentences from ``text/*.txt`` (a random one of the spoken variants of
  ``GrammarSet.verbalize_all``, the canonical one most often). Labels are
  known by construction. Number words already in the carrier text get no label (loss-masked):
  book text writes many numbers as words, and we do not want to teach either way from it.
* **LibriTTS pairs** (``itn/LibriTTS.json``): the spoken form (``gt_normalized``, in ASR style)
  is aligned with the written form (``text``); each differing region is segmented into spans
  that some category grammar maps from the spoken words to exactly the written words (up to
  :func:`asr.itn.forms.comparison_form`). Matching spans get that category; tokens of a region no
  grammar explains get no label (masked); tokens equal on both sides are ``O``.

* **Verbalized written sentences** (the TN direction, :func:`verbalized_sentences`): the
  written side of Google TN's train split, each semiotic token spoken by the category
  verbalizers in several variants; its real spoken side is labelled like LibriTTS too. Its
  sentences that need no change are the negative examples (number words used as words).

A fixed 20% of LibriTTS, chosen by a hash of the written text, is the test split: it is never
used for training and the benchmark measures on it (:func:`libritts_split`); likewise a fixed
25% of Google TN (:func:`google_tn_split`).

CLI: ``python -m asr.itn.tagger_data --data-dir ../shared/data --out-dir egs/itn/data``.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from functools import partial
from typing import Iterable, Protocol, Sequence

from tqdm import tqdm

from asr.errors import DataDirError
from asr.itn.forms import asr_style, comparison_form
from asr.itn.tags import CATEGORIES, IGNORE_TAG, TokenSpan, spans_to_tags
from asr.utils.io import atomic_write

TEST_PERCENT = 20
# Google TN sentences held out for the benchmark (issue 15): never used to train the tagger.
GOOGLE_TN_DEV_PERCENT = 25
_GOOGLE_TN_SALT = "google-tn-dev-v1"  # fixes the split; changing it would leak dev into training

NUMBER_WORDS = frozenset(
    "zero oh one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred "
    "thousand million billion first second third fourth fifth sixth seventh eighth ninth tenth eleventh "
    "twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth "
    "thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth hundredth thousandth half "
    "quarter dollars dollar cents cent pounds percent".split()
)

_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_GROUPED = frozenset({"cardinal", "ordinal", "decimal", "money", "measure"})

# When several grammars explain a span, the most specific one labels it.
_PRIORITY = ("telephone", "electronic", "money", "measure", "time", "date", "decimal", "fraction",
             "ordinal", "cardinal", "whitelist", "roman")


class Grammars(Protocol):
    """The part of ``wfst.itn.GrammarSet`` that data generation uses."""

    categories: Iterable[str]

    def normalize(self, category: str, spoken: str) -> str | None: ...

    def verbalize(self, category: str, written: str) -> str | None: ...

    def verbalize_all(self, category: str, written: str, limit: int = 10) -> list[str]: ...


@dataclass
class TaggedSentence:
    """ASR-style words with one tag id per word (``IGNORE_TAG`` where the label is unknown)."""

    words: list[str]
    tags: list[int]
    source: str


def libritts_split(written: str) -> str:
    """``"test"`` for a fixed ``TEST_PERCENT`` of sentences (by MD5 of the written text), else ``"train"``."""
    h = int(hashlib.md5(written.encode("utf-8")).hexdigest()[:8], 16)
    return "test" if h % 100 < TEST_PERCENT else "train"


def read_libritts(path: str | Path, split: str | None = None) -> list[dict]:
    """Rows of LibriTTS.json (``text``, ``gt_normalized``, ``transcript``), optionally one split."""
    return [row for row in read_itn_rows(path, "LibriTTS ITN")
            if split is None or libritts_split(row["text"]) == split]


def read_itn_rows(path: str | Path, what: str, require_strings: bool = False) -> list[dict]:
    """The JSON lines of an ITN pair file (``text`` written, ``gt_normalized`` spoken), blank lines
    skipped; ``DataDirError`` naming the file for a missing file, and the line for a row that is not
    JSON or lacks a key (or, with ``require_strings``, whose two fields are not strings)."""
    path = Path(path)
    if not path.is_file():
        raise DataDirError(f"{path}: {what} pairs not found")
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                written, spoken = row["text"], row["gt_normalized"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise DataDirError(f"{path}:{n}: not a {what} row ({e})") from e
            if require_strings and not (isinstance(written, str) and isinstance(spoken, str)):
                raise DataDirError(f"{path}:{n}: text and gt_normalized must be strings")
            rows.append(row)
    return rows


def google_tn_split(written: str) -> str:
    """``"dev"`` for a fixed ``GOOGLE_TN_DEV_PERCENT`` of Google TN sentences (salted MD5 of the
    written text, so duplicates of a sentence fall on the same side), else ``"train"``."""
    h = int(hashlib.md5((_GOOGLE_TN_SALT + written).encode("utf-8")).hexdigest()[:8], 16)
    return "dev" if h % 100 < GOOGLE_TN_DEV_PERCENT else "train"


def read_google_tn(path: str | Path, split: str | None = None) -> list[dict]:
    """Rows of google_tn_train.jsonl (``text`` written and cased, ``gt_normalized`` spoken),
    optionally one split of :func:`google_tn_split`."""
    return [row for row in read_itn_rows(path, "Google TN", require_strings=True)
            if split is None or google_tn_split(row["text"]) == split]


class SpanMatcher:
    """Which category grammar maps a spoken word span to a written one (memoized)."""

    def __init__(self, grammars: Grammars) -> None:
        self.grammars = grammars
        available = set(grammars.categories)
        self.categories = [c for c in _PRIORITY if c in available]
        self._cache: dict[tuple[str, str], str | None] = {}

    def normalized(self, category: str, spoken: str) -> str | None:
        key = (category, spoken)
        if key not in self._cache:
            out = self.grammars.normalize(category, spoken)
            self._cache[key] = None if out is None else comparison_form(out)
        return self._cache[key]

    def match(self, spoken: str, written: str) -> str | None:
        for c in self.categories:
            if self.normalized(c, spoken) == written:
                return c
        # Labels only pick the category: "2,700" written and "2700" normalized are one number
        # (but never a year, date or phone number: those take no separators).
        if _THOUSANDS_COMMA.search(written):
            plain = _THOUSANDS_COMMA.sub("", written)
            for c in self.categories:
                if c in _GROUPED and (out := self.normalized(c, spoken)) is not None and \
                        _THOUSANDS_COMMA.sub("", out) == plain:
                    return c
        return None


def _segment(spoken: list[str], spoken_cmp: list[str], written: list[str], matcher: SpanMatcher,
             max_spoken: int = 10, max_written: int = 4) -> list[TokenSpan] | None:
    """Fewest-spans segmentation of an aligned region into copies and grammar spans, or None.

    DP over (i, j): copy a word when ``spoken_cmp[i] == written[j]`` (cost 0), or take a span
    ``spoken[i:i2] -> written[j:j2]`` explained by a grammar (cost 1). ``spoken_cmp`` is
    ``spoken`` in comparison form, ``written`` is in comparison form.
    """
    n, m = len(spoken), len(written)
    inf = float("inf")
    best: dict[tuple[int, int], tuple[float, tuple | None]] = {(0, 0): (0.0, None)}
    for i in range(n + 1):
        for j in range(m + 1):
            if (i, j) not in best:
                continue
            cost = best[(i, j)][0]
            cand = []
            if i < n and j < m and spoken_cmp[i] == written[j]:
                cand.append(((i + 1, j + 1), cost, None))
            for i2 in range(i + 1, min(n, i + max_spoken) + 1):
                for j2 in range(j + 1, min(m, j + max_written) + 1):
                    cat = matcher.match(" ".join(spoken[i:i2]), " ".join(written[j:j2]))
                    if cat:
                        cand.append(((i2, j2), cost + 1, TokenSpan(i, i2, cat)))
            for state, c, span in cand:
                if c < best.get(state, (inf, None))[0]:
                    best[state] = (c, ((i, j), span))
    if (n, m) not in best:
        return None
    spans, state = [], (n, m)
    while best[state][1] is not None:
        prev, span = best[state][1]
        if span is not None:
            spans.append(span)
        state = prev
    return spans[::-1]


def _label_region(words: list[str], spoken_cmp: list[str], written: list[str], tags: list[int],
                  region: tuple[int, int, int, int], matcher: SpanMatcher, context: int, mask: bool) -> bool:
    """Label the differing region ``words[i1:i2]`` <-> ``written[j1:j2]`` in ``tags``; False when
    no segmentation explains it (its words are then masked if ``mask``)."""
    i1, i2, j1, j2 = region
    # Widen by a few equal words on each side: "july | twenty second" -> "july 22" is one date.
    a1, a2 = max(0, i1 - context), min(len(words), i2 + context)
    b1, b2 = j1 - (i1 - a1), j2 + (a2 - i2)
    if b1 < 0 or b2 > len(written) or spoken_cmp[a1:i1] != written[b1:j1] or spoken_cmp[i2:a2] != written[j2:b2]:
        a1, a2, b1, b2 = i1, i2, j1, j2
    spans = _segment(words[a1:a2], spoken_cmp[a1:a2], written[b1:b2], matcher)
    if spans is None:
        if mask:
            for k in range(i1, i2):
                tags[k] = IGNORE_TAG
        return False
    labels = spans_to_tags(a2 - a1, spans)
    for k in range(a1, a2):
        # Context words keep an earlier label unless a span covers them.
        if (i1 <= k < i2) or labels[k - a1] != 0:
            tags[k] = labels[k - a1]
    return True


def label_libritts(row: dict, matcher: SpanMatcher, context: int = 2, max_gap: int = 2) -> TaggedSentence | None:
    """Tag the ASR-style spoken form of one LibriTTS row by aligning it with the written form."""
    words = asr_style(row["gt_normalized"]).split()
    if not words:
        return None
    spoken_cmp = [comparison_form(w) for w in words]
    written = comparison_form(row["text"]).split()
    tags = [0] * len(words)
    ops = difflib.SequenceMatcher(a=spoken_cmp, b=written, autojunk=False).get_opcodes()
    # Differing regions split by one or two equal words are one expression more often than not:
    # "the twenty second of | october | twenty eleven" -> "22 | October | 2011" is one date.
    # Merge them; the segmentation below copies the equal words inside a region.
    regions: list[list[tuple[int, int, int, int]]] = []
    last_equal = 0
    for op, i1, i2, j1, j2 in ops:
        if op == "equal":
            last_equal = i2 - i1
        elif regions and last_equal <= max_gap:
            regions[-1].append((i1, i2, j1, j2))
        else:
            regions.append([(i1, i2, j1, j2)])
    for parts in regions:
        merged = (parts[0][0], parts[-1][1], parts[0][2], parts[-1][3])
        # When the merged region has no segmentation, its parts are labelled one by one.
        for i1, i2, j1, j2 in [merged] if _label_region(words, spoken_cmp, written, tags, merged, matcher,
                                                        context, mask=len(parts) == 1) else parts:
            if len(parts) > 1:
                _label_region(words, spoken_cmp, written, tags, (i1, i2, j1, j2), matcher, context, mask=True)
    return TaggedSentence(words, tags, "libritts")


# ---------------------------------------------------------------------------------------------
# Synthetic expressions


def _int_text(n: int, rng: random.Random) -> str:
    return f"{n:,}" if n >= 10000 or (n >= 1000 and rng.random() < 0.5) else str(n)


def _cardinal(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.35:
        n = rng.randint(10, 99)
    elif r < 0.6:
        n = rng.randint(100, 999)
    elif r < 0.85:
        n = rng.randint(1000, 99999)
    else:
        n = rng.randint(100000, 9999999)
    return _int_text(n, rng)


def _ordinal(rng: random.Random) -> str:
    n = rng.choice([rng.randint(1, 31), rng.randint(1, 31), rng.randint(32, 200)])
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _decimal(rng: random.Random) -> str:
    whole = rng.choice([0, rng.randint(1, 9), rng.randint(10, 999)])
    return f"{whole}.{rng.randint(1, 99) if rng.random() < 0.6 else rng.randint(1, 9)}"


def _fraction(rng: random.Random) -> str:
    den = rng.randint(2, 16)
    frac = f"{rng.randint(1, den - 1)}/{den}"
    return f"{rng.randint(1, 20)} {frac}" if rng.random() < 0.3 else frac


def _money(rng: random.Random) -> str:
    cur = rng.choice(["$", "$", "$", "£", "€"])
    r = rng.random()
    if r < 0.3:
        return f"{cur}{_int_text(rng.randint(1, 999), rng)}"
    if r < 0.55:
        return f"{cur}{rng.randint(0, 99)}.{rng.randint(1, 99):02d}"
    if r < 0.65:
        return f"{cur}0.{rng.randint(1, 99):02d}"  # cents only: "fifty cents"
    if r < 0.8:
        # Scale words: "$3 million", "$2.5 billion".
        amount = str(rng.randint(1, 999)) if rng.random() < 0.6 else f"{rng.randint(1, 99)}.{rng.randint(1, 9)}"
        return f"{cur}{amount} {rng.choice(['million', 'million', 'billion', 'trillion'])}"
    return f"{cur}{_int_text(rng.choice([rng.randint(1, 99) * 100, rng.randint(1000, 100000)]), rng)}"


_UNITS = ["kg", "km", "m", "cm", "mm", "g", "lb", "lbs", "ft", "in", "mi", "mph", "km/h", "%", "°F", "°C",
          "ml", "l", "oz", "h", "min", "s", "kb", "mb", "gb", "hz", "khz", "kw", "v"]


def _measure(rng: random.Random) -> str:
    num = _decimal(rng) if rng.random() < 0.25 else str(rng.choice([rng.randint(1, 20), rng.randint(2, 999)]))
    unit = rng.choice(_UNITS)
    return f"{num}{unit}" if unit in ("%", "°F", "°C") else f"{num} {unit}"


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]


def _year(rng: random.Random) -> int:
    return rng.choice([rng.randint(1500, 1999), rng.randint(1900, 2030), rng.randint(2000, 2030)])


def _date(rng: random.Random) -> str:
    m, d = rng.choice(_MONTHS), rng.randint(1, 28 if rng.random() < 0.5 else 31)
    r = rng.random()
    if r < 0.35:
        return f"{m} {d}"
    if r < 0.65:
        return f"{m} {d}, {_year(rng)}"
    if r < 0.72:
        return f"{m} {_year(rng)}"
    if r < 0.82:
        # Day-first with a year, as Google TN writes it ("17 April 1981").
        return f"{d} {m} {_year(rng)}"
    if r < 0.9:
        return str(_year(rng))
    return f"{rng.randint(1, 12)}/{d}/{_year(rng)}"


def _time(rng: random.Random) -> str:
    h, m = rng.randint(1, 12), rng.choice([0, 15, 30, 45, rng.randint(1, 59)])
    suffix = rng.choice(["", " a.m.", " p.m.", " p.m."])
    if m == 0 and suffix and rng.random() < 0.5:
        return f"{h}{suffix}"
    # No 24-hour times: "nineteen fifteen" is far more often a year than 19:15.
    return f"{h}:{m:02d}{suffix}"


def _telephone(rng: random.Random) -> str:
    def digits(k: int) -> str:
        return "".join(str(rng.randint(0, 9)) for _ in range(k))

    r = rng.random()
    if r < 0.35:
        return f"{rng.randint(2, 9)}{digits(2)}-{digits(4)}"
    if r < 0.65:
        return f"{rng.randint(2, 9)}{digits(2)}-{rng.randint(2, 9)}{digits(2)}-{digits(4)}"
    if r < 0.75:
        return f"({rng.randint(2, 9)}{digits(2)}) {rng.randint(2, 9)}{digits(2)}-{digits(4)}"
    if r < 0.88:
        # International: "+44 2079460958", "+1 202-555-1234".
        if rng.random() < 0.3:
            return f"+1 {rng.randint(2, 9)}{digits(2)}-{rng.randint(2, 9)}{digits(2)}-{digits(4)}"
        return f"+{rng.choice(['44', '49', '33', '61', '91', '353', '86', '7', '34', '39'])} {rng.randint(1, 9)}{digits(rng.randint(6, 10))}"
    # IPv4 address.
    return ".".join(str(rng.choice([rng.randint(0, 255), rng.randint(0, 9), 192, 168, 10])) for _ in range(4))


_NAMES = ["john", "mary", "smith", "info", "support", "anna", "bob", "sales", "contact", "jane", "admin",
          "mike", "hello", "news", "team", "alex", "lee"]
_DOMAINS = ["gmail", "example", "yahoo", "openai", "company", "mail", "school", "library", "google", "city"]
_TLDS = ["com", "org", "net", "edu", "io", "co.uk"]


def _name_or_word(names: list[str], words: Sequence[str], rng: random.Random) -> str:
    if words and rng.random() < 0.5:
        return "".join(c for c in rng.choice(words) if c.isalpha()) or rng.choice(names)
    return rng.choice(names)


def _electronic(rng: random.Random, words: Sequence[str] = ()) -> str:
    """An e-mail address or URL; with ``words``, half the names are arbitrary words (never-seen domains)."""
    user = _name_or_word(_NAMES, words, rng)
    if rng.random() < 0.4:
        user += rng.choice([".", "_", ""]) + _name_or_word(_NAMES, words, rng)
    if rng.random() < 0.25:
        user += str(rng.randint(1, 99))
    host = f"{_name_or_word(_DOMAINS, words, rng)}.{rng.choice(_TLDS)}"
    r = rng.random()
    if r < 0.55:
        return f"{user}@{host}"
    if r < 0.8:
        return f"www.{host}"
    return f"{rng.choice(['http', 'https'])}://{rng.choice(['', 'www.'])}{host}"


# Titles only, each inserted before a name: "doctor" alone ("the doctor said") stays a word.
_WHITELIST = ["Dr.", "Mr.", "Mrs.", "Ms.", "St.", "Prof.", "Mt."]
_TITLED_NAMES = ["smith", "brown", "jones", "johnson", "miller", "davis", "wilson", "taylor", "clark",
                 "lewis", "walker", "hall", "allen", "young", "king", "wright", "scott", "green", "baker",
                 "adams", "nelson", "hill", "campbell", "mitchell", "roberts", "carter", "phillips",
                 "evans", "turner", "parker", "collins", "edwards", "stewart", "morris", "murphy",
                 "cook", "rogers", "morgan", "peterson", "cooper", "reed", "bailey", "bell", "louis",
                 "paul", "peter", "john", "helens", "everest", "whitney", "james", "mary", "george"]


def _whitelist(rng: random.Random) -> str:
    return rng.choice(_WHITELIST)


GENERATORS = {
    "cardinal": _cardinal, "ordinal": _ordinal, "decimal": _decimal, "fraction": _fraction,
    "money": _money, "measure": _measure, "date": _date, "time": _time, "telephone": _telephone,
    "electronic": _electronic, "whitelist": _whitelist,
}

# Words that often precede an expression of a category: inserted before it half of the time so
# the tagger sees the expression both in natural and in arbitrary positions.
_CUES = {
    "time": ["at", "by", "until", "from"], "date": ["on", "since", "by", "in"],
    "telephone": ["call me at", "my number is", "dial", "phone"], "electronic": ["email", "write to", "visit"],
    "money": ["costs", "paid", "for", "about"], "measure": ["about", "weighs", "of"],
    "whitelist": [], "cardinal": ["about", "of", "the"], "ordinal": ["the", "on the"],
    "decimal": ["about", "is"], "fraction": ["about", "of"],
}


def carrier_sentences(text_dir: str | Path) -> list[list[str]]:
    """ASR-style sentences from every ``*.txt`` under ``text_dir`` (one sentence a line)."""
    text_dir = Path(text_dir)
    files = sorted(text_dir.glob("*.txt"))
    if not files:
        raise DataDirError(f"{text_dir}: no carrier text files (*.txt)")
    out = []
    for f in files:
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
            words = asr_style(line).split()
            if 3 <= len(words) <= 60:
                out.append(words)
    return out


def carrier_tags(words: list[str]) -> list[int]:
    """``O`` for ordinary carrier words, masked for number words (their written form is unknown)."""
    return [IGNORE_TAG if w in NUMBER_WORDS else 0 for w in words]


def synthetic_sentences(carriers: list[list[str]], grammars: Grammars, num_sentences: int,
                        seed: int = 0, show_progress: bool = True) -> list[TaggedSentence]:
    """Carrier sentences with 1-2 verbalized expressions inserted (labels by construction)."""
    rng = random.Random(seed)
    # Roman numerals come only from the real pairs: where they occur ("chapter nine" -> "IX")
    # is a matter of context that random insertion would only blur.
    categories = [c for c in CATEGORIES if c in set(grammars.categories) and c in GENERATORS]
    if not categories:
        raise DataDirError("grammar set has none of the ITN categories")
    generators = dict(GENERATORS, electronic=partial(_electronic, words=sorted({w for c in carriers for w in c})))
    out: list[TaggedSentence] = []
    failures = {c: 0 for c in categories}
    bar = tqdm(total=num_sentences, desc="synthetic ITN sentences", disable=not show_progress)
    while len(out) < num_sentences:
        base = list(rng.choice(carriers))
        if len(base) > 25:
            start = rng.randint(0, len(base) - 25)
            base = base[start:start + 25]
        words, tags = base, carrier_tags(base)
        for _ in range(1 if rng.random() < 0.7 else 2):
            cat = rng.choice(categories)
            variants = grammars.verbalize_all(cat, generators[cat](rng))
            # The canonical reading most of the time, the less usual variants for the rest.
            spoken = variants[0] if variants and (len(variants) == 1 or rng.random() < 0.6) else (
                rng.choice(variants[1:]) if variants else None)
            if not spoken:
                failures[cat] += 1
                if failures[cat] > 1000 and failures[cat] > 10 * (len(out) + 1):
                    raise DataDirError(f"the {cat} verbalizer rejects almost every generated expression")
                continue
            expr = asr_style(spoken).split()
            if not expr:
                continue
            cue = rng.choice(_CUES[cat]).split() if _CUES[cat] and rng.random() < 0.5 else []
            after = [rng.choice(_TITLED_NAMES)] if cat == "whitelist" else []
            # Only between expressions, never inside one inserted before.
            slots = [k for k in range(len(words) + 1) if k == len(words) or tags[k] <= 0 or tags[k] % 2 == 1]
            pos = rng.choice(slots)
            ins_tags = [0] * len(cue) + spans_to_tags(len(expr), [TokenSpan(0, len(expr), cat)]) + [0] * len(after)
            words = words[:pos] + cue + expr + after + words[pos:]
            tags = tags[:pos] + ins_tags + tags[pos:]
        if any(t > 0 for t in tags):
            out.append(TaggedSentence(words, tags, "synthetic"))
            bar.update(1)
    bar.close()
    return out


# Categories tried on a written window, most specific first; roman is left to the real pairs
# (whether "II" is said "two" or "the second" depends on context a window does not show).
_VERBALIZED = [c for c in _PRIORITY if c != "roman"]
_SEMIOTIC = re.compile(r"[\d$%@£€¥&]")


def _window_text(tokens: list[str]) -> str:
    """Google TN's space-split written tokens as the grammars write them: "16 , 1938" -> "16, 1938",
    "$ 749,003" -> "$749,003", "3 %" -> "3%"."""
    text = " ".join(tokens)
    text = re.sub(r" ([,%])", r"\1", text)
    return re.sub(r"([$£€¥]) ", r"\1", text)


def verbalized_sentences(rows: list[dict], grammars: Grammars, variants: int = 2, seed: int = 0,
                         max_window: int = 5, show_progress: bool = True) -> list[TaggedSentence]:
    """Training sentences made in the TN direction from written sentences (issue 15).

    Each row's ``text`` (written, tokens split by spaces, as in Google TN) is scanned left to
    right; at a token with a digit or a symbol the longest window (up to ``max_window`` tokens)
    that some category's verbalizer reads is replaced by one of its spoken variants (the
    canonical one first, then random others) and tagged with that category. Other words are
    kept in ASR style and tagged ``O``. A sentence with a digit that no verbalizer reads is
    skipped: its spoken form is unknown. ``variants`` spoken versions are made per sentence.
    """
    rng = random.Random(seed)
    categories = [c for c in _VERBALIZED if c in set(grammars.categories)]
    out: list[TaggedSentence] = []
    cache: dict[str, tuple[str, list[str]] | None] = {}

    def reading(window: str) -> tuple[str, list[str]] | None:
        if window not in cache:
            cache[window] = None
            for cat in categories:
                spoken = grammars.verbalize_all(cat, window, limit=4)
                if spoken:
                    cache[window] = (cat, spoken)
                    break
        return cache[window]

    for row in tqdm(rows, desc="verbalize written sentences", disable=not show_progress):
        tokens = row["text"].split()
        k, ok = 0, True
        found: list[tuple[int, int, str, list[str]]] = []
        while k < len(tokens):
            if not _SEMIOTIC.search(tokens[k]):
                k += 1
                continue
            hit = None
            # The window may start a word or two before the digit ("March 5 , 2011", "$ 5").
            for start in (k - 2, k - 1, k):
                if start < 0 or (found and start < found[-1][1]):
                    continue
                for end in range(min(len(tokens), start + max_window), k, -1):
                    r = reading(_window_text(tokens[start:end]))
                    if r is not None:
                        hit = (start, end, r[0], r[1])
                        break
                if hit:
                    break
            if hit is None:
                ok = False
                break
            found.append(hit)
            k = hit[1]
        if not ok or not found:
            continue
        for v in range(variants):
            words: list[str] = []
            tags: list[int] = []
            pos = 0
            for start, end, cat, spoken in found:
                plain = asr_style(" ".join(tokens[pos:start])).split()
                words += plain
                tags += [0] * len(plain)
                said = spoken[0] if v == 0 or len(spoken) == 1 else rng.choice(spoken)
                expr = asr_style(said).split()
                words += expr
                tags += spans_to_tags(len(expr), [TokenSpan(0, len(expr), cat)])
                pos = end
            plain = asr_style(" ".join(tokens[pos:])).split()
            words += plain
            tags += [0] * len(plain)
            out.append(TaggedSentence(words, tags, "verbalized"))
    return out


def write_jsonl(path: str | Path, sentences: list[TaggedSentence]) -> None:
    with atomic_write(path) as f:
        for s in sentences:
            f.write(json.dumps(asdict(s), ensure_ascii=False) + "\n")


def read_jsonl(path: str | Path) -> list[TaggedSentence]:
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                d = json.loads(line)
                s = TaggedSentence(list(d["words"]), [int(t) for t in d["tags"]], str(d["source"]))
            except (json.JSONDecodeError, KeyError, ValueError) as e:
                raise DataDirError(f"{path}:{n}: not a tagged sentence ({e})") from e
            if len(s.words) != len(s.tags):
                raise DataDirError(f"{path}:{n}: {len(s.words)} words but {len(s.tags)} tags")
            out.append(s)
    return out


def main(argv: list[str] | None = None) -> int:
    from wfst.itn import GrammarSet

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, required=True, help="shared data dir with text/ and itn/")
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--num-synthetic", type=int, default=25000)
    p.add_argument("--dev-percent", type=int, default=5, help="of the LibriTTS train split, for validation")
    p.add_argument("--libritts-repeat", type=int, default=2, help="copies of the real pairs in train.jsonl")
    p.add_argument("--verbalized-variants", type=int, default=3,
                   help="spoken versions of each Google TN train sentence made by the verbalizers")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    grammars = GrammarSet.load()
    matcher = SpanMatcher(grammars)
    rows = read_libritts(args.data_dir / "itn" / "LibriTTS.json", split="train")
    labelled = [s for r in tqdm(rows, desc="label LibriTTS train") if (s := label_libritts(r, matcher))]
    # Google TN's train split (its dev split is the benchmark's): labelled the same way. Half
    # of its sentences need no change: they are the negative examples, number words used as
    # words ("first enacted", "a half") that must stay words.
    gtn_path = args.data_dir / "itn" / "google_tn_train.jsonl"
    gtn_rows = read_google_tn(gtn_path, split="train") if gtn_path.is_file() else []
    labelled += [s for r in tqdm(gtn_rows, desc="label Google TN train") if (s := label_libritts(r, matcher))]
    rng = random.Random(args.seed)
    rng.shuffle(labelled)
    n_dev = len(labelled) * args.dev_percent // 100
    dev, real_train = labelled[:n_dev], labelled[n_dev:]
    carriers = carrier_sentences(args.data_dir / "text")
    carriers += [s.words for s in real_train if all(t == 0 for t in s.tags)]
    synthetic = synthetic_sentences(carriers, grammars, args.num_synthetic, seed=args.seed)
    # The TN direction: Google TN's written train sentences spoken by our own verbalizers, with
    # several variants each, so every category is seen in real context.
    verbalized = verbalized_sentences(gtn_rows, grammars, variants=args.verbalized_variants, seed=args.seed)
    write_jsonl(args.out_dir / "train.jsonl", real_train * args.libritts_repeat + synthetic + verbalized)
    write_jsonl(args.out_dir / "dev.jsonl", dev)
    spans = sum(sum(1 for t in s.tags if t > 0 and t % 2 == 1) for s in labelled)
    masked = sum(1 for s in labelled if IGNORE_TAG in s.tags)
    print(f"LibriTTS train rows {len(rows)}: {spans} labelled spans, {masked} sentences with masked words; "
          f"Google TN train rows {len(gtn_rows)}; dev {len(dev)}; synthetic {len(synthetic)}; "
          f"verbalized {len(verbalized)}; carriers {len(carriers)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
