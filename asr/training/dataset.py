"""Training batches from a lhotse CutSet with precomputed features.

``AsrDataset`` is a lhotse-style map dataset: the sampler yields a ``CutSet`` (one mini-batch) and
``dataset[cuts]`` loads and pads its features, applies frequency warping (VTLP) and SpecAugment when training, and turns the
transcripts into token ids. ``make_sampler`` buckets cuts by duration so that each batch holds
about ``max_duration`` seconds of audio, split across ranks under torch.distributed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from lhotse import CutSet
from lhotse.dataset import DynamicBucketingSampler, SpecAugment
from lhotse.dataset.collation import collate_features

from asr.augment.nonspeech import is_nonspeech
from asr.augment.vtlp import FrequencyWarp, FrequencyWarpConfig
from asr.errors import DataDirError, TokenizerError


class TokenEncoder(Protocol):
    """What the dataset needs from ``asr.text.Tokenizer``."""

    def encode(self, text: str) -> list[int]: ...


#: ``SpecAugmentConfig.apply_to``: the batch's features, or a SURT model's masked channels
SPEC_AUGMENT_TARGETS = frozenset({"input", "channels"})


@dataclass
class SpecAugmentConfig:
    """lhotse ``SpecAugment`` settings; ``time_warp_factor`` 0 turns time warping off.

    ``apply_to``: ``"input"`` augments the batch's features (a SURT model's mixture); ``"channels"``
    (SURT only) augments each channel's masked features after the mask estimator instead, so the
    estimator separates the real mixture and each channel's recognizer gets masks of its own.
    """

    enabled: bool = True
    apply_to: str = "input"
    time_warp_factor: int = 80
    num_feature_masks: int = 2
    features_mask_size: int = 27
    num_frame_masks: int = 10
    frames_mask_size: int = 100
    max_frames_mask_fraction: float = 0.15
    p: float = 0.9

    def __post_init__(self) -> None:
        if self.apply_to not in SPEC_AUGMENT_TARGETS:
            raise ValueError(f"data.spec_augment.apply_to must be one of {sorted(SPEC_AUGMENT_TARGETS)}, "
                             f"got {self.apply_to!r}")

    def build(self) -> SpecAugment | None:
        if not self.enabled:
            return None
        return SpecAugment(
            time_warp_factor=self.time_warp_factor if self.time_warp_factor > 0 else None,
            num_feature_masks=self.num_feature_masks,
            features_mask_size=self.features_mask_size,
            num_frame_masks=self.num_frame_masks,
            frames_mask_size=self.frames_mask_size,
            max_frames_mask_fraction=self.max_frames_mask_fraction,
            p=self.p,
        )


@dataclass
class DataConfig:
    """Batching settings (``data:`` in a recipe's ``conf/train.yaml``)."""

    max_duration: float = 200.0
    num_buckets: int = 10
    shuffle: bool = True
    drop_last: bool = False
    max_cut_duration: float = 30.0
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)
    frequency_warp: FrequencyWarpConfig = field(default_factory=FrequencyWarpConfig)


def cut_text(cut: Any) -> str:
    """The transcript of a cut: its supervisions' texts joined by spaces, in start-time order.

    A single-talker model trained on a multi-talker cut learns this serialized text; a SURT model
    (``AsrDataset(num_channels=2)``) gets per-channel targets instead (``asr.data.heat``)."""
    sups = sorted(cut.supervisions, key=lambda s: (s.start, s.start + s.duration))
    return " ".join(s.text.strip() for s in sups if s.text is not None and s.text.strip())


def encode_cut(cut: Any, tokenizer: TokenEncoder) -> list[int]:
    """Token ids of a cut's transcript; an unrepresentable transcript raises ``TokenizerError`` naming the cut."""
    if not cut.supervisions:
        raise DataDirError(f"cut {cut.id}: has no supervision (no transcript to train on)")
    text = cut_text(cut)
    if not text:
        # Only cuts made as non-speech (asr.augment.nonspeech) mean "say nothing"; an empty
        # transcript anywhere else is a data error, not a lesson in silence.
        if is_nonspeech(cut):
            return []
        raise DataDirError(f"cut {cut.id}: empty transcript (only non-speech cuts from 'python -m asr.augment "
                           "nonspeech' may have one)")
    try:
        return tokenizer.encode(text)
    except TokenizerError as e:
        raise TokenizerError(f"cut {cut.id}: transcript {text!r} cannot be tokenized: {e}") from e


def check_transcripts(cuts: CutSet, tokenizer: TokenEncoder, source: str = "cuts") -> int:
    """Tokenize every transcript once before training, so a bad one fails at start, not mid-epoch.

    Also requires precomputed features. Returns the number of cuts checked.
    """
    n = 0
    for cut in cuts:
        if not cut.has_features:
            raise DataDirError(f"{source}: cut {cut.id} has no precomputed features (run the feature stage first)")
        encode_cut(cut, tokenizer)
        n += 1
    if n == 0:
        raise DataDirError(f"{source}: no cuts")
    return n


