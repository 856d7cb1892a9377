"""Telephone numbers: "five five five one two three four" -> "555-1234",
"eight hundred five five five one two one two" -> "800-555-1212", "double five" -> "55".

Spoken digits one by one ("zero"/"oh"/"o" for 0), with "double"/"triple" repeats and
"<digit> hundred" for a 3-digit block ("eight hundred" -> "800"). Accepted lengths: 7 digits
(ddd-dddd), 10 digits (ddd-ddd-dddd) and 11 digits starting with 1 (1-ddd-ddd-dddd).
"""

from __future__ import annotations

import pynini

from wfst.itn.cardinal import digit, digit_or_oh
from wfst.itn.common import DIGIT, VARIANT, add_weight, cross, delete, finalize, insert, inverted, with_written_aliases


def _repeat(word: str, times: int) -> pynini.Fst:
    """"double five" -> "55"."""
    options = []
    for d in range(10):
        spoken = (digit_or_oh() @ pynini.accep(str(d))).optimize()
        options.append(delete(word + " ") + pynini.cross(pynini.project(spoken, "input"), str(d) * times))
    return pynini.union(*options).optimize()


def digit_tokens() -> pynini.Fst:
    """A sequence of spoken digits -> the digit string."""
    token = pynini.union(
        digit_or_oh(),
        add_weight(_repeat("double", 2), VARIANT),
        add_weight(_repeat("triple", 3), VARIANT),
        add_weight(digit() + delete(" hundred") + insert("00"), VARIANT),
    )
    return (token + pynini.closure(delete(" ") + token)).optimize()


def layout() -> pynini.Fst:
    """Digit string of 7, 10 or 1+10 digits -> hyphenated groups."""
    d3 = pynini.closure(DIGIT, 3, 3)
    d4 = pynini.closure(DIGIT, 4, 4)
    local = d3 + insert("-") + d4
    national = d3 + insert("-") + local
    return pynini.union(local, national, "1" + insert("-") + national).optimize()


def build_normalizer() -> pynini.Fst:
    """Spoken phone number -> written."""
    return finalize(digit_tokens() @ layout())


def written_aliases() -> pynini.Fst:
    """Alternative written numbers: "(800) 555-1212" -> "800-555-1212"."""
    d = DIGIT
    return (delete("(") + d + d + d + cross(") ", "-") + d + d + d + "-" + pynini.closure(d, 4, 4)).optimize()


def build_verbalizer(normalizer: pynini.Fst | None = None) -> pynini.Fst:
    """Written phone number -> spoken digits ("555-1234" -> "five five five one two three four");
    also reads "(800) 555-1212"."""
    return finalize(with_written_aliases(inverted(normalizer, build_normalizer), written_aliases()))
