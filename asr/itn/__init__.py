"""Inverse text normalization: a streaming transformer tagger picks spans, category WFSTs convert them.

``from asr.itn import InverseTextNormalizer``; ``InverseTextNormalizer()("on march third")``.
"""

from asr.itn.normalizer import PRETRAINED_TAGGER, InverseTextNormalizer, ItnSpan, ItnStyle, StreamingItn
from asr.itn.tagger import Tagger, TaggerConfig

__all__ = ["InverseTextNormalizer", "ItnSpan", "ItnStyle", "StreamingItn", "Tagger", "TaggerConfig", "PRETRAINED_TAGGER"]
