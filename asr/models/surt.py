"""SURT: Streaming Unmixing and Recognition Transducer (two talkers, ``<eos>`` endpointing).

A ``MaskEstimator`` (asr/models/unmixing.py, a causal DPRNN) turns the mixture's fbank
``x (N, T, F)`` into C masks; the masked features (``m_c * x``, or ``x + log m_c`` with
``unmix_mask_domain="log"``) are stacked on the batch axis,
stream-major (row ``n * C + c`` is stream n's channel c), and go through the transducer's one
shared encoder, predictor and joiner (with ``channel_joint_layer`` a per-frame linear layer across
the channels' encoder outputs follows). Everything downstream of the masks is ``Transducer``'s, so
every search method runs on SURT's ``(N * C, T', D)`` encoder output as on N * C utterances.

Training (``objectives``): the pruned RNN-T loss of every channel against its HEAT target
(``asr.data.heat``: each utterance followed by ``<eos>``), summed over the channels, with
icefall's simple/pruned warm-up; with ``LossConfig.eos_penalty`` the latency penalty on the
``<eos>`` arcs (``asr.losses.rnnt.add_symbol_delay_penalty``), with ``eos_window_penalty`` the
endpoint window around each sentence's end (``add_symbol_window_penalty``); a CTC term per channel
(``ctc_scale``) with a CTC head; and, when a batch carries ``source_features`` (N, C, T, F) (the
unmixed sources in HEAT order), the masked features' MSE against them, floored below the mixture
(``mask_loss_scale``, a warm-up aid as in icefall; summed over bins, per frame). With
``LossConfig.unmixer_only`` the mask loss is all there is and the recognizer is not run: the mask
estimator pretrains on the separation alone, the step before joint training.

``<eos>`` in the targets from the first step kept the model on the blank plateau, and a plain
transducer too (single-talker FSDD strings: dev loss 0.51 at epoch 7 with ``<eos>``, 0.11
without; docs/surt.md). A SURT model is therefore trained without it first (``eos_id=-1``) and
fine-tuned with it (``init_from`` may change ``eos_id``: asr/training/loop.py), as egs/fsdd_mix does.

Streaming (``init_states`` / ``infer``): ``SurtState`` = the mask estimator's ``UnmixState``
(batch N) and the encoder's ``EncoderState`` (batch N * C, stream-major), so the state of one
stream is rows n of the first and rows n*C..n*C+C-1 of the second. ``infer`` on chunks of a
whole number of mask segments equals ``forward_encoder`` with the same chunk size (tested).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from asr.losses import EosWindow
from asr.models.config import ModelConfig
from asr.models.encoder import EncoderState
from asr.models.model import Transducer, pad_targets, warmup_scales
from asr.models.objectives import LossTerms, Objective
from asr.models.state import NestedState
from asr.models.unmixing import MaskEstimator, UnmixState

if TYPE_CHECKING:
    from asr.training.config import LossConfig

#: The mask loss's target is the source floored this far (nats of log-mel) below the mixture.
MASK_TARGET_RANGE = 10.0


@dataclass
class SurtState(NestedState):
    """Streaming state of N SURT streams: ``unmix`` (batch N) and ``encoder`` (batch N * C,
    stream-major). ``flatten`` is the unmix tensors, then the encoder's."""

    unmix: UnmixState
    encoder: EncoderState
    num_channels: int

    @classmethod
    def stack(cls, states: Sequence["SurtState"]) -> "SurtState":  # type: ignore[override]
        if not states:
            raise ValueError("cannot stack an empty list of states")
        return SurtState(UnmixState.stack([s.unmix for s in states]), EncoderState.stack([s.encoder for s in states]),
                         states[0].num_channels)

    @property
    def batch_size(self) -> int:
        return self.unmix.batch_size

    def unstack(self) -> list["SurtState"]:
        c = self.num_channels
        encoders = self.encoder.unstack()
        return [SurtState(u, EncoderState.stack(encoders[i * c:(i + 1) * c]), c) for i, u in enumerate(self.unmix.unstack())]

    def select(self, index: Tensor) -> "SurtState":
        rows = (index[:, None] * self.num_channels + torch.arange(self.num_channels, device=index.device)).reshape(-1)
        return SurtState(self.unmix.select(index), self.encoder.select(rows), self.num_channels)

    def scatter(self, index: Tensor, update: "SurtState") -> "SurtState":  # type: ignore[override]
        rows = (index[:, None] * self.num_channels + torch.arange(self.num_channels, device=index.device)).reshape(-1)
        return SurtState(self.unmix.scatter(index, update.unmix), self.encoder.scatter(rows, update.encoder),
                         self.num_channels)


