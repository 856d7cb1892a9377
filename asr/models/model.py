"""``Transducer``: encoder + predictor + joiner (+ CTC head), trained with the pruned RNN-T loss.

Extension points (for SURT, an EOS token, ILM adaptation) are plain attributes and methods:
``encoder``, ``predictor``, ``joiner`` and ``ctc`` can be swapped or wrapped, ``encode`` and
``transducer_losses`` are separate so a model with several output branches (SURT) runs
``transducer_losses`` per branch on its own encoder outputs, and ``internal_lm_logits`` gives the
joiner output with the encoder contribution removed (the ILM estimate).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from asr import losses
from asr.errors import TokenizerError
from asr.models.config import ModelConfig
from asr.models.ctc import CtcHead
from asr.models.predictor import Predictor, build_predictor, reset_context
from asr.models.encoder import Encoder
from asr.models.joiner import Joiner


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
        self.joiner = Joiner(config.encoder_dim, config.decoder_dim, config.joiner_dim, config.vocab_size)
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
                utterance_ids: Sequence[str] | None = None) -> dict[str, Tensor]:
        """Training losses.

        Args:
          features: (N, T, F); feature_lens: (N,); targets: N token-id lists (no blanks).
          prune_range: s_range of the pruned loss; am_scale/lm_scale: smoothing of the simple loss;
          delay_penalty: latency penalty (k2's ``delay_penalty``);
          chunk_size/left_context: attention chunking (dynamic chunk training samples them).
        Returns:
          ``{"simple", "pruned"[, "ctc"]}`` summed over the batch (not normalised) and
          ``"num_frames"``: the total number of valid encoder frames, to normalise by.
        """
        encoder_out, encoder_lens = self.encode(features, feature_lens, chunk_size, left_context)
        self.validate_targets(targets, encoder_lens, utterance_ids)
        result = self.transducer_losses(encoder_out, encoder_lens, targets, prune_range, am_scale, lm_scale, delay_penalty)
        if self.ctc is not None:
            y, y_lens = pad_targets(targets, self.blank_id, features.device)
            result["ctc"] = self.ctc.loss(self.ctc(encoder_out), encoder_lens, y, y_lens)
        result["num_frames"] = encoder_lens.sum()
        return result

    def transducer_losses(self, encoder_out: Tensor, encoder_lens: Tensor, targets: Sequence[Sequence[int]],
                          prune_range: int = 5, am_scale: float = 0.0, lm_scale: float = 0.0,
                          delay_penalty: float = 0.0) -> dict[str, Tensor]:
        """Simple + pruned RNN-T losses (summed) of one output branch. encoder_out: (N, T, C)."""
        device = encoder_out.device
        y, y_lens = pad_targets(targets, self.blank_id, device)  # (N, U)
        sos_y = torch.cat([torch.full_like(y[:, :1], self.blank_id), y], dim=1)  # (N, U + 1)
        if self.training and self.config.predictor_context_reset > 0:
            resets = torch.rand(sos_y.shape, device=device) < self.config.predictor_context_reset
            sos_y = reset_context(sos_y, resets, self.config.context_size, self.blank_id)
        decoder_out = self.predictor(sos_y)  # (N, U + 1, D)
        boundary = torch.zeros(y.size(0), 4, dtype=torch.int64, device=device)
        boundary[:, 2] = y_lens
        boundary[:, 3] = encoder_lens
        rnnt_type = self.config.rnnt_type

        simple_loss, (px_grad, py_grad) = losses.rnnt_loss_smoothed(
            lm=self.simple_lm_proj(decoder_out).float(), am=self.simple_am_proj(encoder_out).float(),
            symbols=y, termination_symbol=self.blank_id, lm_only_scale=lm_scale, am_only_scale=am_scale,
            boundary=boundary, rnnt_type=rnnt_type, reduction="sum", return_grad=True, delay_penalty=delay_penalty,
        )
        ranges = losses.get_rnnt_prune_ranges(px_grad=px_grad, py_grad=py_grad, boundary=boundary, s_range=prune_range)
        am_pruned, lm_pruned = losses.do_rnnt_pruning(
            am=self.joiner.project_encoder(encoder_out), lm=self.joiner.project_decoder(decoder_out), ranges=ranges)
        logits = self.joiner(am_pruned, lm_pruned)  # (N, T, s_range, V)
        pruned_loss = losses.rnnt_loss_pruned(
            logits=logits.float(), symbols=y, ranges=ranges, termination_symbol=self.blank_id, boundary=boundary,
            rnnt_type=rnnt_type, reduction="sum", delay_penalty=delay_penalty,
        )
        return {"simple": simple_loss, "pruned": pruned_loss}

    def internal_lm_logits(self, decoder_out: Tensor) -> Tensor:
        """ILM estimate: joiner logits with the encoder contribution removed. (..., D) -> (..., V)."""
        return self.joiner.output_without_encoder(self.joiner.project_decoder(decoder_out))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
