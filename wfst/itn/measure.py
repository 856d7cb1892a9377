"""Measures: "five kilograms" -> "5 kg", "ten percent" -> "10%", "sixty miles per hour" -> "60 mph",
"fifty five pounds" -> "55 lbs" ("1 lb").

A number (cardinal without year forms, decimal, or fraction; optional "minus") followed by a unit:
singular after "one"/"a", plural otherwise. The written unit is an SI or customary abbreviation
after a space, except "%" and bare degrees ("45°"), which attach. Durations (hours, minutes,
seconds) are not measures here: "five minutes" stays words.
"""

from __future__ import annotations

import pynini

from wfst.itn.cardinal import cardinal, minus
from wfst.itn.common import DIGIT, VARIANT, add_weight, cross, finalize, inverted, optional, with_written_aliases
from wfst.itn.decimal import decimal_number
from wfst.itn.fraction import build_normalizer as fraction_normalizer

# (singular, plural, written); alternative spellings repeat the written form and cost more.
UNITS: list[tuple[str, str, str]] = [
    ("millimeter", "millimeters", "mm"), ("centimeter", "centimeters", "cm"), ("meter", "meters", "m"),
    ("kilometer", "kilometers", "km"), ("millimetre", "millimetres", "mm"), ("centimetre", "centimetres", "cm"),
    ("metre", "metres", "m"), ("kilometre", "kilometres", "km"),
    ("inch", "inches", "in"), ("foot", "feet", "ft"), ("yard", "yards", "yd"), ("mile", "miles", "mi"),
    ("milligram", "milligrams", "mg"), ("gram", "grams", "g"), ("kilogram", "kilograms", "kg"),
    ("kilo", "kilos", "kg"), ("ounce", "ounces", "oz"), ("pound", "pounds", "lb"), ("tonne", "tonnes", "t"),
    ("milliliter", "milliliters", "ml"), ("liter", "liters", "l"), ("millilitre", "millilitres", "ml"),
    ("litre", "litres", "l"), ("gallon", "gallons", "gal"),
    ("mile per hour", "miles per hour", "mph"), ("kilometer per hour", "kilometers per hour", "km/h"),
    ("kilometre per hour", "kilometres per hour", "km/h"), ("meter per second", "meters per second", "m/s"),
    ("square foot", "square feet", "sq ft"), ("square meter", "square meters", "m²"),
    ("square kilometer", "square kilometers", "km²"), ("square mile", "square miles", "sq mi"),
    ("cubic meter", "cubic meters", "m³"), ("cubic centimeter", "cubic centimeters", "cm³"),
    ("hectare", "hectares", "ha"), ("acre", "acres", "ac"),
    ("degree celsius", "degrees celsius", "°C"), ("degree centigrade", "degrees centigrade", "°C"),
    ("degree fahrenheit", "degrees fahrenheit", "°F"), ("kelvin", "kelvin", "K"),
    ("kilobyte", "kilobytes", "KB"), ("megabyte", "megabytes", "MB"), ("gigabyte", "gigabytes", "GB"),
    ("terabyte", "terabytes", "TB"), ("hertz", "hertz", "Hz"), ("kilohertz", "kilohertz", "kHz"),
    ("megahertz", "megahertz", "MHz"), ("gigahertz", "gigahertz", "GHz"),
    ("volt", "volts", "V"), ("watt", "watts", "W"), ("kilowatt", "kilowatts", "kW"),
    ("kilowatt hour", "kilowatt hours", "kWh"), ("milliampere", "milliamperes", "mA"),
    ("ampere", "amperes", "A"), ("amp", "amps", "A"), ("calorie", "calories", "cal"),
    ("kilocalorie", "kilocalories", "kcal"),
    # Issue 15's untagged units, and their neighbours.
    ("horsepower", "horsepower", "hp"), ("micrometer", "micrometers", "µm"), ("micrometre", "micrometres", "µm"),
    ("nanometer", "nanometers", "nm"), ("nanometre", "nanometres", "nm"), ("microgram", "micrograms", "µg"),
    ("square centimeter", "square centimeters", "cm²"), ("square inch", "square inches", "sq in"),
    ("square yard", "square yards", "sq yd"), ("square metre", "square metres", "m²"),
    ("square kilometre", "square kilometres", "km²"), ("cubic foot", "cubic feet", "cu ft"),
    ("cubic inch", "cubic inches", "cu in"), ("knot", "knots", "kn"), ("megawatt", "megawatts", "MW"),
    ("gigawatt", "gigawatts", "GW"), ("megawatt hour", "megawatt hours", "MWh"),
    ("kilovolt", "kilovolts", "kV"), ("millivolt", "millivolts", "mV"), ("decibel", "decibels", "dB"),
    ("pascal", "pascals", "Pa"), ("kilopascal", "kilopascals", "kPa"), ("millibar", "millibars", "mbar"),
    ("mile per gallon", "miles per gallon", "mpg"), ("foot per second", "feet per second", "ft/s"),
    ("kilometer per second", "kilometers per second", "km/s"), ("megabit", "megabits", "Mbit"),
    ("megabit per second", "megabits per second", "Mbps"), ("milliliter per hour", "milliliters per hour", "ml/h"),
    ("megaton", "megatons", "Mt"), ("light year", "light years", "ly"),
    ("kilogram per square meter", "kilograms per square meter", "kg/m²"),
]
# Written without a space after the number.
ATTACHED: list[tuple[str, str, str]] = [
    ("percent", "percent", "%"), ("per cent", "per cent", "%"), ("degree", "degrees", "°"),
]


