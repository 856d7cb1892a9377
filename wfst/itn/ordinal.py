"""Ordinal numbers: "first" -> "1st", "twenty third" -> "23rd", "one hundred and first" -> "101st".

A spoken ordinal is a spoken cardinal whose last word is in ordinal form; the grammar maps that
last word back to its cardinal word, runs the cardinal grammar (without year forms), and adds
the suffix the written digits call for (1st, 2nd, 3rd, 11th..13th, 21st, ...).
"""

from __future__ import annotations

import pynini

from wfst.itn.cardinal import cardinal_digits, format_with_commas
from wfst.itn.common import DIGIT, SIGMA_STAR, finalize, insert, inverted, string_map

ORDINAL_WORDS = {
    "first": "one", "second": "two", "third": "three", "fourth": "four", "fifth": "five",
    "sixth": "six", "seventh": "seven", "eighth": "eight", "ninth": "nine", "tenth": "ten",
    "eleventh": "eleven", "twelfth": "twelve", "thirteenth": "thirteen", "fourteenth": "fourteen",
    "fifteenth": "fifteen", "sixteenth": "sixteen", "seventeenth": "seventeen",
    "eighteenth": "eighteen", "nineteenth": "nineteen", "twentieth": "twenty",
    "thirtieth": "thirty", "fortieth": "forty", "fiftieth": "fifty", "sixtieth": "sixty",
    "seventieth": "seventy", "eightieth": "eighty", "ninetieth": "ninety",
    "hundredth": "hundred", "thousandth": "thousand", "millionth": "million", "billionth": "billion",
}


def ordinal_to_cardinal_words(plural: bool = False) -> pynini.Fst:
    """"twenty third" -> "twenty three": rewrites the last word only ("twenty thirds" when ``plural``)."""
    last = string_map({o + "s" if plural else o: c for o, c in ORDINAL_WORDS.items()})
    return (pynini.union("", SIGMA_STAR + " ") + last).optimize()


def suffix() -> pynini.Fst:
    """Written digits (with or without commas) -> the same plus "st"/"nd"/"rd"/"th"."""
    any_num = pynini.closure(pynini.union(DIGIT, ","))
    not_one = pynini.union(*"023456789", ",")
    ends = {
        "st": ("1", "st"),
        "nd": ("2", "nd"),
        "rd": ("3", "rd"),
    }
    options = []
    for last, suf in ends.values():
        options.append(pynini.union("", any_num + not_one) + last + insert(suf))
    th = pynini.union(any_num + pynini.union(*"0456789"), any_num + "1" + pynini.union(*"123"))
    options.append(th + insert("th"))
    return pynini.union(*options).optimize()


def ordinal_digits(plural: bool = False) -> pynini.Fst:
    """Spoken ordinal -> digits without suffix ("twenty third" -> "23"), for dates and fractions."""
    return (ordinal_to_cardinal_words(plural) @ cardinal_digits(years=False)).optimize()


def build_normalizer() -> pynini.Fst:
    """Spoken ordinal -> written ("twenty first" -> "21st")."""
    return finalize(ordinal_digits() @ format_with_commas() @ suffix())


def build_verbalizer(normalizer: pynini.Fst | None = None) -> pynini.Fst:
    """Written ordinal -> spoken ("21st" -> "twenty first")."""
    return finalize(inverted(normalizer, build_normalizer))
