"""Decimal numbers: "three point one four" -> "3.14", "point five" -> "0.5", "two point five million" -> "2.5 million".

The integer part is a cardinal (no year forms); the fractional part is a sequence of spoken digits
("oh"/"o"/"zero" -> 0). A bare "point five" is written with a leading zero. An optional scale word
(million, billion, trillion) stays a word, as in "$2.5 million".
"""

from __future__ import annotations

import pynini

from wfst.itn.cardinal import cardinal, digit_or_oh, minus
from wfst.itn.common import VARIANT, add_weight, delete, delete_space, finalize, insert, inverted, optional

# "thousand" is not kept as a word: "six thousand" is the cardinal 6000, never "6 thousand".
QUANTITY_WORDS = ("million", "billion", "trillion")


def fractional_digits() -> pynini.Fst:
    """"one four" -> "14": one or more spoken digits."""
    d = digit_or_oh()
    return (d + pynini.closure(delete_space + d)).optimize()


def decimal_number() -> pynini.Fst:
    """Unsigned spoken decimal -> written "3.14" / "0.5", without a quantity word."""
    whole = cardinal(years=False) + delete(" point ") + insert(".") + fractional_digits()
    bare = insert("0") + delete("point ") + insert(".") + fractional_digits()
    return pynini.union(whole, add_weight(bare, VARIANT)).optimize()


def quantity() -> pynini.Fst:
    """" million" kept as the written " million"."""
    return pynini.union(*(pynini.accep(" " + q) for q in QUANTITY_WORDS)).optimize()


def build_normalizer() -> pynini.Fst:
    """Spoken decimal -> written, optional sign and quantity word ("minus two point five million" -> "-2.5 million")."""
    with_quantity = pynini.union(decimal_number(), add_weight(cardinal(years=False), VARIANT)) + quantity()
    return finalize(optional(minus()) + pynini.union(decimal_number(), with_quantity))


def build_verbalizer(normalizer: pynini.Fst | None = None) -> pynini.Fst:
    """Written decimal -> spoken ("3.14" -> "three point one four", "0.5" -> "zero point five" | "point five")."""
    return finalize(inverted(normalizer, build_normalizer))
