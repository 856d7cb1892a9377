"""Roman numerals: "chapter fourteen" -> "chapter XIV" style spans: "fourteen" -> "XIV",
"henry the eighth" spans "the eighth" -> "VIII".

Not one of the categories the issue names, but LibriTTS writes chapter, volume and regnal
numbers this way (about a fifth of its non-trivial spans), so the tagger needs a target for
them. Accepts a cardinal 1..3999 (no year forms) or "the" + an ordinal 1..3999 (regnal).
"""

from __future__ import annotations

import pynini

from wfst.itn.cardinal import cardinal_digits
from wfst.itn.common import DIGIT, VARIANT, add_weight, delete, finalize, inverted, string_map
from wfst.itn.ordinal import ordinal_digits

_UNITS = ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX"]
_TENS = ["", "X", "XX", "XXX", "XL", "L", "LX", "LXX", "LXXX", "XC"]
_HUNDREDS = ["", "C", "CC", "CCC", "CD", "D", "DC", "DCC", "DCCC", "CM"]
_THOUSANDS = ["", "M", "MM", "MMM"]


def digits_to_roman() -> pynini.Fst:
    """Digit string 1..3999 (no leading zero) -> Roman numeral."""

    def place(table: list[str], digits: str = "0123456789") -> pynini.Fst:
        return string_map([(d, table[int(d)]) for d in digits])

    nonzero = "123456789"
    units, tens, hundreds = place(_UNITS), place(_TENS), place(_HUNDREDS)
    options = [
        place(_UNITS, nonzero),
        place(_TENS, nonzero) + units,
        place(_HUNDREDS, nonzero) + tens + units,
        place(_THOUSANDS, "123") + hundreds + tens + units,
    ]
    return pynini.union(*options).optimize()


def build_normalizer() -> pynini.Fst:
    """Spoken number 1..3999 (or "the" + ordinal) -> Roman numeral."""
    to_roman = digits_to_roman()
    plain = cardinal_digits(years=False) @ pynini.closure(DIGIT, 1, 4) @ to_roman
    regnal = delete("the ") + (ordinal_digits() @ pynini.closure(DIGIT, 1, 4) @ to_roman)
    return finalize(pynini.union(plain, add_weight(regnal, VARIANT)))


def build_verbalizer(normalizer: pynini.Fst | None = None) -> pynini.Fst:
    """Roman numeral -> spoken number ("XIV" -> "fourteen" | "the fourteenth")."""
    return finalize(inverted(normalizer, build_normalizer))
