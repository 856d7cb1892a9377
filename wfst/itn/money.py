"""Money: "twenty dollars and fifty cents" -> "$20.50", "a dollar" -> "$1", "fifty cents" -> "$0.50",
"one thousand dollars" -> "$1,000" (amounts take comma groups from four digits on).

Currencies: dollars ($), euros (€), pounds (£, minor unit pence -> "50p"), yen (¥). The amount is a
cardinal (no year forms) or a decimal with an optional quantity word ("two point five million
dollars" -> "$2.5 million"); "one"/"a" take the singular unit, other amounts the plural. Cents
follow with or without "and", with or without the unit word ("two pounds fifty" -> "£2.50").
"""

from __future__ import annotations

from dataclasses import dataclass

import pynini

from wfst.itn.cardinal import cardinal, digit, format_with_commas, two_digits
from wfst.itn.common import DIGIT, SIGMA_STAR, VARIANT, add_weight, cross, delete, finalize, insert, inverted, with_written_aliases
from wfst.itn.decimal import decimal_number, quantity


@dataclass(frozen=True)
class Currency:
    symbol: str
    singular: str
    plural: str
    minor_singular: str | None = None
    minor_plural: str | None = None
    minor_suffix: str | None = None  # written minor-only amounts as "50p" instead of "$0.50"


CURRENCIES = (
    Currency("$", "dollar", "dollars", "cent", "cents"),
    Currency("€", "euro", "euros", "cent", "cents"),
    Currency("£", "pound", "pounds", "penny", "pence", minor_suffix="p"),
    Currency("¥", "yen", "yen"),
)


def _not_one() -> pynini.Fst:
    return pynini.difference(pynini.closure(pynini.union(DIGIT, ",")), pynini.union("0", "1"))


def _one() -> pynini.Fst:
    return pynini.union(cross("one", "1"), add_weight(cross("a", "1"), VARIANT))


def _unit(amount_one: pynini.Fst, amount_many: pynini.Fst, singular: str, plural: str) -> pynini.Fst:
    """Amount followed by its unit word, which is deleted; singular only after one/a."""
    return pynini.union(amount_one + delete(" " + singular), amount_many + delete(" " + plural))


def _minor_digits(currency: Currency, with_unit: bool) -> pynini.Fst:
    """1..99 minor units -> two digits ("five cents" -> "05"); bare numbers when not ``with_unit``."""
    many = pynini.union(two_digits(), insert("0") + digit()) @ pynini.difference(pynini.closure(DIGIT, 2, 2), "01")
    one = insert("0") + _one()
    if not with_unit:
        return pynini.union(insert("0") + cross("one", "1"), many).optimize()
    assert currency.minor_singular and currency.minor_plural
    return _unit(one, many, currency.minor_singular, currency.minor_plural).optimize()


def currency_amount(currency: Currency) -> pynini.Fst:
    """All spoken amounts in one currency -> written."""
    integer = cardinal(years=False, comma_from=4)  # LibriTTS: "$1,000" 17x, "$1000" 3x
    major = _unit(_one(), integer @ _not_one(), currency.singular, currency.plural)
    options = [insert(currency.symbol) + major]
    # "two point five dollars" -> "$2.5"; with exactly two decimals the amount is said with cents
    # ("$20.50" is never "twenty point five zero dollars").
    cents_like = pynini.closure(pynini.union(DIGIT, ",")) + "." + DIGIT + DIGIT
    decimal = decimal_number() @ pynini.difference(SIGMA_STAR, cents_like)
    options.append(add_weight(insert(currency.symbol) + decimal + delete(" " + currency.plural), VARIANT))
    scaled = pynini.union(decimal_number(), add_weight(integer, VARIANT)) + quantity()
    options.append(insert(currency.symbol) + scaled + delete(" " + currency.plural))
    if currency.minor_plural:
        cents = pynini.union(
            delete(" and ") + _minor_digits(currency, with_unit=True),
            add_weight(delete(" ") + _minor_digits(currency, with_unit=True), VARIANT),
            add_weight(delete(" ") + _minor_digits(currency, with_unit=False), VARIANT),
        )
        options.append(insert(currency.symbol) + major + insert(".") + cents)
        minor_only = _minor_digits(currency, with_unit=True)
        if currency.minor_suffix:
            minor_written = minor_only @ pynini.union(delete("0") + DIGIT, pynini.difference(DIGIT, "0") + DIGIT)
            options.append(minor_written + insert(currency.minor_suffix))
        else:
            options.append(insert(currency.symbol + "0.") + minor_only)
    return pynini.union(*options).optimize()


def _cost(currency: Currency) -> float:
    """Dollars are the default reading of "cents"; other currencies sharing the word cost more."""
    return 0.0 if currency.symbol == "$" else 0.01


def build_normalizer() -> pynini.Fst:
    """Spoken money amount -> written."""
    return finalize(pynini.union(*(add_weight(currency_amount(c), _cost(c)) for c in CURRENCIES)))


def written_aliases() -> pynini.Fst:
    """Alternative written amounts: no comma groups ("$2300" -> "$2,300")."""
    symbol = pynini.union(*(c.symbol for c in CURRENCIES))
    no_commas = (pynini.difference(DIGIT, "0") + pynini.closure(DIGIT, 3, 11)) @ format_with_commas(comma_from=4)
    cents = pynini.closure("." + pynini.closure(DIGIT, 2, 2), 0, 1)
    return (symbol + no_commas + cents).optimize()


def build_verbalizer(normalizer: pynini.Fst | None = None) -> pynini.Fst:
    """Written money amount -> spoken ("$20.50" -> "twenty dollars and fifty cents" | ...); also reads "$2300"."""
    return finalize(with_written_aliases(inverted(normalizer, build_normalizer), written_aliases()))
