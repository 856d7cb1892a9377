"""Hybrid (WFST) first pass: lexicon lang dirs, n-gram G, and HLG decoding graphs (kaldifst)."""
