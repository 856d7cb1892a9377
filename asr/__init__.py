"""asr: streaming transducer speech recognition in pure PyTorch.

Subpackages by domain: ``audio``, ``features``, ``data``, ``corpora``, ``text``,
``models``, ``losses``, ``training``, ``decoding``, ``scoring``, ``itn``, ``server``.
"""

__version__ = "0.1.0"
