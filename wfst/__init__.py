"""WFST grammars (pynini) and graph building."""
