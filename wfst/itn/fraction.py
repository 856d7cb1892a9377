"""Fractions: "three quarters" -> "3/4", "one half" -> "1/2", "two and a half" -> "2 1/2".

Numerator: a cardinal (no year forms) or "a"; denominator: "half"/"halves", "quarter(s)", or any
ordinal from "third" on, singular after one/a and plural otherwise ("one twenty fifth" -> "1/25",
"two thirds" -> "2/3"). Mixed numbers join a cardinal and a fraction with "and". "X over Y" is
accepted too. "first"/"second" are never denominators ("one second" is a duration).
"""

from __future__ import annotations

import pynini

from wfst.itn.cardinal import cardinal, format_with_commas, minus
from wfst.itn.common import DIGIT, VARIANT, add_weight, cross, delete, finalize, insert, inverted, optional, string_map
from wfst.itn.ordinal import ordinal_digits


def _denominator(plural: bool) -> pynini.Fst:
    special = {"half": "2", "quarter": "4"} if not plural else {"halves": "2", "quarters": "4"}
    fourth = "fourths" if plural else "fourth"
    ordinals = ordinal_digits(plural) @ pynini.difference(pynini.closure(DIGIT, 1), pynini.union("1", "2", "4"))
    return pynini.union(
        string_map(special), add_weight(cross(fourth, "4"), VARIANT), ordinals @ format_with_commas()
    ).optimize()


def simple_fraction(after_and: bool = False) -> pynini.Fst:
    """"three quarters" -> "3/4", "a half" -> "1/2", "one over two" -> "1/2".

    ``after_and``: the fraction of a mixed number, where "a half" is the usual reading.
    """
    one_cost, a_cost = (VARIANT, 0.0) if after_and else (0.0, VARIANT)
    one = pynini.union(add_weight(cross("one", "1"), one_cost), add_weight(cross("a", "1"), a_cost))
    many = cardinal(years=False) @ pynini.difference(pynini.closure(pynini.union(DIGIT, ",")), "1")
    slash = insert("/")
    spoken = pynini.union(
        one + delete(" ") + slash + _denominator(plural=False),
        many + delete(" ") + slash + _denominator(plural=True),
    )
    over = cardinal(years=False) + cross(" over ", "/") + cardinal(years=False)
    if after_and:
        return pynini.union(spoken, add_weight(over, VARIANT)).optimize()
    bare_half = cross("half", "1/2")  # "half an hour" -> "1/2 an hour" (LibriTTS)
    return pynini.union(spoken, add_weight(over, VARIANT), add_weight(bare_half, 2 * VARIANT)).optimize()


def build_normalizer() -> pynini.Fst:
    """Spoken fraction or mixed number -> written ("one and a half" -> "1 1/2")."""
    mixed = cardinal(years=False) + cross(" and ", " ") + simple_fraction(after_and=True)
    return finalize(optional(minus()) + pynini.union(simple_fraction(), mixed))


def build_verbalizer(normalizer: pynini.Fst | None = None) -> pynini.Fst:
    """Written fraction -> spoken ("3/4" -> "three quarters" | "three fourths" | "three over four")."""
    return finalize(inverted(normalizer, build_normalizer))
