"""Dates: "march third" -> "March 3", "june ninth eighteen seventy two" -> "June 9, 1872",
"the fifteenth of august" -> "the 15th of August", "the fifteenth of august nineteen ten" ->
"15 August 1910", "twenty five july twenty twelve" -> "25 July 2012", "nineteen ninety nine" -> "1999",
"the eighteen sixties" -> "the 1860s", "eighteen fifteen to eighteen thirty four" -> "1815-1834",
"seven forty three b c" -> "743 B.C.".

Day: ordinal ("third", canonical) or cardinal ("three"), 1..31. Year: the paired form
("nineteen ninety nine", "twenty oh five", "eighteen hundred") is canonical; any cardinal reading
of a four-digit number ("two thousand and five") is accepted too. A leading "the" is kept. Month
abbreviations are never produced; a year alone is written without a comma.
"""

from __future__ import annotations

import pynini

from wfst.itn.cardinal import TIES, cardinal_digits, digit, hundreds_of_teens, number_digits, two_digits, year_pair
from wfst.itn.common import (
    DIGIT,
    VARIANT,
    accep,
    add_weight,
    cross,
    delete,
    finalize,
    insert,
    inverted,
    optional,
    string_map,
    with_written_aliases,
)
from wfst.itn.ordinal import ordinal_digits, suffix

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december"]


def month() -> pynini.Fst:
    """"march" -> "March"."""
    return string_map([(m, m.capitalize()) for m in MONTHS])


def _days() -> pynini.Fst:
    return pynini.union(*(str(d) for d in range(1, 32)))


def day() -> pynini.Fst:
    """Day of month after the month -> digits: "third"/"the third" (canonical), "three" (VARIANT)."""
    the = optional(add_weight(delete("the "), VARIANT))
    spoken = pynini.union(the + ordinal_digits(), add_weight(cardinal_digits(years=False), VARIANT))
    return (spoken @ _days()).optimize()


def year() -> pynini.Fst:
    """A year 1000..2999 -> four digits; paired form canonical."""
    four = pynini.union("1", "2") + pynini.closure(DIGIT, 3, 3)
    other = pynini.union(number_digits(), hundreds_of_teens()) @ four
    return pynini.union(year_pair() @ four, add_weight(other, VARIANT)).optimize()


def decade() -> pynini.Fst:
    """"nineteen nineties" -> "1990s", "eighteen hundreds" -> "1800s"."""
    first = two_digits() @ pynini.difference(pynini.closure(DIGIT, 2, 2), "10")
    plural_ties = string_map([(t[:-1] + "ies", str(i + 2) + "0s") for i, t in enumerate(TIES)])
    return (first + delete(" ") + pynini.union(plural_ties, cross("hundreds", "00s"))).optimize()


def year_range(years: pynini.Fst) -> pynini.Fst:
    """"eighteen fifteen to eighteen thirty four" -> "1815-1834", "eighteen seventy to seventy one" -> "1870-71".

    ``years``: the :func:`year` grammar (built once by the caller).
    """
    full = years + cross(" to ", "-") + years
    short = years + cross(" to ", "-") + (two_digits() | cross("oh ", "0") + digit())
    bare = years + cross(" ", "-") + years
    return pynini.union(full, add_weight(short, VARIANT), add_weight(bare, 2 * VARIANT)).optimize()


def era(years: pynini.Fst) -> pynini.Fst:
    """"seven forty three b c" -> "743 B.C.", "a d fourteen fourteen" -> "A.D. 1414"."""
    short_pair = digit() + delete(" ") + (two_digits() | cross("oh ", "0") + digit())
    number = pynini.union(years, add_weight(short_pair, VARIANT), add_weight(cardinal_digits(years=False), 2 * VARIANT))
    after = number + pynini.union(cross(" b c", " B.C."), cross(" a d", " A.D."), add_weight(cross(" b c e", " BCE"), VARIANT),
                                  add_weight(cross(" c e", " CE"), VARIANT))
    before = cross("a d ", "A.D. ") + years
    return pynini.union(after, add_weight(before, VARIANT)).optimize()


def build_normalizer() -> pynini.Fst:
    """Spoken date -> written."""
    the = optional(accep("the "))
    years = year()
    months = month()
    month_first = months + pynini.accep(" ") + day()
    with_year = month_first + insert(",") + pynini.accep(" ") + years
    ordinal_day = (ordinal_digits() @ _days()) @ suffix()
    day_first = the + ordinal_day + accep(" of ") + months
    # With a year, a day-first date is written compactly in the spoken order, as Google's TN
    # data writes it ("the seventeenth of april nineteen eighty one" -> "17 April 1981");
    # without one, LibriTTS's "the 15th of August" (110 of 127 day-first dates) is kept.
    plain_day = (ordinal_digits() @ _days())
    # "the" is how it is usually said, so the verbalizer's canonical reading keeps it.
    the_said = pynini.union(delete("the "), add_weight(pynini.accep(""), 0.1))
    compact_first = the_said + plain_day + delete(" of ") + insert(" ") + months
    day_first_year = pynini.union(add_weight(day_first + pynini.accep(" ") + years, VARIANT),
                                  compact_first + pynini.accep(" ") + years)
    # "twenty five july twenty twelve" / "seventeenth april" -> "25 July 2012" / "17 April".
    said_day = pynini.union(cardinal_digits(years=False), ordinal_digits()) @ _days()
    day_month = said_day + pynini.accep(" ") + months + optional(pynini.accep(" ") + years)
    month_year = months + pynini.accep(" ") + years
    decades = the + decade()
    return finalize(pynini.union(month_first, with_year, day_first, day_first_year, add_weight(day_month, VARIANT),
                                 month_year, years, decades,
                                 year_range(years), era(years)))


def written_aliases() -> pynini.Fst:
    """Alternative written dates: US numeric "3/19/2017" -> "March 19, 2017"."""
    month_number = string_map([(str(i + 1), m.capitalize()) for i, m in enumerate(MONTHS)])
    return (month_number + cross("/", " ") + _days() + cross("/", ", ") + pynini.closure(DIGIT, 4, 4)).optimize()


def build_verbalizer(normalizer: pynini.Fst | None = None) -> pynini.Fst:
    """Written date -> spoken ("March 3, 1999" -> "march third nineteen ninety nine" | ...); also reads "3/3/1999"."""
    return finalize(with_written_aliases(inverted(normalizer, build_normalizer), written_aliases()))
