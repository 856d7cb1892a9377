"""Shallow fusion in modified beam search: each non-blank token's transducer log-prob plus
``lm_scale`` times an external token LM's log-prob (icefall's
``modified_beam_search_lm_shallow_fusion``), registered as ``modified_beam_search_lm_shallow_fusion``.

    score(y_1..u) = sum over frames of log p_transducer + lm_scale * sum_u log p_LM(y_u | y_<u)

The LM is a token-level n-gram (``asr.lm.token_lm``; ``python -m asr.lm.train_token_lm`` writes
one), scored from each hypothesis' token ids, so the search state is modified beam search's own
(``BeamSearchState``) and streaming, batching and ``new_segment`` work unchanged (a new segment
restarts the LM at ``<s>``, as its tokens are cleared). No end-of-sentence score is added. The
blank keeps the transducer's score. With ``lm_scale=0`` the search is ``modified_beam_search``
exactly. Options (``--method-option KEY=VALUE``): ``lm`` (the ARPA path, required), ``lm_scale``,
``max_sym_per_frame``.
Loaded LMs are kept per (path, size, mtime), so a stream does not reload its LM every chunk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from asr.decoding.beam_search import BeamSearchOptions, BeamSearchState, TokenScorer, init_beams, modified_beam_search_step
from asr.decoding.hypothesis import Hypothesis
from asr.decoding.search import SearchMethod, SearchState, register_search
from asr.lm.token_lm import TokenNgramLM
from asr.models.model import Transducer

if TYPE_CHECKING:
    from asr.decoding.options import DecodingOptions


@dataclass(frozen=True)
class ShallowFusionOptions(BeamSearchOptions):
    """lm: token-level ARPA LM of the model's tokens; lm_scale: weight of its log-probs; and
    ``max_sym_per_frame`` of :class:`BeamSearchOptions`."""

    lm: str = ""
    lm_scale: float = 0.3


class FusionSearch(SearchMethod):
    """Modified beam search with ``fusion_scores`` added to each frame's token log-probs."""

    options_type: type | None = ShallowFusionOptions

    def __init__(self) -> None:
        self._lms: dict[tuple[str, int, int, int], TokenNgramLM] = {}

    def load_lm(self, path: str, vocab_size: int, blank_id: int) -> TokenNgramLM:
        """The token LM at ``path`` (cached while the file is unchanged); errors name the method and the file."""
        if not path:
            raise ValueError(f"decoding method {self.name!r} needs --method-option lm=PATH (a token LM from "
                             "python -m asr.lm.train_token_lm)")
        try:
            stat = os.stat(path)
        except OSError:
            raise FileNotFoundError(f"decoding method {self.name!r}: LM file {path} not found") from None
        key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, vocab_size)
        lm = self._lms.get(key)
        if lm is None:
            lm = TokenNgramLM.load(path, vocab_size, blank_id)
            self._lms = {k: v for k, v in self._lms.items() if k[0] != key[0]}  # drop older versions of the file
            self._lms[key] = lm
        return lm

    def fusion_scores(self, model: Transducer, config: ShallowFusionOptions) -> TokenScorer:
        lm = self.load_lm(config.lm, model.config.vocab_size, model.blank_id)
        scale = config.lm_scale

        def scores(hyps: list[Hypothesis], decoder_out: Tensor) -> Tensor:
            lm_rows = torch.stack([lm.log_probs(h.tokens) for h in hyps]).to(decoder_out.device)
            return scale * lm_rows  # the LM's blank column is 0

        return scores

    def init_state(self, model: Transducer, batch_size: int, device: torch.device | str = "cpu") -> BeamSearchState:
        return BeamSearchState(init_beams(model, batch_size, device), [0] * batch_size)

    def step(self, model: Transducer, encoder_out: Tensor, encoder_out_lens: Tensor, state: SearchState,
             options: "DecodingOptions") -> BeamSearchState:
        assert isinstance(state, BeamSearchState)
        config = options.method_config
        return modified_beam_search_step(model, encoder_out, encoder_out_lens, state, options.beam,
                                         token_scores=self.fusion_scores(model, config),
                                         max_sym_per_frame=config.max_sym_per_frame)


@register_search("modified_beam_search_lm_shallow_fusion")
class LmShallowFusion(FusionSearch):
    """Modified beam search + ``lm_scale`` x a token n-gram's log-probs."""
