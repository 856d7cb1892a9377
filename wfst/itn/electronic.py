"""E-mail addresses and URLs: "john dot smith at gmail dot com" -> "john.smith@gmail.com",
"h t t p s colon slash slash w w w dot example dot org slash about" -> "https://www.example.org/about".

Spoken tokens are words or spelled letters (joined without spaces: "j o h n" -> "john"), digit
words ("one" -> "1") and the separators dot, at, dash/hyphen, underscore, slash, colon. An e-mail
needs "at" and a dotted domain; a URL needs a protocol, "w w w"/"www", or a known top-level domain.
Each token costs a little, so normalizing prefers digits for digit words and letters for "o".
"""

from __future__ import annotations

import pynini

from wfst.itn.cardinal import digit_or_oh
from wfst.itn.common import DIGIT, LOWER, VARIANT, accep, add_weight, cross, delete, finalize, string_map

RESERVED = ("at", "dot", "dash", "hyphen", "underscore", "slash", "colon")
TLDS = ("com", "org", "net", "edu", "gov", "io", "co", "uk", "de", "fr", "info", "biz", "us", "ca", "au", "ai")
TOKEN_COST = 0.1


def token() -> pynini.Fst:
    """One spoken token -> its written characters: a word/letter as is, a digit word as the digit."""
    plain = pynini.difference(pynini.closure(pynini.union(LOWER, DIGIT), 1), pynini.union(*RESERVED))
    return pynini.union(add_weight(plain, TOKEN_COST), add_weight(digit_or_oh(), TOKEN_COST / 2)).optimize()


def run() -> pynini.Fst:
    """Tokens separated by spaces, joined with nothing: "j o h n" -> "john", "john one" -> "john1".

    At most one whole word a run: two words are never one label ("dot com today" is not
    ".comtoday"), while spelled letters and digits join freely.
    """
    t = token()
    single = pynini.union(t @ pynini.union(LOWER, DIGIT)).optimize()
    singles = pynini.closure(delete(" ") + single)
    one_word = pynini.closure(single + delete(" ")) + t + singles
    return pynini.union(single + singles, one_word).optimize()


def separator(*names: str) -> pynini.Fst:
    """" dot " -> ".", etc. (the surrounding spaces are spoken, not written)."""
    written = {"dot": ".", "at": "@", "dash": "-", "hyphen": "-", "underscore": "_", "slash": "/", "colon": ":"}
    options = [cross(f" {n} ", written[n]) if n != "hyphen" else add_weight(cross(" hyphen ", "-"), VARIANT) for n in names]
    return pynini.union(*options).optimize()


def _dotted(parts: pynini.Fst, min_dots: int) -> pynini.Fst:
    return (parts + pynini.closure(separator("dot") + parts, min_dots)).optimize()


def canonical_run() -> pynini.Fst:
    """Spoken -> written runs as a verbalizer should say them: each maximal letter run as one word
    (or, at a cost, spelled letter by letter), each digit as its word ("john123" <- "john one two three")."""
    letters = pynini.closure(LOWER, 1)
    spelled = LOWER + pynini.closure(delete(" ") + LOWER)
    letter_run = pynini.union(letters, add_weight(spelled, VARIANT))
    digit_words = string_map({w: str(i) for i, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])})
    digit_run = digit_words + pynini.closure(delete(" ") + digit_words)
    sep = delete(" ")
    from_letters = letter_run + pynini.closure(sep + digit_run + sep + letter_run) + pynini.closure(sep + digit_run, 0, 1)
    from_digits = digit_run + pynini.closure(sep + letter_run + sep + digit_run) + pynini.closure(sep + letter_run, 0, 1)
    return pynini.union(from_letters, from_digits).optimize()


def email(run_fst: pynini.Fst) -> pynini.Fst:
    """"john dot smith at gmail dot com" -> "john.smith@gmail.com"."""
    local = run_fst + pynini.closure(separator("dot", "dash", "hyphen", "underscore") + run_fst)
    domain_label = run_fst + pynini.closure(separator("dash", "hyphen") + run_fst)
    return (local + separator("at") + _dotted(domain_label, 1)).optimize()


def url(run_fst: pynini.Fst) -> pynini.Fst:
    """Web addresses with a protocol, a "www" host, or a known top-level domain."""
    protocol_word = pynini.union(
        accep("http"), accep("https"), cross("h t t p", "http"), cross("h t t p s", "https")
    )
    protocol = protocol_word + cross(" colon slash slash ", "://")
    www = pynini.union(accep("www"), cross("w w w", "www")) + separator("dot")
    label = run_fst + pynini.closure(separator("dash", "hyphen") + run_fst)
    host = _dotted(label, 1)
    tld = pynini.union(*(accep(t) for t in TLDS))
    known_tld_host = _dotted(label, 0) + separator("dot") + tld
    path = pynini.closure(separator("slash") + label)
    with_protocol = protocol + pynini.closure(www, 0, 1) + host + path
    with_www = www + host + path
    bare = known_tld_host + path
    return pynini.union(with_protocol, with_www, add_weight(bare, VARIANT)).optimize()


def build_normalizer() -> pynini.Fst:
    """Spoken e-mail address or URL -> written."""
    return finalize(pynini.union(email(run()), url(run())))


def build_verbalizer(normalizer: pynini.Fst | None = None) -> pynini.Fst:
    """Written e-mail address or URL -> spoken ("a@b.com" -> "a at b dot com").

    Not the plain inverse of the normalizer, which would also split words at any letter
    ("jo hn"): words are said whole or spelled out, digits one by one. ``normalizer`` is
    accepted for a uniform signature and not used.
    """
    run_fst = canonical_run()
    return finalize(pynini.invert(pynini.union(email(run_fst), url(run_fst))))
