"""Whitelist: fixed spoken -> written pairs, mostly titles ("doctor" -> "Dr.", "mister" -> "Mr.").

The words are ambiguous out of context ("doctor" the noun, "saint" the adjective); the tagger
decides which occurrences are titles and only those spans reach this grammar. A user whitelist
file (``spoken<TAB>written`` lines) adds pairs and replaces built-in pairs with the same spoken side.
"""

from __future__ import annotations

import pynini

from wfst.itn.common import VARIANT, add_weight, cross, finalize, inverted

# spoken -> written; the first spoken form listed for a written form is its canonical reading.
BUILTIN: dict[str, str] = {
    "mister": "Mr.",
    "missus": "Mrs.",
    "misses": "Mrs.",
    "miss": "Miss",
    "miz": "Ms.",
    "doctor": "Dr.",
    "saint": "St.",
    "mount": "Mt.",
    "reverend": "Rev.",
    "the reverend": "the Rev.",
    "honorable": "Hon.",
    "professor": "Prof.",
    "junior": "Jr.",
    "senior": "Sr.",
    "captain": "Capt.",
    "colonel": "Col.",
    "general": "Gen.",
    "lieutenant": "Lieut.",
    "governor": "Gov.",
    "sergeant": "Sgt.",
    "messieurs": "Messrs.",
    "madame": "Mme.",
    "monsieur": "M.",
    "number": "No.",
    "versus": "vs.",
    "et cetera": "etc.",
    "and": "&",  # LibriTTS: "Smith & Co." (76 spans); only a tagger that sees the context may use it
    "and c": "&c.",
}


def entries(user_entries: dict[str, str] | None = None) -> dict[str, str]:
    """Built-in pairs updated with the user's (same spoken side: the user's written form wins)."""
    merged = dict(BUILTIN)
    merged.update(user_entries or {})
    return merged


def _pairs_fst(pairs: dict[str, str]) -> pynini.Fst:
    seen: set[str] = set()
    arcs = []
    for spoken, written in pairs.items():
        fst = cross(spoken, written)
        arcs.append(fst if written not in seen else add_weight(fst, VARIANT))
        seen.add(written)
    return pynini.union(*arcs)


def build_normalizer(user_entries: dict[str, str] | None = None) -> pynini.Fst:
    """Spoken title word(s) -> abbreviation."""
    return finalize(_pairs_fst(entries(user_entries)))


def build_verbalizer(user_entries: dict[str, str] | None = None, normalizer: pynini.Fst | None = None) -> pynini.Fst:
    """Abbreviation -> spoken word(s); the first listed spoken form is preferred."""
    return finalize(inverted(normalizer, lambda: _pairs_fst(entries(user_entries))))
