"""English inverse text normalization grammars (pynini), one module per category.

``GrammarSet.load()`` compiles or reads from the disk cache every category's normalizer
(spoken -> written) and verbalizer (written -> spoken). See README.md for the conventions.
"""

from wfst.itn.registry import CATEGORIES, GrammarSet, read_whitelist_file

__all__ = ["CATEGORIES", "GrammarSet", "read_whitelist_file"]
