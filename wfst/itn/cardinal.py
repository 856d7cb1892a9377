"""Cardinal numbers: "two thousand and twenty four" -> "2024", "fifteen thousand" -> "15,000".

Accepted: zero, 1 .. 10^24 - 1 in words (scale words up to sextillion) ("a hundred", "one hundred and five",
"thirteen hundred" -> 1300), and year-style pairs ("nineteen ninety nine" -> 1999,
"twenty oh five" -> 2005) at a small extra cost. Written form: plain digits up to 9999,
comma groups from 10,000 on (LibriTTS style). The building blocks here (digit words, the
three-digit group, the digit-string number, comma formatting, years) are used by every other
numeric category.
"""

from __future__ import annotations

import pynini

from asr.text.number_words import DIGITS, SCALES, TEENS, TIES
from wfst.itn.common import (
    DIGIT,
    UNUSUAL,
    VARIANT,
    add_weight,
    cross,
    delete,
    delete_space,
    finalize,
    insert,
    inverted,
    join,
    optional,
    string_map,
    with_written_aliases,
)

MAX_DIGITS = 3 * (len(SCALES) + 1)


def digit() -> pynini.Fst:
    """"one".."nine" -> "1".."9"."""
    return string_map([(w, str(i + 1)) for i, w in enumerate(DIGITS)])


def zero() -> pynini.Fst:
    """"zero" -> "0"."""
    return string_map([("zero", "0")])


def digit_or_oh() -> pynini.Fst:
    """A single spoken digit as in digit strings: "zero"/"oh"/"o" -> "0", "one" -> "1"..."""
    zeros = pynini.union(cross("zero", "0"), add_weight(cross("oh", "0"), 0.1), add_weight(cross("o", "0"), 0.2))
    return pynini.union(digit(), zeros).optimize()


def teen() -> pynini.Fst:
    """"ten".."nineteen" -> "10".."19"."""
    return string_map([(w, str(10 + i)) for i, w in enumerate(TEENS)])


def ties() -> pynini.Fst:
    """"twenty".."ninety" -> "2".."9" (the tens digit only)."""
    return string_map([(w, str(i + 2)) for i, w in enumerate(TIES)])


def two_digits() -> pynini.Fst:
    """10..99 in words -> exactly two digits: "twenty four" -> "24", "twenty" -> "20"."""
    return pynini.union(teen(), ties() + (delete_space + digit() | insert("0"))).optimize()


def below_hundred() -> pynini.Fst:
    """1..99 in words -> digits without leading zero."""
    return pynini.union(digit(), two_digits()).optimize()


def _and() -> pynini.Fst:
    """The optional British "and " before the last part ("one hundred and five")."""
    return optional(delete("and "), VARIANT)


def hundreds_group(allow_a: bool = True) -> pynini.Fst:
    """1..999 in words -> exactly three digits, zero padded: "five" -> "005".

    ``allow_a`` accepts "a hundred" (only sensible at the start of a number).
    """
    one_or_a = pynini.union(digit(), add_weight(string_map([("a", "1")]), VARIANT)) if allow_a else digit()
    rest = pynini.union(delete_space + _and() + (two_digits() | insert("0") + digit()), insert("00"))
    hundreds = one_or_a + delete(" hundred") + rest
    return pynini.union(hundreds, insert("0") + two_digits(), insert("00") + digit()).optimize()


def _scale_group(scale: str, first: bool) -> pynini.Fst:
    """"<1..999> <scale>" -> three digits; at the start of a number also "a thousand" -> "001"."""
    if not first:
        return (hundreds_group(allow_a=False) + delete(" " + scale)).optimize()
    a_one = add_weight(string_map([("a", "001")]), VARIANT)
    return (pynini.union(hundreds_group(), a_one) + delete(" " + scale)).optimize()


def _last_group_after_scale() -> pynini.Fst:
    """The units group after a scale word: "and" only before 1..99 ("two thousand and five")."""
    below = pynini.union(insert("0") + two_digits(), insert("00") + digit())
    return pynini.union(hundreds_group(allow_a=False), _and() + below).optimize()