class SurtModel(Transducer):
    """``Transducer`` with a mask-estimation front end and ``config.num_channels`` output channels."""

    def __init__(self, config: ModelConfig) -> None:
        if config.architecture != "surt":
            raise ValueError(f"SurtModel needs architecture='surt', got {config.architecture!r}")
        super().__init__(config)
        self.unmixer = MaskEstimator(config.feature_dim, config.unmix_dim, config.unmix_blocks,
                                     config.unmix_segment_frames, config.num_channels, config.unmix_mask_domain)
        c, d = config.num_channels, config.encoder_dim
        self.channel_joint = nn.Linear(c * d, c * d) if config.channel_joint_layer else None
        self.channel_embedding = nn.Parameter(torch.randn(c, d)) if config.channel_embedding else None
        #: training only: augmentation of the masked channels (N * C, T, F) before the encoder,
        #: after the mask loss (the training loop sets it: data.spec_augment.apply_to "channels")
        self.channel_augment: Callable[[Tensor], Tensor] | None = None

    def join_channels(self, encoder_out: Tensor) -> Tensor:
        """The optional channel embedding and joint layer: (N * C, T, D) stream-major -> the same,
        each frame of channel c plus its embedding, then plus a linear map of all channels' frames
        at that time (per frame: streams as is)."""
        nc, t, d = encoder_out.shape
        c = self.num_channels
        if self.channel_embedding is not None:
            encoder_out = encoder_out + self.channel_embedding.repeat(nc // c, 1)[:, None, :]
        if self.channel_joint is None:
            return encoder_out
        frames = encoder_out.reshape(nc // c, c, t, d).permute(0, 2, 1, 3).reshape(nc // c, t, c * d)
        mixed = self.channel_joint(frames).reshape(nc // c, t, c, d).permute(0, 2, 1, 3).reshape(nc, t, d)
        return encoder_out + mixed

    @property
    def num_channels(self) -> int:
        return self.config.num_channels

    @property
    def eos_id(self) -> int | None:
        return self.config.eos_id if self.config.eos_id >= 0 else None

    def unmix(self, features: Tensor, feature_lens: Tensor) -> tuple[Tensor, Tensor]:
        """(N, T, F) -> (masked features (N * C, T, F) stream-major, lengths (N * C,))."""
        masks = self.unmixer(features, feature_lens)  # (N, C, T, F)
        n, c, t, f = masks.shape
        return self.unmixer.apply(masks, features).reshape(n * c, t, f), feature_lens.repeat_interleave(c)

    def forward_encoder(self, features: Tensor, feature_lens: Tensor, chunk_size: int = -1,
                        left_context: int | None = None) -> tuple[Tensor, Tensor]:
        """Mixture (N, T, F) -> ((N * C, T', D) encoder output of every channel, (N * C,) lengths)."""
        masked, lens = self.unmix(features, feature_lens)
        out, out_lens = self.encode(masked, lens, chunk_size, left_context)
        return self.join_channels(out), out_lens

    def forward(self, features: Tensor, feature_lens: Tensor, channel_targets: Sequence[Sequence[Sequence[int]]],  # type: ignore[override]
                prune_range: int = 5, am_scale: float = 0.0, lm_scale: float = 0.0, eos_penalty: float = 0.0,
                chunk_size: int = -1, left_context: int | None = None, utterance_ids: Sequence[str] | None = None,
                source_features: Tensor | None = None, end_times: Sequence[Sequence[Sequence[float]]] | None = None,
                eos_window: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> dict[str, Tensor]:
        """Training losses of a mixture batch, summed over streams and channels.

        Args:
          features: (N, T, F) mixtures; feature_lens: (N,).
          channel_targets: N lists of C token-id lists (HEAT, ``<eos>`` after each utterance).
          eos_penalty: latency penalty on ``config.eos_id``'s arcs (0: off).
          source_features: optional (N, C, T, F) sources in channel order, for the mask loss.
          end_times: N lists of C lists of seconds, the end of speech of each ``<eos>``'s sentence
            (``asr.data.heat.channel_end_times``); needed by ``eos_window``.
          eos_window: ``(penalty, start_s, end_s)``, the endpoint-window penalty on the ``<eos>``
            arcs (``asr.losses.rnnt.add_symbol_window_penalty``); penalty 0: off.
        Returns:
          ``simple``, ``pruned`` [, ``ctc``] [, ``mask``] sums and ``num_frames`` (valid encoder
          frames of all channels).
        """
        c = self.num_channels
        if len(channel_targets) != features.size(0) or any(len(t) != c for t in channel_targets):
            raise ValueError(f"channel_targets must hold {c} token lists for each of the {features.size(0)} mixtures")
        targets = [list(t) for per_stream in channel_targets for t in per_stream]  # stream-major, as the encoder rows
        names = None if utterance_ids is None else [f"{u} channel {k}" for u in utterance_ids for k in range(c)]
        masked, masked_lens = self.unmix(features, feature_lens)  # (N * C, T, F)
        augmented = self.channel_augment(masked) if self.training and self.channel_augment is not None else masked
        encoder_out, encoder_lens = self.encode(augmented, masked_lens, chunk_size, left_context)
        encoder_out = self.join_channels(encoder_out)
        self.validate_targets(targets, encoder_lens, names)
        if eos_penalty != 0.0 and self.eos_id is None:
            raise ValueError("eos_penalty needs a model with an <eos> token (config.eos_id)")
        window = None
        if eos_window[0] != 0.0:
            window = self.eos_window_of(targets, end_times, eos_window, names, features.device)
        result = self.transducer_losses(encoder_out, encoder_lens, targets, prune_range, am_scale, lm_scale,
                                        eos_penalty=eos_penalty, eos_id=self.eos_id, eos_window=window)
        if self.ctc is not None:
            y, y_lens = pad_targets(targets, self.blank_id, features.device)
            result["ctc"] = self.ctc.loss(self.ctc(encoder_out), encoder_lens, y, y_lens)
        if source_features is not None:
            result.update(self.mask_loss(features, feature_lens, masked, source_features))
        result["num_frames"] = encoder_lens.sum()
        return result

    def eos_window_of(self, targets: Sequence[Sequence[int]], end_times: Sequence[Sequence[Sequence[float]]] | None,
                      window: tuple[float, float, float], names: Sequence[str] | None, device: torch.device
                      ) -> EosWindow:
        """The batch's ``EosWindow``: each ``<eos>`` position of the stream-major ``targets`` gets
        its sentence's end in encoder frames (seconds / ``config.frame_shift_s``)."""
        if self.eos_id is None:
            raise ValueError("eos_window needs a model with an <eos> token (config.eos_id)")
        if end_times is None:
            raise ValueError("eos_window needs the end of each sentence (the batch's 'channel_end_times')")
        ends = [list(t) for per_stream in end_times for t in per_stream]
        if len(ends) != len(targets):
            raise ValueError(f"end_times must hold {self.num_channels} lists for each mixture, as channel_targets")
        frame = self.config.frame_shift_s
        ref = torch.zeros(len(targets), max((len(t) for t in targets), default=0), dtype=torch.float32)
        for row, (tokens, times) in enumerate(zip(targets, ends)):
            positions = [i for i, tok in enumerate(tokens) if tok == self.eos_id]
            if len(positions) != len(times):
                where = names[row] if names is not None else f"row {row}"
                raise ValueError(f"{where}: {len(positions)} <eos> in the target but {len(times)} end times")
            for i, seconds in zip(positions, times):
                ref[row, i] = seconds / frame
        penalty, start, end = window
        return EosWindow(ref.to(device), penalty, start / frame, end / frame)

    def mask_loss(self, features: Tensor, feature_lens: Tensor, masked: Tensor, source_features: Tensor
                  ) -> dict[str, Tensor]:
        """The masked features' squared error against the sources, summed over bins / F and over
        the valid frames of every channel: ``mask`` and its normalizer ``num_feature_frames``.

        Args:
          features: (N, T, F) mixtures; feature_lens: (N,).
          masked: (N * C, T, F) stream-major, from ``unmix``.
          source_features: (N, C, T, F) each channel's source in HEAT order.

        The target is the source floored at ``MASK_TARGET_RANGE`` below the mixture,
        ``max(source, x - R)``: where a channel's source is silent its log-mel sits at the fbank's
        floor (about -16, and the 4-8 kHz bins of 8 kHz recordings always do), tens of nats below
        any speech; unfloored, those bins outweigh the speech the mask has to split.
        """
        n, t, f = features.shape
        c = self.num_channels
        masked = masked.reshape(n, c, t, f)
        if source_features.shape != masked.shape:
            raise ValueError(f"source_features {tuple(source_features.shape)} must be (N, C, T, F) = {tuple(masked.shape)}")
        target = torch.maximum(source_features, features[:, None] - MASK_TARGET_RANGE)
        valid = (torch.arange(t, device=features.device)[None, :] < feature_lens[:, None])[:, None, :, None]
        return {"mask": (((masked - target) ** 2) * valid).sum() / f, "num_feature_frames": feature_lens.sum() * c}

    def objectives(self, batch: Mapping[str, Any], loss: LossConfig, step: int | None,
                   chunk_size: int = -1) -> LossTerms:
        """SURT's weighted terms: ``simple`` and ``pruned`` over all channels (icefall's warm-up),
        ``ctc`` at ``ctc_scale`` (a metric while 0), ``mask`` per feature frame when the batch has
        ``source_features``, at ``mask_loss_scale`` at step 0 fading linearly to 0 at ``warm_step``
        (a warm-up aid for the masks; a metric after it and in validation). The batch needs ``channel_targets``
        (``AsrDataset(num_channels=C, eos_id=...)``)."""
        if getattr(loss, "unmixer_only", False):
            return self.unmixer_objectives(batch)
        if batch.get("channel_targets") is None:
            raise ValueError("a SURT batch needs 'channel_targets' (AsrDataset(tokenizer, num_channels=C, eos_id=...))")
        out = self(batch["features"], batch["feature_lens"], batch["channel_targets"], chunk_size=chunk_size,
                   utterance_ids=batch.get("cut_ids"), prune_range=loss.prune_range, lm_scale=loss.lm_scale,
                   am_scale=loss.am_scale, eos_penalty=getattr(loss, "eos_penalty", 0.0),
                   source_features=batch.get("source_features"), end_times=batch.get("channel_end_times"),
                   eos_window=(getattr(loss, "eos_window_penalty", 0.0), getattr(loss, "eos_window_start", 0.0),
                               getattr(loss, "eos_window_end", 0.0)))
        simple_scale, pruned_scale = warmup_scales(loss, step)
        terms = {"simple": Objective(out["simple"], simple_scale), "pruned": Objective(out["pruned"], pruned_scale)}
        metrics = {}
        if "ctc" in out:
            (terms if loss.ctc_scale > 0 else metrics)["ctc"] = Objective(out["ctc"], loss.ctc_scale)
        if "mask" in out:
            # a warm-up aid: full weight at step 0, fading to 0 at warm_step (and 0 in validation)
            fade = 0.0 if step is None or loss.warm_step <= 0 else max(0.0, 1.0 - step / loss.warm_step)
            scale = getattr(loss, "mask_loss_scale", 0.0) * fade
            (terms if scale > 0 else metrics)["mask"] = Objective(out["mask"], scale,
                                                                  normalizer=max(float(out["num_feature_frames"]), 1.0))
        return LossTerms(terms, normalizer=float(out["num_frames"]), metrics=metrics)

    def unmixer_objectives(self, batch: Mapping[str, Any]) -> LossTerms:
        """``LossConfig.unmixer_only``: the mask loss alone, at weight 1 and per feature frame of
        every channel; the recognizer is not run (it gets no gradient). Needs ``source_features``."""
        if batch.get("source_features") is None:
            raise ValueError("unmixer_only training needs the channel sources in every batch "
                             "(AsrDataset(..., source_features=True); simulate with --write-sources)")
        masked, _ = self.unmix(batch["features"], batch["feature_lens"])
        out = self.mask_loss(batch["features"], batch["feature_lens"], masked, batch["source_features"])
        return LossTerms({"mask": Objective(out["mask"], 1.0)}, normalizer=float(out["num_feature_frames"]))

    # streaming

    def init_states(self, batch_size: int = 1, left_context: int | None = None,
                    device: torch.device | str = "cpu") -> SurtState:
        """Initial streaming state of ``batch_size`` streams (all zeros, as ``forward``'s padding)."""
        return SurtState(self.unmixer.init_state(batch_size, device),
                         self.encoder.init_states(batch_size * self.num_channels, left_context, device), self.num_channels)

    def infer(self, chunk: Tensor, chunk_lens: Tensor, states: SurtState) -> tuple[Tensor, Tensor, SurtState]:
        """One chunk of every stream's mixture: chunk (N, T, F) with T a multiple of
        ``config.unmix_segment_frames`` and of the subsampling factor, chunk_lens (N,).
        Returns ((N * C, T', D) encoder output, (N * C,) lengths, new state)."""
        masks, unmix_state = self.unmixer.infer(chunk, chunk_lens, states.unmix)
        n, c, t, f = masks.shape
        masked = self.unmixer.apply(masks, chunk).reshape(n * c, t, f)
        out, out_lens, encoder_state = self.encoder.infer(masked, chunk_lens.repeat_interleave(c), states.encoder)
        return self.join_channels(out), out_lens, SurtState(unmix_state, encoder_state, c)


def build_model(config: ModelConfig) -> Transducer:
    """The model a config describes: ``SurtModel`` for ``architecture="surt"``, else ``Transducer``."""
    return SurtModel(config) if config.architecture == "surt" else Transducer(config)
