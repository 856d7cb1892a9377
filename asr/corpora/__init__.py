"""Corpus preparation, one module per corpus (like lhotse.recipes).

Each module has ``download(target_dir) -> Path`` and ``prepare(corpus_dir, output_dir, ...) ->
dict[str, CutSet]`` and a thin CLI: ``python -m asr.corpora.<name> download|prepare ...``.
``mixtures`` simulates two-talker mixtures from any single-talker CutSet.
"""
