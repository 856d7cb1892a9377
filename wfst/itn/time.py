"""Times: "two thirty p m" -> "2:30 p.m.", "seven p m" -> "7 p.m.", "quarter past two" -> "2:15",
"twenty to three" -> "2:40", "two o'clock" -> "2:00", "fourteen thirty" -> "14:30",
"eighteen hundred (hours)" -> "18:00".

Hours 1..12 with a.m./p.m., o'clock or "past"/"to" phrases; 0..23 with explicit minutes.
Minutes: "oh five" -> ":05", "thirty" -> ":30". Written a.m./p.m. are lower case with dots
(LibriTTS style); a bare hour with a.m./p.m. stays bare ("7 p.m.", as LibriTTS writes it),
"o'clock" gives ":00" ("seven o'clock p m" -> "7:00 p.m.").
"""

from __future__ import annotations

import pynini
from pynini.lib import pynutil

from wfst.itn.cardinal import cardinal_digits, digit
from wfst.itn.common import VARIANT, accep, add_weight, cross, delete, finalize, insert, inverted, optional, string_map


def _numbers(lo: int, hi: int) -> pynini.Fst:
    return pynini.union(*(str(n) for n in range(lo, hi + 1)))


def hour(lo: int = 1, hi: int = 12) -> pynini.Fst:
    """Spoken hour lo..hi -> digits."""
    return (cardinal_digits(years=False) @ _numbers(lo, hi)).optimize()


def minutes() -> pynini.Fst:
    """Minutes 1..59 after the hour -> two digits: "oh five" -> "05", "thirty" -> "30"."""
    oh = pynini.union(cross("oh", "0"), add_weight(cross("o", "0"), 0.2), add_weight(cross("zero", "0"), VARIANT))
    tens = cardinal_digits(years=False) @ _numbers(10, 59)
    return pynini.union(oh + delete(" ") + digit(), tens).optimize()


def suffix() -> pynini.Fst:
    """" a m" -> " a.m.", " p m" -> " p.m."."""
    am = pynini.union(cross(" a m", " a.m."), add_weight(cross(" am", " a.m."), VARIANT))
    pm = pynini.union(cross(" p m", " p.m."), add_weight(cross(" pm", " p.m."), VARIANT))
    return pynini.union(am, pm).optimize()


def _minus_from_60() -> pynini.Fst:
    """Minutes "m" (1..29) -> "60 - m", two digits."""
    return string_map([(str(m), f"{60 - m:02d}") for m in range(1, 30)])


def _hour_words(numbers: pynini.Fst, h: int) -> pynini.Fst:
    """Acceptor of the spoken forms of hour ``h`` (``numbers``: the cardinal digits grammar)."""
    return pynini.project(numbers @ accep(str(h)), "input").optimize()


def relative() -> pynini.Fst:
    """"quarter past two" -> "2:15", "half past two" -> "2:30", "twenty to three" -> "2:40".

    The hour is spoken last but written first, so the grammar is a union over the twelve hours,
    each writing its "H:" up front (much smaller than reordering digits after the fact).
    """
    named_past = pynini.union(cross("quarter", "15"), cross("half", "30"), add_weight(cross("a quarter", "15"), VARIANT))
    named_to = pynini.union(cross("quarter", "45"), add_weight(cross("a quarter", "45"), VARIANT))
    numbers = cardinal_digits(years=False)
    counted = numbers @ _numbers(1, 29)
    minutes_word = optional(add_weight(delete(" minutes"), VARIANT))
    counted_past = add_weight((counted @ string_map([(str(m), f"{m:02d}") for m in range(1, 30)])) + minutes_word, 0.3)
    counted_to = add_weight((counted @ _minus_from_60()) + minutes_word, 0.3)
    past_minutes = pynini.union(named_past, counted_past).optimize()
    to_minutes = pynini.union(named_to, counted_to).optimize()
    options = []
    for h in range(1, 13):
        previous = h - 1 if h > 1 else 12
        hour_words = pynutil.delete(_hour_words(numbers, h))
        options.append(insert(f"{h}:") + past_minutes + delete(" past ") + hour_words)
        options.append(insert(f"{previous}:") + to_minutes + delete(" to ") + hour_words)
    return add_weight(pynini.union(*options), VARIANT).optimize()


def build_normalizer() -> pynini.Fst:
    """Spoken time -> written."""
    clock = hour(0, 23) + insert(":") + delete(" ") + minutes()
    clock12 = hour() + insert(":") + delete(" ") + minutes()
    oclock = hour() + delete(" o'clock") + insert(":00")
    bare = hour()
    military = hour(0, 23) + delete(" hundred") + insert(":00") + optional(delete(" hours"))
    phrases = relative()
    with_suffix = pynini.union(clock12, oclock, bare, phrases) + suffix()
    return finalize(pynini.union(clock, with_suffix, oclock, phrases, add_weight(military, VARIANT)))


def build_verbalizer(normalizer: pynini.Fst | None = None) -> pynini.Fst:
    """Written time -> spoken ("2:30 p.m." -> "two thirty p m")."""
    return finalize(inverted(normalizer, build_normalizer))
