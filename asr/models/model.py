"""``Transducer``: encoder + predictor + joiner (+ CTC head), trained with the pruned RNN-T loss.

Extension points (for SURT, an EOS token, ILM adaptation) are plain attributes and methods:
``encoder``, ``predictor``, ``joiner`` and ``ctc`` can be swapped or wrapped, ``encode`` and
``transducer_losses`` are separate so a model with several output branches (SURT) runs
``transducer_losses`` per branch on its own encoder outputs, and ``internal_lm_logits`` gives the
joiner output with the encoder contribution removed (the ILM estimate). ``objectives`` is what
training calls: it names and weighs the loss terms, so a model with other terms overrides it and
the training loop stays as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from asr import losses
from asr.errors import TokenizerError
from asr.models.config import ModelConfig
from asr.models.ctc import CtcHead
from asr.models.predictor import Predictor, build_predictor, reset_context
from asr.models.encoder import Encoder
from asr.models.joiner import FactorizedJoiner, Joiner
from asr.models.objectives import LossTerms, Objective

if TYPE_CHECKING:  # the training config's loss section; models do not import training at run time
    from asr.training.config import LossConfig


def pad_targets(targets: Sequence[Sequence[int]], pad_id: int, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """Token lists -> ((N, U_max) padded int64, (N,) lengths)."""
    lengths = torch.tensor([len(t) for t in targets], dtype=torch.int64)
    padded = torch.full((len(targets), int(lengths.max()) if len(targets) else 0), pad_id, dtype=torch.int64)
    for i, t in enumerate(targets):
        padded[i, : len(t)] = torch.as_tensor(list(t), dtype=torch.int64)
    return padded.to(device), lengths.to(device)


class Transducer(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.predictor: Predictor = build_predictor(config)
        if config.factorized_joiner:
            self.joiner: Joiner = FactorizedJoiner(config.encoder_dim, config.decoder_dim, config.joiner_dim,
                                                   config.vocab_size, hat=config.hat_joiner, blank_id=config.blank_id,
                                                   lm_scale=config.factorized_lm_scale)
        else:
            self.joiner = Joiner(config.encoder_dim, config.decoder_dim, config.joiner_dim, config.vocab_size,
                                 hat=config.hat_joiner, blank_id=config.blank_id)
        # the "simple" loss' linear am/lm scores (k2 pruned-RNN-T recipe)
        self.simple_am_proj = nn.Linear(config.encoder_dim, config.vocab_size)
        self.simple_lm_proj = nn.Linear(config.decoder_dim, config.vocab_size)
        self.ctc = CtcHead(config.encoder_dim, config.vocab_size, config.blank_id, config.dropout) if config.use_ctc else None

    @property
    def blank_id(self) -> int:
        return self.config.blank_id

    def encode(self, features: Tensor, feature_lens: Tensor, chunk_size: int = -1,
               left_context: int | None = None) -> tuple[Tensor, Tensor]:
        """(N, T, F) features -> ((N, T', C) encoder output, (N,) lengths).

        ``left_context=None`` uses the config's left context for chunked attention.
        """
        if left_context is None:
            left_context = self.config.left_context_frames if chunk_size > 0 else -1
        return self.encoder(features, feature_lens, chunk_size, left_context)

    def validate_targets(self, targets: Sequence[Sequence[int]], num_frames: Tensor | None = None,
                         utterance_ids: Sequence[str] | None = None) -> None:
        """Raise ``TokenizerError`` naming the utterance for an id outside [1, vocab_size) or the blank,
        or (modified topology) more tokens than encoder frames."""
        vocab = self.config.vocab_size
        for i, seq in enumerate(targets):
            name = utterance_ids[i] if utterance_ids is not None else f"utterance #{i} of the batch"
            bad = [t for t in seq if not 0 <= t < vocab or t == self.blank_id]
            if bad:
                raise TokenizerError(f"{name}: target token ids {bad[:5]} are outside the vocabulary "
                                     f"[0, {vocab}) or equal the blank id {self.blank_id}")
            if num_frames is not None and self.config.rnnt_type == "modified" and len(seq) > int(num_frames[i]):
                raise TokenizerError(f"{name}: {len(seq)} tokens do not fit into {int(num_frames[i])} encoder "
                                     "frames with the modified (one symbol per frame) topology")

    def forward(self, features: Tensor, feature_lens: Tensor, targets: Sequence[Sequence[int]],
                prune_range: int = 5, am_scale: float = 0.0, lm_scale: float = 0.0, delay_penalty: float = 0.0,
                chunk_size: int = -1, left_context: int | None = None,
                utterance_ids: Sequence[str] | None = None, internal_lm: bool = False) -> dict[str, Tensor]:
        """Training losses.

        Args:
          features: (N, T, F); feature_lens: (N,); targets: N token-id lists (no blanks).
          prune_range: s_range of the pruned loss; am_scale/lm_scale: smoothing of the simple loss;
          delay_penalty: latency penalty (k2's ``delay_penalty``);
          chunk_size/left_context: attention chunking (dynamic chunk training samples them).
          internal_lm: also return ``"ilm"``, the internal LM's cross-entropy of the targets (ILMT).
        Returns:
          ``{"simple", "pruned"[, "ctc"][, "ilm"]}`` summed over the batch (not normalised),
          ``"num_frames"``: the total number of valid encoder frames, to normalise by, and with
          ``internal_lm`` ``"num_tokens"``, the ILM term's normaliser.
        """
        encoder_out, encoder_lens = self.encode(features, feature_lens, chunk_size, left_context)
        self.validate_targets(targets, encoder_lens, utterance_ids)
        result = self.transducer_losses(encoder_out, encoder_lens, targets, prune_range, am_scale, lm_scale,
                                        delay_penalty, internal_lm=internal_lm)
        if self.ctc is not None:
            y, y_lens = pad_targets(targets, self.blank_id, features.device)
            result["ctc"] = self.ctc.loss(self.ctc(encoder_out), encoder_lens, y, y_lens)
        result["num_frames"] = encoder_lens.sum()
        return result

    def objectives(self, batch: Mapping[str, Any], loss: LossConfig, step: int | None,
                   chunk_size: int = -1) -> LossTerms:
        """The weighted loss terms of one training batch: ``simple``, ``pruned`` and, with a CTC head, ``ctc``.

        Args:
          batch: ``asr.training.dataset.AsrDataset``'s batch: ``features`` (N, T, F) and
            ``feature_lens`` (N,) on the model's device, ``targets`` (N token-id lists) and ``cut_ids``.
          loss: the training config's loss section (scales, warm-up, prune range, smoothing).
          step: optimizer steps taken so far, for the warm-up; None (validation) gives the weights
            after warm-up.
          chunk_size: attention chunk in encoder frames (-1: full context).
        Returns:
          terms normalised by the number of valid encoder frames. The CTC loss is a metric
          (logged, not trained) while ``ctc_scale`` is 0.
        """
        ilm_scale = getattr(loss, "ilm_loss_scale", 0.0)
        out = self(batch["features"], batch["feature_lens"], batch["targets"], chunk_size=chunk_size,
                   utterance_ids=batch["cut_ids"], prune_range=loss.prune_range, lm_scale=loss.lm_scale,
                   am_scale=loss.am_scale, internal_lm=ilm_scale > 0)
        simple_scale, pruned_scale = warmup_scales(loss, step)
        terms = {"simple": Objective(out["simple"], simple_scale), "pruned": Objective(out["pruned"], pruned_scale)}
        metrics = {}
        if "ctc" in out:
            (terms if loss.ctc_scale > 0 else metrics)["ctc"] = Objective(out["ctc"], loss.ctc_scale)
        if "ilm" in out:
            # per target token, not per frame: it is a language-model cross-entropy
            terms["ilm"] = Objective(out["ilm"], ilm_scale, normalizer=max(float(out["num_tokens"]), 1.0))
        return LossTerms(terms, normalizer=float(out["num_frames"]), metrics=metrics)

    def transducer_losses(self, encoder_out: Tensor, encoder_lens: Tensor, targets: Sequence[Sequence[int]],
                          prune_range: int = 5, am_scale: float = 0.0, lm_scale: float = 0.0,
                          delay_penalty: float = 0.0, internal_lm: bool = False, eos_penalty: float = 0.0,
                          eos_id: int | None = None, eos_window: losses.EosWindow | None = None) -> dict[str, Tensor]:
        """Simple + pruned RNN-T losses (summed) of one output branch. encoder_out: (N, T, C).

        ``eos_penalty`` with ``eos_id``: the latency penalty on the end-of-sentence token's arcs
        (``asr.losses.rnnt.add_symbol_delay_penalty``), in both losses; ``eos_window`` the
        endpoint-window penalty on them (``asr.losses.rnnt.add_symbol_window_penalty``).

        With ``internal_lm`` also ``"ilm"`` (summed ILM cross-entropy, ``internal_lm_log_probs``
        of each next target token) and ``"num_tokens"``."""
        device = encoder_out.device
        y, y_lens = pad_targets(targets, self.blank_id, device)  # (N, U)
        sos_y = torch.cat([y.new_full((y.size(0), 1), self.blank_id), y], dim=1)  # (N, U + 1); U may be 0
        if self.training and self.config.predictor_context_reset > 0:
            resets = torch.rand(sos_y.shape, device=device) < self.config.predictor_context_reset
            sos_y = reset_context(sos_y, resets, self.config.context_size, self.blank_id)
        decoder_out = self.predictor(sos_y)  # (N, U + 1, D)
        boundary = torch.zeros(y.size(0), 4, dtype=torch.int64, device=device)
        boundary[:, 2] = y_lens
        boundary[:, 3] = encoder_lens
        rnnt_type = self.config.rnnt_type

        simple_loss, (px_grad, py_grad) = losses.rnnt_loss_smoothed(
            # the blank predictor's features only: FNT's vocabulary predictor (asr.models.predictor) feeds its LM alone
            lm=self.simple_lm_proj(decoder_out[..., :self.config.decoder_dim]).float(),
            am=self.simple_am_proj(encoder_out).float(),
            symbols=y, termination_symbol=self.blank_id, lm_only_scale=lm_scale, am_only_scale=am_scale,
            boundary=boundary, rnnt_type=rnnt_type, reduction="sum", return_grad=True, delay_penalty=delay_penalty,
            eos_penalty=eos_penalty, eos_id=eos_id, eos_window=eos_window,
        )
        ranges = losses.get_rnnt_prune_ranges(px_grad=px_grad, py_grad=py_grad, boundary=boundary, s_range=prune_range)
        am_pruned, lm_pruned = losses.do_rnnt_pruning(
            am=self.joiner.project_encoder(encoder_out), lm=self.joiner.project_decoder(decoder_out), ranges=ranges)
        logits = self.joiner(am_pruned, lm_pruned)  # (N, T, s_range, V)
        pruned_loss = losses.rnnt_loss_pruned(
            logits=logits.float(), symbols=y, ranges=ranges, termination_symbol=self.blank_id, boundary=boundary,
            rnnt_type=rnnt_type, reduction="sum", delay_penalty=delay_penalty,
            eos_penalty=eos_penalty, eos_id=eos_id, eos_window=eos_window,
        )
        result = {"simple": simple_loss, "pruned": pruned_loss}
        if internal_lm:
            result["ilm"], result["num_tokens"] = self.internal_lm_loss(decoder_out[:, :-1], y, y_lens)
        return result

    def internal_lm_logits(self, decoder_out: Tensor, projected: bool = False) -> Tensor:
        """ILM estimate: joiner logits with the encoder contribution removed. (..., D) -> (..., V);
        ``projected``: ``decoder_out`` is already ``joiner.project_decoder``'s output (..., J), as
        search keeps it."""
        return self.joiner.output_without_encoder(decoder_out if projected else self.joiner.project_decoder(decoder_out))

    def internal_lm_log_probs(self, decoder_out: Tensor, projected: bool = False) -> Tensor:
        """The internal LM as a distribution over the non-blank tokens: log-softmax of
        ``internal_lm_logits`` with the blank removed (its log-prob is -inf). (..., D) -> (..., V).

        The joiner scores blank and tokens together; with the encoder removed, blank's score says
        nothing about the next token, so the ILM renormalises over the others (Meng et al., ILMT)."""
        logits = self.internal_lm_logits(decoder_out, projected).float()
        logits[..., self.blank_id] = float("-inf")
        return logits.log_softmax(dim=-1)

    def internal_lm_loss(self, decoder_out: Tensor, y: Tensor, y_lens: Tensor) -> tuple[Tensor, Tensor]:
        """Summed ILM cross-entropy of the targets and their count.

        decoder_out: (N, U, D), the predictor output before each target token (start context first);
        y: (N, U) padded targets; y_lens: (N,).
        """
        log_probs = self.internal_lm_log_probs(decoder_out)  # (N, U, V)
        mask = torch.arange(y.size(1), device=y.device)[None, :] < y_lens[:, None]
        token_log_probs = log_probs.gather(-1, y.clamp(min=0)[..., None])[..., 0]
        return -token_log_probs.masked_fill(~mask, 0.0).sum(), y_lens.sum()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def warmup_scales(loss: LossConfig, step: int | None) -> tuple[float, float]:
    """(simple, pruned) loss weights after ``step`` optimizer steps; None: after warm-up.

    icefall's warm-up: lean on the simple loss first (weight 1), bring the pruned loss in from a
    tenth of its weight, both reaching the configured scales at ``warm_step``.
    """
    if step is None or loss.warm_step <= 0:
        warm = 1.0
    else:
        warm = min(1.0, step / loss.warm_step)
    return 1.0 - warm * (1.0 - loss.simple_scale), loss.pruned_scale * (0.1 + 0.9 * warm)
