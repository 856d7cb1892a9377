"""Inverse text normalization at run time: tag spans, convert each with its category's WFST.

Text is split on whitespace into tokens; the tagger (``asr.itn.tagger``) labels each token with
a BIO category tag; each tagged span is given to ``GrammarSet.normalize(category, spoken)``. When
the grammar rejects a span, its words stay exactly as they were. Everything outside spans,
whitespace included, is copied through unchanged, so a line with nothing to normalize comes back
byte-for-byte.
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from asr.itn.tagger import Tagger
from asr.itn.tags import TokenSpan, spans_to_tags
from asr.text.number_words import SPOKEN_DIGITS, TEENS, TIES

PRETRAINED_TAGGER = Path(__file__).parent / "pretrained" / "tagger.pt"
_TOKEN = re.compile(r"\S+")

# Lone words that a careful writer keeps as words whatever the tagger says: "one" and "a"
# alone are mostly pronouns/articles ("one of them", "a second"), "second" alone is mostly the
# time unit or "the second one", "may" alone is mostly the verb.
_NEVER_ALONE = frozenset({"a", "one", "second", "may", "march", "oh", "o"})
# ... except "one" before a unit of a recipe or a measure, which is a count ("add one cup of
# milk" -> "add 1 cup of milk", as cookbooks write it).
COUNT_UNITS = frozenset(
    "cup cupful teaspoon teaspoonful tablespoon tablespoonful pint quart gallon ounce pound inch "
    "dessertspoonful saltspoonful gill".split())
# How many untagged words a rejected span may grow by on its right ("two thirty" + "p m").
MAX_EXTEND = 2

# Roman numerals are written only where the words before call for them; anywhere else a
# "roman" tag is a false conversion ("two" -> "II", "nineteen eighties" -> "XIX eighties").
# Headings take a plain number ("chapter fourteen" -> "chapter XIV"); the list is what LibriTTS
# writes Roman numerals after.
ROMAN_HEADINGS = frozenset(
    "chapter chap part book volume vol canto letter lecture section act scene appendix corollary "
    "story song class study psalm article stave epistle".split())
# Regnal names take "the" + ordinal ("louis the fourteenth" -> "louis XIV").
REGNAL_NAMES = frozenset(
    "louis charles henry henri james george william edward philip clement richard rameses "
    "valentinian urban frederick pius napoleon paul constantine theodosius innocent sixtus "
    "alexander julius michael otto john gregory conrad francis leo benedict boniface peter ivan "
    "catherine elizabeth mary anne victor ferdinand alfonso gustavus christian nicholas rudolph "
    "leopold ptolemy darius antiochus sancho pedro frederic wilhelm friedrich ludwig".split())
# "world war two" -> "world war II".
_ROMAN_AFTER_PAIR = frozenset({("world", "war")})
# Ordinals written as words in running text: "first" -> "1st" mid-sentence is a false
# conversion (Google TN writes "first".."ninth" as words 97% of the time).
_WORD_ORDINALS = frozenset("first second third fourth fifth sixth seventh eighth ninth".split())
# "half" / "a half" in prose ("wing half", "an hour and a half") stay words, as does any
# "a <denominator>"; "one half" and "two and a half" are numbers.
_PROSE_FRACTIONS = frozenset({"half", "a half"})
# Words of left context that :meth:`InverseTextNormalizer.resolve_spans` may look at.
CONTEXT_WORDS = 2
# Spelled letters ("u s", "d n a", "i s b n") are written as one word. A leading "a" after
# another word is mostly the article ("is a u s author", "offered a c b e"), except after these.
_LETTER = re.compile(r"^[A-Za-z]$")
_LETTERS_CATEGORY = "letters"
_ARTICLE_A_NOT_AFTER = frozenset({"the", "an"})


def bridge_date_of(tokens: list[str], tags: list[int], categories: tuple[str, ...]) -> list[int]:
    """Tags with an untagged "of" between two date-tagged words tagged I-date: the tagger often
    leaves out the "of" of "the eleventh of april eighteen forty eight", which split the date in
    two spans, and the first alone ("the eleventh") is no date. Depends on the tags of the words
    either side only."""
    if "date" not in categories:
        return list(tags)
    date_tags = (1 + 2 * categories.index("date"), 2 + 2 * categories.index("date"))
    out = list(tags)
    for i in range(1, len(tokens) - 1):
        if tags[i] <= 0 and tokens[i].lower() == "of" and tags[i - 1] in date_tags and tags[i + 1] in date_tags:
            out[i] = date_tags[1]
            if tags[i + 1] == date_tags[0]:
                out[i + 1] = date_tags[1]
    return out


_ORDINAL_WORDS = frozenset(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth thirtieth".split())
_TIES_WORDS = frozenset("twenty thirty".split())


def regnal_spans(tokens: list[str], before: list[str]) -> list[TokenSpan]:
    """"<regnal name> the <ordinal>" spans (the "the" and the ordinal), which are Roman numerals
    whatever the tagger said ("henry the eighth" -> "henry VIII": LibriTTS writes 197 of 201 so),
    unless "of" follows ("john the first of october" is a date)."""
    out = []
    words = [t.lower() for t in tokens]
    for i, w in enumerate(words):
        if w != "the":
            continue
        prev = words[i - 1] if i > 0 else (before[-1].lower() if before else "")
        if prev not in REGNAL_NAMES:
            continue
        j = i + 1
        if j < len(words) and words[j] in _TIES_WORDS:
            j += 1
        if j < len(words) and words[j] in _ORDINAL_WORDS and (j + 1 >= len(words) or words[j + 1] != "of"):
            out.append(TokenSpan(i, j + 1, "roman"))
    return out


def letter_runs(tokens: list[str], free: list[bool], before: list[str]) -> list[TokenSpan]:
    """Runs of two or more single-letter tokens (ASCII) among the ``free`` tokens: spelled
    acronyms. A run's leading "a" is left out when a word other than "the"/"an" precedes it (the
    article: "a u s author" -> "a US author"), and runs of only "a" and "i" are stutters ("i i
    think"), not acronyms; ``before`` are the words preceding ``tokens``."""
    runs: list[TokenSpan] = []
    i, n = 0, len(tokens)
    while i < n:
        j = i
        while j < n and free[j] and _LETTER.match(tokens[j]):
            j += 1
        start = i
        if j - i >= 2 and tokens[i] in ("a", "A"):
            prev = tokens[i - 1] if i > 0 else (before[-1] if before else "")
            if is_word(prev) and prev.lower() not in _ARTICLE_A_NOT_AFTER:
                start = i + 1
        if j - start >= 2 and not all(t.lower() in "ai" for t in tokens[start:j]):  # "i i think", "a a"
            runs.append(TokenSpan(start, j, _LETTERS_CATEGORY))
        i = max(j, i + 1)
    return runs


# Letter-digit codes ("x eighty six" -> "X 86", "l t five" -> "LT 5", "b fifty two" -> "B 52"):
# spelled letters directly followed by number words are a code, written as the letters in upper
# case, a space, and the number in digits without thousands separators (Google TN writes "X 1",
# "V 2", "GMT 400", "XP- 75": hyphens, which the words do not say, compare as spaces). A lone
# letter counts except "a" and "i" (article, pronoun: "a one", "i two") and "o" (the digit).
_CODE_LONE_LETTER_EXCLUDED = frozenset({"a", "i", "o"})
_CODE_CATEGORY = "code"
# A number followed by these goes on ("one dot one dot three", "two point five"): no code.
_CODE_NOT_BEFORE = frozenset({"dot", "point"})
# A lone letter takes no number with a scale word ("the letter b thirty five thousand times").
_SCALE_WORDS = frozenset({"thousand", "million", "billion"})
_NUMBER_WORDS = frozenset([*SPOKEN_DIGITS, *TEENS, *TIES, "hundred", *_SCALE_WORDS])
# Serial-number style digit runs ("serial number four seven one two eight nine" -> "serial
# number 471289"): two or more digit words said one by one after a cue word are one number,
# written as plain digits (no grouping: the hyphens of a serial number are not in the words).
SERIAL_CUES = frozenset(
    "model flight room code extension ext gate platform pin serial suite apartment apt unit "
    "route highway interstate channel".split())
SERIAL_CUE_PAIRS = frozenset(
    ("serial", "part", "model", "account", "order", "reference", "policy", "flight", "room", "case",
     "invoice", "tracking", "confirmation", "catalog", "catalogue", "item", "product", "version",
     "license", "licence", "registration", "patent", "phone", "seat", "ticket", "batch", "lot",
     "id", "member", "customer", "employee", "bus", "train", "track"))
_SERIAL_CATEGORY = "serial"


def serial_spans(tokens: list[str], free: list[bool], before: list[str]) -> list[tuple[TokenSpan, str]]:
    """(span, digits) of runs of two or more digit words ("four seven one two") among the
    ``free`` tokens right after a cue: a word of :data:`SERIAL_CUES`, or "number"/"no" after a
    word of :data:`SERIAL_CUE_PAIRS` ("serial number", "part number"). ``before`` are the words
    preceding ``tokens`` (the cue may be among them)."""
    words = [t.lower() for t in before[-CONTEXT_WORDS:]] + [t.lower() for t in tokens]
    off = len(words) - len(tokens)
    out = []
    i, n = 0, len(tokens)
    while i < n:
        j = i
        while j < n and free[j] and tokens[j].lower() in SPOKEN_DIGITS:
            j += 1
        if j - i >= 2:
            k = off + i
            prev = words[k - 1] if k >= 1 else ""
            prev2 = words[k - 2] if k >= 2 else ""
            if prev in SERIAL_CUES or (prev in ("number", "no") and prev2 in SERIAL_CUE_PAIRS):
                out.append((TokenSpan(i, j, _SERIAL_CATEGORY),
                            "".join(SPOKEN_DIGITS[t.lower()] for t in tokens[i:j])))
        i = max(j, i + 1)
    return out


def context_allows(category: str, words: list[str], before: list[str]) -> bool:
    """Whether a span of ``category`` over ``words`` may be converted after the words ``before``
    (the last :data:`CONTEXT_WORDS` of them matter). Grammars see spans without context; these
    rules veto the conversions whose context says they are not numbers."""
    span = " ".join(w.lower() for w in words)
    prev = [w.lower() for w in before[-CONTEXT_WORDS:]]
    if category == "roman":
        if words and words[0].lower() == "the":
            return bool(prev) and prev[-1] in REGNAL_NAMES
        return bool(prev) and (prev[-1] in ROMAN_HEADINGS or tuple(prev[-2:]) in _ROMAN_AFTER_PAIR)
    if category == "ordinal":
        return span not in _WORD_ORDINALS
    if category == "whitelist":
        # "and" -> "&" was the commonest false conversion on Google TN ("library and archives");
        # it writes "&" for 6% of its "and"s, too few to guess from a few words of context.
        return span != "and"
    if category == "fraction":
        # "a third and final season", "a quarter of them": an article and a denominator is prose.
        return span not in _PROSE_FRACTIONS and not (len(words) == 2 and words[0].lower() == "a")
    return True


_MONTH = "(January|February|March|April|May|June|July|August|September|October|November|December)"
_DAY_FIRST = re.compile(rf"^(?:the )?(\d{{1,2}})(?:st|nd|rd|th)?(?: of)? {_MONTH}(?:,? (\d{{4}}))?$")
_MONTH_FIRST = re.compile(rf"^{_MONTH} (\d{{1,2}})(?:,? (\d{{4}}))?$")
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_GROUPED = frozenset({"cardinal", "ordinal", "decimal", "money", "measure"})
DATE_ORDERS = ("spoken", "mdy", "dmy")
UNIT_STYLES = ("customary-words", "abbrev", "words")
# Customary units that running text spells out ("750 feet", "16 miles", "5 pounds": LibriTTS
# writes 74 "feet" to 2 "ft", 66 "miles" to no "mi"); metric and technical units keep their
# abbreviations ("5 km", "200 hp"), as Google TN writes them.
CUSTOMARY_UNITS = frozenset(
    "inch inches foot feet yard yards mile miles pound pounds ounce ounces ton tons acre acres gallon "
    "gallons degree degrees".split()
    + ["mile per hour", "miles per hour", "square foot", "square feet", "square mile", "square miles",
       "square inch", "square inches", "square yard", "square yards", "cubic foot", "cubic feet",
       "cubic inch", "cubic inches"])


@dataclass(frozen=True)
class ItnStyle:
    """How written forms look where conventions differ.

    ``thousands_separator``: "15,000" (True, default) or "15000"; years, times and telephone
    numbers never take one. ``date_order``: ``"spoken"`` (default) writes a date in the order it
    was said ("march third" -> "March 3", "the seventeenth of april nineteen eighty one" ->
    "17 April 1981", "the fifteenth of august" -> "the 15th of August"); ``"mdy"`` always writes
    "April 17, 1981" / "August 15"; ``"dmy"`` always "17 April 1981" / "15 August".
    ``units``: ``"customary-words"`` (default) writes metric and technical units abbreviated
    ("5 km", "200 hp") and customary ones as said ("750 feet", "16 miles"); ``"abbrev"`` every
    unit abbreviated ("750 ft"); ``"words"`` every unit as said ("5 kilometers"); "%" always.
    ``join_letters``: spelled letters outside spans are written as one upper-case word ("the u s
    army" -> "the US army", "d n a" -> "DNA"; True, default) or left as they were (False).
    """

    thousands_separator: bool = True
    date_order: str = "spoken"
    join_letters: bool = True
    units: str = "customary-words"

    def __post_init__(self) -> None:
        if self.date_order not in DATE_ORDERS:
            raise ValueError(f"ITN style: date order {self.date_order!r} is not one of {', '.join(DATE_ORDERS)}")
        if self.units not in UNIT_STYLES:
            raise ValueError(f"ITN style: units {self.units!r} is not one of {', '.join(UNIT_STYLES)}")

    @classmethod
    def parse(cls, spec: str) -> "ItnStyle":
        """``"thousands=off,date=dmy"``: comma-separated ``key=value`` (keys ``thousands`` on/off,
        ``date`` spoken/mdy/dmy, ``letters`` join/keep, ``units`` customary-words/abbrev/words);
        an empty string is the default style."""
        values: dict[str, object] = {}
        for item in filter(None, (x.strip() for x in spec.split(","))):
            key, _, value = item.partition("=")
            if key == "thousands" and value in ("on", "off"):
                values["thousands_separator"] = value == "on"
            elif key == "date" and value in DATE_ORDERS:
                values["date_order"] = value
            elif key == "letters" and value in ("join", "keep"):
                values["join_letters"] = value == "join"
            elif key == "units" and value in UNIT_STYLES:
                values["units"] = value
            else:
                raise ValueError(f"ITN style: cannot read {item!r} (expected thousands=on|off, "
                                 f"date={'|'.join(DATE_ORDERS)}, letters=join|keep or "
                                 f"units={'|'.join(UNIT_STYLES)})")
        return cls(**values)  # type: ignore[arg-type]

    def apply(self, category: str, written: str, spoken: str = "") -> str:
        """``written`` (a grammar's output for ``category``, from the words ``spoken``) in this
        style."""
        if not self.thousands_separator and category in _GROUPED:
            written = _THOUSANDS_COMMA.sub("", written)
        if category == "measure" and self.units != "abbrev":
            written = _unit_as_words(written, spoken, customary_only=self.units == "customary-words")
        if category == "date" and self.date_order != "spoken":
            if m := _DAY_FIRST.match(written):
                day, month, year = m.groups()
            elif m := _MONTH_FIRST.match(written):
                month, day, year = m.groups()
            else:
                return written  # years, decades, ranges: no order to choose
            if self.date_order == "mdy":
                written = f"{month} {day}" + (f", {year}" if year else "")
            else:
                written = f"{day} {month}" + (f" {year}" if year else "")
        return written


@functools.cache
def _unit_table() -> dict[str, str]:
    """Spoken unit phrase (singular and plural) -> its written abbreviation, percent excluded."""
    from wfst.itn.measure import ATTACHED, UNITS, WRITTEN_PLURAL

    table: dict[str, str] = {}
    for singular, plural, written in UNITS + ATTACHED:
        if written != "%":
            table.setdefault(singular, written)
            table.setdefault(plural, WRITTEN_PLURAL.get(written, written))
    return table


def _unit_as_words(written: str, spoken: str, customary_only: bool) -> str:
    """"4,000 m" for "four thousand meters" -> "4,000 meters": the number as written, the unit
    as said (only units of :data:`CUSTOMARY_UNITS` when ``customary_only``). Percent stays "%";
    a form whose unit cannot be found is returned unchanged."""
    words = spoken.split()
    for k in range(min(5, len(words) - 1), 0, -1):  # longest unit phrase first
        phrase = " ".join(words[-k:])
        abbr = _unit_table().get(phrase.lower())
        if abbr is None:
            continue
        if customary_only and phrase.lower() not in CUSTOMARY_UNITS:
            return written
        for sep in (" ", ""):
            if written.endswith(sep + abbr) and len(written) > len(sep + abbr):
                number = written[: len(written) - len(sep + abbr)]
                if number[-1:].isdigit():
                    return f"{number} {phrase}"
    return written


class _Grammars(Protocol):
    def normalize(self, category: str, spoken: str) -> str | None: ...


@dataclass(frozen=True)
class ItnSpan:
    """One converted span. ``text[input_start:input_end] == spoken`` and
    ``normalized[output_start:output_end] == written``."""

    input_start: int
    input_end: int
    output_start: int
    output_end: int
    category: str
    spoken: str
    written: str


@dataclass
class _Tokenized:
    text: str
    tokens: list[str]
    starts: list[int]
    ends: list[int]


def _tokenize(text: str) -> _Tokenized:
    ms = list(_TOKEN.finditer(text))
    return _Tokenized(text, [m.group() for m in ms], [m.start() for m in ms], [m.end() for m in ms])


def is_word(token: str) -> bool:
    """Tokens with a letter or digit are words; the rest (",", "(", "``") is punctuation."""
    return any(ch.isalnum() for ch in token)


def tag_words(tagger: Tagger, sentences: list[list[str]]) -> list[list[int]]:
    """Tags for each token, with punctuation hidden from the tagger and tagged O.

    The tagger is trained on ASR-style words; punctuation in cased input ("born 17 april ,")
    would be unknown tokens that shift its context. Hiding it also keeps spans from crossing it.
    """
    words = [[t for t in toks if is_word(t)] for toks in sentences]
    word_tags = tagger.tag(words)
    out = []
    for toks, tags in zip(sentences, word_tags):
        it = iter(tags)
        out.append([next(it) if is_word(t) else 0 for t in toks])
    return out


def _render(tok: _Tokenized, spans: list[tuple[TokenSpan, str]]) -> tuple[str, list[ItnSpan]]:
    """The text with each span replaced by its written form, and the spans with offsets."""
    pieces: list[str] = []
    out_spans: list[ItnSpan] = []
    pos = 0  # next input char to copy
    length = 0  # chars written so far
    for s, written in spans:
        a, z = tok.starts[s.start], tok.ends[s.end - 1]
        pieces.append(tok.text[pos:a])
        length += a - pos
        pieces.append(written)
        out_spans.append(ItnSpan(a, z, length, length + len(written), s.category, tok.text[a:z], written))
        length += len(written)
        pos = z
    pieces.append(tok.text[pos:])
    return "".join(pieces), out_spans


class InverseTextNormalizer:
    """Spoken-form text -> written form. ``itn("call me at five five five ...")``.

    Args:
        tagger: a :class:`~asr.itn.tagger.Tagger` or a path to a tagger file; default the one
            shipped in ``asr/itn/pretrained/``.
        grammars: an object with ``normalize(category, spoken) -> str | None``; default
            ``wfst.itn.GrammarSet.load()`` (compiled grammars from the disk cache).
        memo_size: how many (category, spoken span) conversions to remember.
        style: an :class:`ItnStyle` or its string form (``"thousands=off,date=dmy"``); default
            thousands separators on, dates in the spoken order.

    Latency: the tagger is far too small to gain from intra-op threads, and on a busy machine
    PyTorch's thread pool costs it ten times its arithmetic. Processes that mostly run ITN
    should call ``torch.set_num_threads(1)`` (``asr itn`` and ``bench/itn.py`` do); this class
    leaves the process-wide setting alone.
    """

    def __init__(self, tagger: Tagger | str | Path | None = None, grammars: _Grammars | None = None,
                 memo_size: int = 4096, style: ItnStyle | str | None = None) -> None:
        if tagger is None or isinstance(tagger, (str, Path)):
            tagger = Tagger.load(tagger or PRETRAINED_TAGGER)
        if grammars is None:
            from wfst.itn import GrammarSet

            grammars = GrammarSet.load()
        self.tagger = tagger
        self.grammars = grammars
        self.lookahead = tagger.cfg.lookahead
        self.memo_size = memo_size
        self.style = ItnStyle.parse(style) if isinstance(style, str) else (style or ItnStyle())
        self._memo: OrderedDict[tuple[str, str], str | None] = OrderedDict()

    # -- offline -------------------------------------------------------------------------------

    def __call__(self, text: str) -> str:
        return self.normalize_batch([text])[0]

    def normalize_batch(self, texts: list[str]) -> list[str]:
        """Normalize many lines with one batched tagger forward."""
        return [out for out, _ in self._run_batch(texts)]

    def spans(self, text: str) -> list[ItnSpan]:
        """The converted spans of ``text`` with offsets into the input and into ``self(text)``."""
        return self.analyze(text)[1]

    def analyze(self, text: str) -> tuple[str, list[ItnSpan]]:
        """``(self(text), self.spans(text))`` from one pass."""
        return self._run_batch([text])[0]

    def _run_batch(self, texts: list[str]) -> list[tuple[str, list[ItnSpan]]]:
        toks = [_tokenize(t) for t in texts]
        tags = tag_words(self.tagger, [t.tokens for t in toks])
        return [_render(t, self.convert_spans(t.tokens, g)) for t, g in zip(toks, tags)]

    def convert_spans(self, tokens: list[str], tags: list[int]) -> list[tuple[TokenSpan, str]]:
        """Resolve tags into spans and convert each; returns (span, written) for accepted spans.

        See :meth:`resolve_spans` for the rules.
        """
        return self.resolve_spans(tokens, tags)[0]

    def resolve_spans(self, tokens: list[str], tags: list[int], before: list[str] | None = None
                      ) -> tuple[list[tuple[TokenSpan, str]], list[tuple[int, int]]]:
        """(span, written) for accepted spans, and the token range ``[lo, hi)`` each run of spans
        depended on (its words, plus the words it may have grown by): a streaming commit point
        must not fall inside one.

        Resolution, for a tagger that looks only ``lookahead`` words ahead:
        * a span is a maximal run of tagged words that starts at a ``B-`` tag or after ``O``;
          ``I-`` of any category continues it, and the span takes the category of its last
          word, which saw the most right context ("one/B-cardinal hundred/I-money
          dollars/I-money" is money);
        * spans that touch (``B-`` right after a span) are joined when a grammar of either
          category accepts the joined words ("forty/B-cardinal two percent/B-measure" -> 42%);
        * if a span's grammar rejects it, it is tried grown by up to ``MAX_EXTEND`` untagged
          words on the right (and by the untagged word before, when it opens with ``I-``), with
          the other categories tagged inside it, then without its last word;
        * a lone ambiguous word ("one", "a", "second", "may") is never converted by itself
          ("one" before a unit of :data:`COUNT_UNITS` is), nor a fraction followed by "as";
        * :func:`context_allows` vetoes conversions that the ``CONTEXT_WORDS`` words before a
          span rule out (Roman numerals outside headings and regnal names, "first", "half");
        * "<regnal name> the <ordinal>" not followed by "of" is a Roman numeral whatever the
          tags (:func:`regnal_spans`); an untagged "of" between date words is part of the date
          (:func:`bridge_date_of`);
        * with ``style.join_letters``, runs of spelled letters left outside spans become one
          upper-case word (:func:`letter_runs`, category ``"letters"``).
        ``before`` are the words preceding ``tokens`` (streaming passes the committed ones).
        Every decision depends only on the words of one run of touching spans, the
        ``MAX_EXTEND`` words after it and ``CONTEXT_WORDS`` before it (what streaming relies on).
        """
        before = list(before or [])
        categories = self.tagger.cfg.categories
        tags = bridge_date_of(tokens, tags, categories)
        regnal = regnal_spans(tokens, before) if "roman" in categories else []
        if regnal:
            tags = list(tags)
            for sp in regnal:
                tags[sp.start:sp.end] = spans_to_tags(sp.end - sp.start, [TokenSpan(0, sp.end - sp.start, "roman")],
                                                      categories)
                if sp.end < len(tags) and tags[sp.end] > 0 and (tags[sp.end] - 1) % 2 == 1:
                    tags[sp.end] -= 1  # an I- after it opens its own span (B- of its category)
        out: list[tuple[TokenSpan, str]] = []
        reach: list[tuple[int, int]] = []
        run: list[tuple[TokenSpan, list[str]]] = []  # touching spans, with the categories tagged in each

        def flush() -> None:
            current: tuple[TokenSpan, str | None] | None = None
            current_cats: list[str] = []
            grew = False
            for span, cats in run:
                if current is not None:
                    joined = TokenSpan(current[0].start, span.end, span.category)
                    for cat in dict.fromkeys([span.category, current[0].category]):
                        written = self._normalize(cat, tokens, joined)
                        if written is not None:
                            current, current_cats = (TokenSpan(joined.start, joined.end, cat), written), cats
                            break
                    else:
                        grew |= self._emit(current, current_cats, tokens, tags, out,
                                           extend_left and current[0].start == run_start, before)
                        current = None
                if current is None:
                    current, current_cats = (span, self._normalize(span.category, tokens, span)), cats
            if current is not None:
                grew |= self._emit(current, current_cats, tokens, tags, out,
                                   extend_left and current[0].start == run_start, before)
            # One word to the left: an I- opening may take it, and a date may take its "the".
            lo = run[0][0].start - 1
            hi = run[-1][0].end + (MAX_EXTEND if grew else 0)
            last = run[-1][0]
            if last.end - last.start == 1 and tokens[last.start].lower() == "one":
                hi = max(hi, last.end + 1)  # a lone "one" is converted only before a unit
            if any(sp.category == "fraction" or "fraction" in cats for sp, cats in run):
                hi += 1  # a fraction followed by "as" stays words
            reach.append((lo, hi))
            run.clear()

        start = run_start = -1
        extend_left = False
        for i, t in enumerate(list(tags) + [0]):
            begins = t > 0 and (start < 0 or (t - 1) % 2 == 0)
            if start >= 0 and (t <= 0 or begins):
                span_cats = [categories[(g - 1) // 2] for g in tags[start:i]]
                run.append((TokenSpan(start, i, span_cats[-1]), span_cats))
                start = -1
                if t <= 0:
                    flush()
            if begins:
                if not run:
                    # A run that opens with I- after O: the tagger saw it continue the word before.
                    run_start, extend_left = i, i > 0 and (t - 1) % 2 == 1
                start = i
        for sp in regnal:
            reach.append((sp.start - 2, sp.end + 1))  # the name before, the "of" after
        free = [True] * len(tokens)
        for sp, _ in out:
            free[sp.start:sp.end] = [False] * (sp.end - sp.start)
        for sp, digits in serial_spans(tokens, free, before):
            out.append((sp, digits))
            free[sp.start:sp.end] = [False] * (sp.end - sp.start)
            reach.append((sp.start, sp.end + 1))  # the cue words are before it; the word after ends it
        if self.style.join_letters:
            out = self._join_letters(tokens, free, before, out, reach)
        return out, reach

    def _join_letters(self, tokens: list[str], free: list[bool], before: list[str],
                      out: list[tuple[TokenSpan, str]], reach: list[tuple[int, int]]
                      ) -> list[tuple[TokenSpan, str]]:
        """``out`` with runs of spelled letters left ``free`` written as one upper-case word, and a
        letter run directly followed by a number joined with it into a code ("x eighty six" ->
        "X 86"); marks what it takes in ``free`` and appends each new span's reach to ``reach``."""
        # A number the tagger converted right after the letters ("x eighty six" -> "86").
        cardinal_at = {sp.start: k for k, (sp, w) in enumerate(out)
                       if sp.category == "cardinal" and re.fullmatch(r"\d[\d,]*", w)}
        merged: set[int] = set()
        for sp in sorted(letter_runs(tokens, free, before) + self._lone_code_letters(tokens, free, cardinal_at, before),
                         key=lambda x: x.start):
            if not all(free[sp.start:sp.end]):
                continue  # taken by a code before it ("i s b n nine four o o seven")
            written = "".join(tokens[sp.start:sp.end]).upper()
            k = cardinal_at.get(sp.end, -1)
            code: tuple[int, str] | None = None
            if set(written) == {"O"}:
                pass  # "o o seven": zeros said as letters, no code
            elif k >= 0:
                code = (out[k][0].end, out[k][1].replace(",", ""))
            else:
                code = self._code_number(tokens, free, sp.end)
            if code is not None and sp.end - sp.start == 1 and code[0] - sp.end == 1 and (
                    tokens[sp.end].lower() == "one"):
                code = None  # "plan b one day": a lone letter and a lone "one" stay words
            if code is not None and sp.end - sp.start == 1 and any(
                    t.lower() in _SCALE_WORDS for t in tokens[sp.end:code[0]]):
                code = None  # "the letter b thirty five thousand ...": a count, not a code
            if code is not None and code[0] < len(tokens) and tokens[code[0]].lower() in _CODE_NOT_BEFORE:
                code = None  # "y a f c one dot one": a version number, not a code
            if code is not None:
                end, number = code
                if k >= 0:
                    merged.add(k)
                free[sp.end:end] = [False] * (end - sp.end)
                sp, written = TokenSpan(sp.start, end, _CODE_CATEGORY), f"{written} {number}"
            elif sp.end - sp.start < 2:
                continue  # a lone letter is only written upper case as part of a code
            out.append((sp, written))
            reach.append((sp.start, sp.end + 1))  # the word after ends the run
        out = [x for k, x in enumerate(out) if k not in merged]
        out.sort(key=lambda x: x[0].start)
        return out

    @staticmethod
    def _lone_code_letters(tokens: list[str], free: list[bool], cardinal_at: dict[int, int],
                           before: list[str]) -> list[TokenSpan]:
        """Single free letters (not "a", "i", "o") directly followed by a free number word or a
        converted cardinal (whose start is a key of ``cardinal_at``), after a word that is no
        single letter (``before`` precede ``tokens``): candidates for a one-letter code ("v six"
        -> "V 6"; not the "b" of "is a b six", which may be a stray letter after an article)."""
        out = []
        for i, t in enumerate(tokens):
            if not (free[i] and _LETTER.match(t)) or t.lower() in _CODE_LONE_LETTER_EXCLUDED:
                continue
            prev = tokens[i - 1] if i > 0 else (before[-1] if before else "")
            if _LETTER.match(prev):
                continue
            if i + 1 in cardinal_at or (i + 1 < len(tokens) and free[i + 1] and tokens[i + 1].lower() in _NUMBER_WORDS):
                out.append(TokenSpan(i, i + 1, _LETTERS_CATEGORY))
        return out

    def _code_number(self, tokens: list[str], free: list[bool], start: int) -> tuple[int, str] | None:
        """(end, digits) of the free number words from ``start`` on when they read whole as a
        cardinal ("eighty six" -> "86", thousands separators dropped) or as two or more digits said
        one by one ("two five four o" -> "2540"); None otherwise (nothing is converted)."""
        end = start
        while end < len(tokens) and free[end] and tokens[end].lower() in _NUMBER_WORDS:
            end += 1
        if end == start:
            return None
        words = [t.lower() for t in tokens[start:end]]
        written = self._normalize("cardinal", tokens, TokenSpan(start, end, "cardinal"))
        if written is not None and re.fullmatch(r"[\d,]+", written):
            return end, written.replace(",", "")
        if len(words) >= 2 and all(w in SPOKEN_DIGITS for w in words):
            return end, "".join(SPOKEN_DIGITS[w] for w in words)
        return None

    def _emit(self, current: tuple[TokenSpan, str | None], cats: list[str], tokens: list[str],
              tags: list[int], out: list[tuple[TokenSpan, str]], extend_left: bool,
              before: list[str]) -> bool:
        """Append the span's conversion to ``out`` if any; True when it tried growing the span."""
        span, written = current

        def allowed(sp: TokenSpan) -> bool:
            preceding = (before + tokens)[max(0, len(before) + sp.start - CONTEXT_WORDS):len(before) + sp.start]
            return context_allows(sp.category, tokens[sp.start:sp.end], preceding)

        if written is not None and not allowed(span):
            written = None
            if span.category == "roman" and tokens[span.start].lower() != "the":
                # A number the context says is no Roman numeral ("fifteen" alone, a verse
                # number) is still a number: digits from 10 on, where prose rarely keeps words.
                cardinal = self._normalize("cardinal", tokens, span)
                if cardinal is not None and cardinal.isdigit() and len(cardinal) >= 2:
                    span, written = TokenSpan(span.start, span.end, "cardinal"), cardinal
        if (span.category == "date" and written is not None and span.start > 0 and tags[span.start - 1] <= 0
                and tokens[span.start - 1].lower() == "the" and (not out or out[-1][0].end < span.start)):
            # The tagger often leaves out the "the" of "the twenty fourth of november nineteen
            # forty two"; the grammar writes the whole as "24 November 1942", dropping it.
            wider_span = TokenSpan(span.start - 1, span.end, "date")
            wider = self._normalize("date", tokens, wider_span)
            if wider is not None:
                span, written = wider_span, wider
        if span.category == "cardinal":
            # "world war two" is a name written "World War II" whatever the tagger thought.
            preceding = (before + tokens)[max(0, len(before) + span.start - 2):len(before) + span.start]
            if tuple(w.lower() for w in preceding) in _ROMAN_AFTER_PAIR:
                roman = self._normalize("roman", tokens, span)
                if roman is not None:
                    span, written = TokenSpan(span.start, span.end, "roman"), roman
        word = tokens[span.start].lower() if span.end - span.start == 1 else ""
        if word in _NEVER_ALONE and not (word == "one" and span.category == "roman") and not (  # "chapter one" -> "I"
                word == "one" and span.category == "cardinal" and span.end < len(tokens)
                and tokens[span.end].lower() in COUNT_UNITS):  # "add one cup of milk" -> "add 1 cup"
            return False
        grew = written is None
        if written is None:
            # The grammar rejected the span. With a lookahead of a few words the tagger often
            # stops a span early ("forty/B-cardinal two/I-measure percent/O") or opens it late
            # ("october/O thirty/I-date first/I-date"): try the span grown by up to
            # MAX_EXTEND untagged words on the right, or by the untagged word on its left
            # when it opens with I-, then the other categories tagged inside it.
            right = 0
            while right < MAX_EXTEND and span.end + right < len(tokens) and tags[span.end + right] <= 0:
                right += 1
            wider = [TokenSpan(span.start, span.end + r, span.category) for r in range(right, 0, -1)]
            if extend_left and (not out or out[-1][0].end < span.start):
                wider.append(TokenSpan(span.start - 1, span.end, span.category))
            # The tagger also overshoots by a word ("dot com today"): the span without its last
            # word is tried after the wider ones (never leaving a lone ambiguous word).
            shorter = [TokenSpan(span.start, span.end - 1, span.category)] if (
                span.end - span.start >= 2 and not (span.end - span.start == 2
                                                     and tokens[span.start].lower() in _NEVER_ALONE)) else []
            for cat in dict.fromkeys(reversed(cats)):
                for candidate in wider + ([span] if cat != span.category else []) + shorter:
                    typed = TokenSpan(candidate.start, candidate.end, cat)
                    if (written := self._normalize(cat, tokens, candidate)) is not None and allowed(typed):
                        span = typed
                        break
                    written = None
                if written is not None:
                    break
        if (written is not None and span.category == "fraction" and span.end < len(tokens)
                and tokens[span.end].lower() == "as"):
            # A fraction as a multiplier is prose: "one third as effective", "one tenth as badly".
            written = None
        if written is not None:
            out.append((span, written))
        return grew

    def _normalize(self, category: str, tokens: list[str], span: TokenSpan) -> str | None:
        """Written form of ``tokens[span]`` by ``category``'s grammar, None when it rejects them.

        Memoized (bounded, least recently used first out): streaming converts the same tail
        spans again at every partial hypothesis.
        """
        key = (category, " ".join(tokens[span.start:span.end]))
        if key in self._memo:
            self._memo.move_to_end(key)
            return self._memo[key]
        try:
            written = self.grammars.normalize(*key)
            if written is not None:
                written = self.style.apply(category, written, key[1])
        except KeyError:  # a category the grammar set lacks (a user removed it): pass through
            written = None
        self._memo[key] = written
        if len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)
        return written


class StreamingItn:
    """Normalize growing partial hypotheses: a stable prefix that never changes, plus a tail.

    Tokens are committed (normalized into the stable prefix) once their tags are final — tag
    ``i`` is final when token ``i + lookahead`` exists — and no tagged span crosses the commit
    point. ``margin`` extra tokens are held back because an ASR partial often still rewrites its
    last words. Committed words are taken as final: when a later partial changes a word before
    the commit point, the stable text keeps the old word (start a new segment with ``reset``).

    ``stable + (" " if stable and tentative else "") + tentative`` is the normalization of the
    whitespace-joined partial, and after ``finish()`` it equals ``InverseTextNormalizer`` run
    on the whole final hypothesis (for hypotheses whose words were only ever appended).
    """

    def __init__(self, itn: InverseTextNormalizer, margin: int = 1) -> None:
        self.itn = itn
        self.margin = margin
        self.reset()

    def reset(self) -> None:
        self._committed = 0  # tokens committed
        self._stable = ""
        self._tokens: list[str] = []

    @property
    def stable(self) -> str:
        return self._stable

    def update(self, partial: str) -> tuple[str, str]:
        """Feed the latest partial hypothesis; returns (stable, tentative)."""
        tokens = partial.split()
        # Keep committed words even if the ASR revised them; take its new words after them.
        self._tokens = self._tokens[: self._committed] + tokens[self._committed:]
        return self._step(final=False)

    def finish(self) -> tuple[str, str]:
        """End of the segment: commit everything. Returns (stable, "")."""
        return self._step(final=True)

    def _step(self, final: bool) -> tuple[str, str]:
        tagger = self.itn.tagger
        tokens = self._tokens
        # Tags count words only (punctuation is hidden from the tagger): take enough tokens
        # before the commit point to hold its whole left receptive field in words.
        ctx, seen = self._committed, 0
        while ctx > 0 and seen < tagger.cfg.receptive_left:
            ctx -= 1
            seen += is_word(tokens[ctx])
        tags = tag_words(tagger, [tokens[ctx:]])[0][self._committed - ctx:]
        tail = tokens[self._committed:]
        spans, reach = self.itn.resolve_spans(tail, tags, before=tokens[max(0, self._committed - CONTEXT_WORDS):self._committed])
        cut = len(tail) if final else 0
        if not final:
            # Commit before a word whose tag is final and that no run of spans (with the words
            # it depended on) straddles. Every tag before it is final too, so is every decision.
            ahead, settled = 0, len(tokens)  # first token with lookahead + margin words after it
            while settled > self._committed and ahead < self.itn.lookahead + self.margin:
                settled -= 1
                ahead += is_word(tokens[settled])
            settled -= self._committed
            for c in range(min(settled, len(tail)) - 1, 0, -1):
                if all(not (lo < c < hi) for lo, hi in reach):
                    cut = c
                    break
        committed_text, _ = _render(_tokenize(" ".join(tail[:cut])), [x for x in spans if x[0].end <= cut])
        if committed_text:
            self._stable = f"{self._stable} {committed_text}" if self._stable else committed_text
        self._committed += cut
        rest = [(TokenSpan(sp.start - cut, sp.end - cut, sp.category), w) for sp, w in spans if sp.start >= cut]
        tentative, _ = _render(_tokenize(" ".join(tail[cut:])), rest)
        return self._stable, tentative
