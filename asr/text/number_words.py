"""The English number words, shared by the pynini grammars (``wfst/itn/cardinal.py``) and the
pure-Python span rules of :mod:`asr.itn.normalizer`, which must not import pynini eagerly."""

from __future__ import annotations

DIGITS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TIES = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
# Short-scale words up to 10^21 (issue 15: "seventeen sextillion ..." was cut into pieces).
SCALES = ["thousand", "million", "billion", "trillion", "quadrillion", "quintillion", "sextillion"]
# A digit said one by one, as in digit strings and codes ("two five four o").
SPOKEN_DIGITS = {"zero": "0", "oh": "0", "o": "0", **{w: str(i + 1) for i, w in enumerate(DIGITS)}}