# Written forms that differ in the plural (LibriTTS: "55 lbs").
WRITTEN_PLURAL = {"lb": "lbs"}


def _units(plural: bool) -> pynini.Fst:
    seen: set[str] = set()
    options = []
    for table, space in ((UNITS, " "), (ATTACHED, "")):
        for singular, plural_word, written in table:
            shown = WRITTEN_PLURAL.get(written, written) if plural else written
            fst = cross(" " + (plural_word if plural else singular), space + shown)
            options.append(add_weight(fst, VARIANT) if written in seen else fst)
            seen.add(written)
    return pynini.union(*options).optimize()


def build_normalizer() -> pynini.Fst:
    """Spoken number + unit -> written ("one point five kilograms" -> "1.5 kg")."""
    one = pynini.union(cross("one", "1"), add_weight(cross("a", "1"), VARIANT))
    many_integer = cardinal(years=False) @ pynini.difference(pynini.closure(pynini.union(DIGIT, ",")), "1")
    many = pynini.union(many_integer, decimal_number(), add_weight(fraction_normalizer(), VARIANT))
    return finalize(optional(minus()) + pynini.union(one + _units(False), many + _units(True)))


def written_aliases() -> pynini.Fst:
    """Alternative written units: lower case ("5 mb", "10 khz"), "55 lb", "20°C" without the space."""
    alias_units = {"lb": "lbs", "°c": "°C", "°f": "°F"}
    for _, _, written in UNITS:
        if written.lower() != written:
            alias_units[written.lower()] = written
    unit = pynini.union(*(cross(" " + a, " " + w) for a, w in alias_units.items()),
                        cross("°C", " °C"), cross("°F", " °F"), cross("°c", " °C"), cross("°f", " °F"))
    number = pynini.closure(pynini.union(DIGIT, ",", ".", "-", "/", " "), 1)
    return (number + unit).optimize()


def build_verbalizer(normalizer: pynini.Fst | None = None) -> pynini.Fst:
    """Written measure -> spoken ("5 kg" -> "five kilograms" | "five kilos"); also reads "5 KG"-style aliases."""
    return finalize(with_written_aliases(inverted(normalizer, build_normalizer), written_aliases()))