class AsrDataset(torch.utils.data.Dataset):
    """Map a ``CutSet`` mini-batch to padded features and token ids.

    Returns a dict with ``features`` (N, T, F) float32, ``feature_lens`` (N,) int64,
    ``targets`` (list of N token-id lists; None without a tokenizer, for decoding),
    ``cut_ids`` and ``texts`` (N strings each). With ``source_features`` (SURT's mask loss) also
    ``source_features`` (N, C, T, F): fbank of each channel's source audio (the cut's
    ``custom["channel_sources"]``, from ``materialize(..., write_sources=True)``). With ``num_channels > 1`` (SURT) also
    ``channel_targets``: N lists of ``num_channels`` token-id lists, the HEAT-assigned utterances
    of each channel, each followed by ``eos_id`` when it is given (``asr.data.heat``), and with
    ``eos_id`` ``channel_end_times``: the end of each of those utterances (seconds; one per ``<eos>``).
    """

    def __init__(self, tokenizer: TokenEncoder | None, spec_augment: SpecAugment | None = None,
                 num_channels: int = 1, eos_id: int | None = None, source_features: bool = False,
                 frequency_warp: FrequencyWarp | None = None) -> None:
        self.tokenizer = tokenizer
        self.spec_augment = spec_augment
        self.frequency_warp = frequency_warp
        self.num_channels = num_channels
        self.eos_id = eos_id
        self.source_features = source_features

    def __getitem__(self, cuts: CutSet) -> dict[str, Any]:
        cuts = cuts.sort_by_duration(ascending=False)
        targets = [encode_cut(cut, self.tokenizer) for cut in cuts] if self.tokenizer is not None else None
        features, feature_lens = collate_features(cuts)
        extra: dict[str, Any] = {}
        if self.source_features:
            # before any augmentation, which the sources do not get (training/loop.py: none with unmixer_only)
            extra["source_features"] = channel_source_features(cuts, features.shape, self.num_channels)
        if self.frequency_warp is not None:
            features = self.frequency_warp(features)
        if self.spec_augment is not None:
            features = self.spec_augment(features)
        if self.num_channels > 1 and self.tokenizer is not None:
            from asr.data.heat import channel_end_times, channel_targets

            extra["channel_targets"] = [channel_targets(cut, self.tokenizer, self.num_channels, self.eos_id)
                                        for cut in cuts]
            if self.eos_id is not None:
                extra["channel_end_times"] = [channel_end_times(cut, self.num_channels) for cut in cuts]
        return {
            **extra,
            "features": features,
            "feature_lens": feature_lens.to(torch.int64),
            "targets": targets,
            "cut_ids": [cut.id for cut in cuts],
            "texts": [cut_text(cut) for cut in cuts],
        }


def channel_source_features(cuts: CutSet, shape: torch.Size, num_channels: int) -> torch.Tensor:
    """(N, C, T, F) fbank of each cut's channel source wavs, frames aligned with the mixture's
    (same samples, same fbank), zero beyond each source; ``DataDirError`` naming a cut without them."""
    from asr.audio import load_audio
    from asr.features import FbankOptions, compute_fbank

    n, t, f = shape
    opts = FbankOptions()
    out = torch.zeros(n, num_channels, t, f)
    for i, cut in enumerate(cuts):
        paths = (cut.custom or {}).get("channel_sources")
        if not paths or len(paths) != num_channels:
            raise DataDirError(f"cut {cut.id}: no {num_channels} channel sources for the mask loss (simulate the "
                               "sessions with 'python -m asr.corpora.mixtures ... --write-sources')")
        for c, path in enumerate(paths):
            feats = torch.from_numpy(compute_fbank(load_audio(path, opts.sample_rate), opts.sample_rate, opts))[:t]
            out[i, c, :feats.size(0)] = feats
    return out


def batch_to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The batch with its tensors (features, lengths) on ``device``; token lists and ids stay as they are."""
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def make_sampler(
    cuts: CutSet,
    config: DataConfig,
    *,
    shuffle: bool | None = None,
    seed: int = 0,
    world_size: int | None = None,
    rank: int | None = None,
) -> DynamicBucketingSampler:
    """Duration-bucketed sampler: about ``config.max_duration`` seconds of audio per batch.

    Under torch.distributed each rank draws its own batches (lhotse keeps the number of
    batches equal across ranks).
    """
    num_buckets = config.num_buckets
    if not cuts.is_lazy:  # lhotse needs at least one cut per bucket
        num_buckets = max(1, min(num_buckets, len(cuts)))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*eagerly read CutSet.*")
        return DynamicBucketingSampler(
            cuts,
            max_duration=config.max_duration,
            num_buckets=num_buckets,
            shuffle=config.shuffle if shuffle is None else shuffle,
            drop_last=config.drop_last,
            seed=seed,
            world_size=world_size,
            rank=rank,
        )


def make_dataloader(dataset: AsrDataset, sampler: DynamicBucketingSampler) -> torch.utils.data.DataLoader:
    """A DataLoader in the main process, so the sampler state saved in a checkpoint is exact.

    It gets its own generator so that starting an epoch does not draw from the global torch RNG
    (a resumed run must see the same SpecAugment and dropout draws as an uninterrupted one).
    """
    return torch.utils.data.DataLoader(
        dataset, sampler=sampler, batch_size=None, num_workers=0, generator=torch.Generator().manual_seed(0)
    )
