"""Text forms shared by ITN training data, tests and the benchmark.

``asr_style``: what a lexical ASR system emits (lower case, no punctuation, hyphens as spaces,
apostrophes inside words kept). ``comparison_form``: the canonical form under which the benchmark
calls a normalized sentence correct (see its docstring).
"""

from __future__ import annotations

import unicodedata

_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\x97"
_KEPT_SYMBOLS = "%@&#$\u00a3\u20ac\u00a5+="  # meaningful in written forms; never stripped


def asr_style(text: str) -> str:
    """Lower-case, punctuation-free word string as a lexical ASR system would produce it."""
    text = unicodedata.normalize("NFKC", text).casefold()
    out = []
    for i, ch in enumerate(text):
        if ch.isalnum():
            out.append(ch)
        elif ch in "'\u2019" and 0 < i < len(text) - 1 and text[i - 1].isalpha() and text[i + 1].isalpha():
            out.append("'")
        else:
            out.append(" ")
    return " ".join("".join(out).split())


def comparison_form(text: str) -> str:
    """Canonical form for sentence accuracy: case-, punctuation- and spacing-insensitive.

    NFKC, casefold; dashes become spaces; ``.``, ``,``, ``:`` and ``/`` between two digits are
    kept (``50,000``, ``3.5``, ``2:30``, ``1/2``); other ``.`` and apostrophes are deleted
    (``p.m.`` -> ``pm``, ``St.`` -> ``st``, ``don't`` -> ``dont``); every other punctuation
    character becomes a space; symbols (``$ % @ ...``) are kept; whitespace is collapsed.
    So two sentences compare equal when they differ only in case, punctuation and spacing
    outside numbers, and every digit, symbol and number-internal separator must match.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    out = []
    n = len(text)
    for i, ch in enumerate(text):
        between_digits = 0 < i < n - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()
        if ch in _DASHES:
            out.append(" ")
        elif ch in ".,:/" and between_digits:
            out.append(ch)
        elif ch in ".'\u2019\u2018":
            continue
        elif ch in _KEPT_SYMBOLS or ch.isalnum() or ch.isspace():
            out.append(ch)
        elif unicodedata.category(ch)[0] in "PSZC":
            out.append(" ")
        else:
            out.append(ch)
    return " ".join("".join(out).split())
