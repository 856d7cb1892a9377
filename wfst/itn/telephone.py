"""Telephone numbers and other digit runs: "five five five one two three four" -> "555-1234",
"eight hundred five five five one two one two" -> "800-555-1212", "double five" -> "55",
"plus forty four two zero seven nine four six zero nine five eight" -> "+44 2079460958",
"one nine two dot one six eight dot o dot one" -> "192.168.0.1".

Spoken digits one by one ("zero"/"oh"/"o" for 0), with "double"/"triple" repeats and
"<digit> hundred" for a 3-digit block ("eight hundred" -> "800"). Accepted lengths: 7 digits
(ddd-dddd), 10 digits (ddd-ddd-dddd) and 11 digits starting with 1 (1-ddd-ddd-dddd).
International numbers: "plus", an ITU country code said digit by digit or as a number ("forty
four"), then 6 to 12 digits, written "+<code> <digits>" ("+1 ddd-ddd-dddd" for the 10 digits of
code 1). IPv4 addresses: four groups of 0..255, each said digit by digit, as a number, or as a
digit and a two-digit number ("one sixty eight"), joined by "dot".
"""

from __future__ import annotations

import pynini

from wfst.itn.cardinal import digit, digit_or_oh, number_digits, two_digits, zero
from wfst.itn.common import DIGIT, VARIANT, add_weight, cross, delete, finalize, insert, inverted, with_written_aliases

# ITU country codes as a prefix code: 1 and 7 alone; these two-digit codes; any other code is
# three digits starting with one of the remaining two-digit prefixes.
_CODES_1 = ["1", "7"]
_CODES_2 = ("20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 62 63 "
            "64 65 66 81 82 84 86 90 91 92 93 94 95 98").split()
_CODE_PREFIXES_3 = "21 22 23 24 25 26 29 35 37 38 42 50 59 67 68 69 80 85 87 88 96 97 99".split()


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


def _country_code() -> pynini.Fst:
    """"four four" / "forty four" -> "44" for a valid country code."""
    codes = pynini.union(*_CODES_1, *_CODES_2, *(p + d for p in _CODE_PREFIXES_3 for d in "0123456789"))
    said = pynini.union(digit_or_oh() + pynini.closure(delete(" ") + digit_or_oh(), 0, 2), number_digits())
    return (said @ codes).optimize()


def international() -> pynini.Fst:
    """"plus forty four two zero seven ..." -> "+44 207...": "+1" takes the North American layout."""
    d3 = pynini.closure(DIGIT, 3, 3)
    nanp = cross("plus one", "+1") + cross(" ", " ") + (digit_tokens() @ (d3 + insert("-") + d3 + insert("-") + pynini.closure(DIGIT, 4, 4)))
    other = (cross("plus ", "+") + (_country_code() @ pynini.difference(pynini.closure(DIGIT, 1, 3), "1"))
             + cross(" ", " ") + (digit_tokens() @ pynini.closure(DIGIT, 6, 12)))
    return pynini.union(nanp, other).optimize()


def _octet() -> pynini.Fst:
    """0..255 as said in an IP address: "one nine two", "one ninety two", "zero", "twelve"."""
    values = pynini.union(*(str(i) for i in range(256)))
    by_digits = digit_or_oh() + pynini.closure(delete(" ") + digit_or_oh(), 0, 2)
    strip = pynini.union("0", pynini.closure(delete("0"), 0, 2) + pynini.difference(DIGIT, "0") + pynini.closure(DIGIT, 0, 2))
    as_number = pynini.union(zero(), number_digits(), add_weight(digit() + delete(" ") + two_digits(), VARIANT))
    return pynini.union(by_digits @ strip @ values, as_number @ values).optimize()


def ip_address() -> pynini.Fst:
    """"one nine two dot one six eight dot o dot one" -> "192.168.0.1"."""
    dot = cross(" dot ", ".")
    octet = _octet()
    return (octet + dot + octet + dot + octet + dot + octet).optimize()


def build_normalizer() -> pynini.Fst:
    """Spoken phone number or IP address -> written."""
    return finalize(pynini.union(digit_tokens() @ layout(), international(), ip_address()))


def written_aliases() -> pynini.Fst:
    """Alternative written numbers: "(800) 555-1212" -> "800-555-1212"."""
    d = DIGIT
    return (delete("(") + d + d + d + cross(") ", "-") + d + d + d + "-" + pynini.closure(d, 4, 4)).optimize()


def build_verbalizer(normalizer: pynini.Fst | None = None) -> pynini.Fst:
    """Written phone number -> spoken digits ("555-1234" -> "five five five one two three four");
    also reads "(800) 555-1212"."""
    return finalize(with_written_aliases(inverted(normalizer, build_normalizer), written_aliases()))