def _groups(k: int, first: bool) -> pynini.Fst:
    """A spoken number in 1 .. 1000**k - 1 -> exactly ``3k`` digits, zero padded.

    Built from the top group down (the group with scale word ``SCALES[k - 2]``, or none, then the
    rest), so the grammar grows linearly with the number of scale words. ``first``: the number
    starts here ("a thousand" is allowed only there).
    """
    if k == 1:
        return hundreds_group() if first else _last_group_after_scale()
    top = _scale_group(SCALES[k - 2], first)
    rest = pynini.union(insert("000" * (k - 1)), delete_space + _groups(k - 1, first=False))
    return pynini.union(top + rest, insert("000") + _groups(k - 1, first)).optimize()


def number_digits() -> pynini.Fst:
    """1 .. 10^24 - 1 in words -> digits without separators or leading zeros."""
    padded = _groups(len(SCALES) + 1, first=True)
    strip_zeros = pynini.closure(delete("0")) + pynini.difference(DIGIT, "0") + pynini.closure(DIGIT)
    return (padded @ strip_zeros).optimize()


def _round_tens() -> pynini.Fst:
    return pynini.union(*(str(d) + "0" for d in range(1, 10)))


def hundreds_of_teens() -> pynini.Fst:
    """"thirteen hundred (and) five" -> "1305": 11..99 (not 20, 30..) hundred, for 1100..9999."""
    head = (two_digits() @ pynini.difference(pynini.closure(DIGIT, 2, 2), _round_tens())).optimize()
    tail = pynini.union(delete_space + _and() + (two_digits() | insert("0") + digit()), insert("00"))
    return (head + delete(" hundred") + tail).optimize()


def year_pair() -> pynini.Fst:
    """Year-style "nineteen ninety nine" -> "1999", "twenty oh five" -> "2005", "nineteen hundred" -> "1900"."""
    first = (two_digits() @ pynini.difference(pynini.closure(DIGIT, 2, 2), "10")).optimize()
    oh = pynini.union(delete("oh"), add_weight(delete("o"), 0.2))
    oh_digit = oh + insert("0") + delete_space + digit()
    second = pynini.union(two_digits(), oh_digit, delete("hundred") + insert("00"))
    return join(first, second).optimize()


def format_with_commas(comma_from: int = 5) -> pynini.Fst:
    """Digit string (no leading zero) -> written: as is below ``comma_from`` digits, comma groups from there."""
    options = []
    for n in range(1, MAX_DIGITS + 1):
        if n < comma_from:
            options.append(pynini.closure(DIGIT, n, n))
        else:
            head = n % 3 or 3
            groups = (n - head) // 3
            options.append(pynini.closure(DIGIT, head, head) + pynini.closure(insert(",") + pynini.closure(DIGIT, 3, 3), groups, groups))
    return pynini.union(*options).optimize()


def cardinal_digits(years: bool = True) -> pynini.Fst:
    """Spoken cardinal -> plain digits (no commas): zero, 1 .. 10^24 - 1, optionally year forms."""
    options = [zero(), number_digits(), add_weight(hundreds_of_teens(), VARIANT)]
    if years:
        options.append(add_weight(year_pair(), UNUSUAL))
    return pynini.union(*options).optimize()


def minus() -> pynini.Fst:
    """The sign: "minus " / "negative " -> "-"."""
    return pynini.union(cross("minus ", "-"), add_weight(cross("negative ", "-"), VARIANT)).optimize()


def cardinal(years: bool = True, comma_from: int = 5) -> pynini.Fst:
    """Spoken cardinal -> written with comma groups (from ``comma_from`` digits on), without sign."""
    return (cardinal_digits(years) @ format_with_commas(comma_from)).optimize()


def build_normalizer() -> pynini.Fst:
    """Spoken cardinal -> written ("fifteen thousand" -> "15,000", "minus two thousand and five" -> "-2005")."""
    return finalize(optional(minus()) + cardinal())


def written_aliases() -> pynini.Fst:
    """Alternative written cardinals: a comma in a four-digit number ("9,255" -> "9255")."""
    return (optional(pynini.accep("-")) + DIGIT + delete(",") + pynini.closure(DIGIT, 3, 3)).optimize()


def build_verbalizer(normalizer: pynini.Fst | None = None) -> pynini.Fst:
    """Written cardinal -> spoken variants ("2005" -> "two thousand five" | "two thousand and five" | ...).

    Also reads "9,255" (the canonical written form is "9255").
    """
    return finalize(with_written_aliases(inverted(normalizer, build_normalizer), written_aliases()))
