"""What a model's ``objectives`` returns: named loss terms with their weights, for the training loop.

The loop knows no term by name: it backpropagates ``LossTerms.total()`` and logs
``LossTerms.per_unit()`` under each name. A model with more terms (SURT's per-channel and mask
losses, an internal-LM cross-entropy, CTC) adds entries; the loop does not change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass
class Objective:
    """One loss term of a batch.

    ``value`` is a scalar summed over the batch (not normalised); the loss is ``weight * value``
    divided by ``normalizer``, or by ``LossTerms.normalizer`` when it is None (the usual case: every
    term of the transducer is per encoder frame). A term with its own normalizer (an internal-LM
    loss per token, say) is divided by it separately.
    """

    value: Tensor
    weight: float
    normalizer: float | None = None


@dataclass
class LossTerms:
    """A batch's loss terms (``terms``, summed into the loss) and ``metrics`` (logged, not trained).

    ``normalizer`` is the batch size in the unit the loss is reported in (valid encoder frames for
    the transducer); the loop also weights batches by it when it averages losses over many batches.
    """

    terms: dict[str, Objective]
    normalizer: float
    metrics: dict[str, Objective] = field(default_factory=dict)

    def __post_init__(self) -> None:
        both = sorted(set(self.terms) & set(self.metrics))
        if both:
            raise ValueError(f"{both}: a name is either a loss term or a metric, not both")

    def total(self) -> Tensor:
        """The loss to backpropagate: the weighted terms, each divided by its normalizer."""
        if not self.terms:
            raise ValueError("a model's objectives returned no loss terms")
        shared: Tensor | None = None
        own: Tensor | None = None
        # Shared-normalizer terms are summed first and divided once, in insertion order, so the
        # transducer's loss is computed with exactly the float operations it always was.
        for term in self.terms.values():
            weighted = term.weight * term.value
            if term.normalizer is None:
                shared = weighted if shared is None else shared + weighted
            else:
                scaled = weighted / max(term.normalizer, 1.0)
                own = scaled if own is None else own + scaled
        total = shared / max(self.normalizer, 1.0) if shared is not None else None
        if own is not None:
            total = own if total is None else total + own
        assert total is not None
        return total

    def per_unit(self) -> dict[str, float]:
        """Every term and metric, unweighted, divided by its normalizer: what the logs show by name."""
        out = {}
        for name, term in {**self.terms, **self.metrics}.items():
            norm = self.normalizer if term.normalizer is None else term.normalizer
            out[name] = float(term.value.detach()) / max(norm, 1.0)
        return out
