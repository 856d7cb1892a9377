"""ILME fusion (internal LM estimation, icefall's ``--ilme-scale``): shallow fusion that also
subtracts ``ilme_scale`` times the transducer's own internal-LM log-prob, registered as
``modified_beam_search_ilme``.

    token score = log p_transducer(y) + lm_scale * log p_LM(y | y_<u) - ilme_scale * log p_ILM(y | y_<u)

The ILM is ``Transducer.internal_lm_log_probs`` (the joiner on the hypothesis' predictor output
with the encoder contribution removed, log-softmax over the non-blank tokens), computed from the
projected predictor output the search already holds. The blank keeps the transducer's score.
With both scales 0 the search is ``modified_beam_search`` exactly. Options: ``lm``, ``lm_scale``,
``ilme_scale``,
``max_sym_per_frame``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from asr.decoding.beam_search import TokenScorer
from asr.decoding.hypothesis import Hypothesis
from asr.decoding.lm_shallow_fusion import FusionSearch, ShallowFusionOptions
from asr.decoding.search import register_search
from asr.models.model import Transducer


@dataclass(frozen=True)
class IlmeFusionOptions(ShallowFusionOptions):
    """Shallow fusion's options, and ilme_scale: weight of the subtracted internal LM."""

    ilme_scale: float = 0.1


@register_search("modified_beam_search_ilme")
class IlmeFusion(FusionSearch):
    """Shallow fusion minus ``ilme_scale`` x the internal LM."""

    options_type = IlmeFusionOptions

    def fusion_scores(self, model: Transducer, config: IlmeFusionOptions) -> TokenScorer:  # type: ignore[override]
        lm_scores = super().fusion_scores(model, config)  # type: ignore[arg-type]
        scale, blank = config.ilme_scale, model.blank_id

        def scores(hyps: list[Hypothesis], decoder_out: Tensor) -> Tensor:
            ilm = model.internal_lm_log_probs(decoder_out, projected=True)  # (H, V), blank -inf
            ilm[:, blank] = 0.0  # the blank is not an LM event
            return lm_scores(hyps, decoder_out) - scale * ilm

        return scores
