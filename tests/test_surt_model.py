"""SURT model: streaming (chunk by chunk, carried state) equals the masked full forward, the
intra-segment BiLSTM stays within its segment, state batch operations, and the training objectives."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from asr.models import SurtModel, build_model, tiny_config
from asr.models.objectives import LossTerms
from asr.models.surt import MASK_TARGET_RANGE, SurtState
from asr.training.config import LossConfig, TrainConfig
from tiny_model import single_thread  # noqa: F401 (autouse fixture)

VOCAB, EOS = 12, 1


def surt_config(**overrides):
    base = dict(architecture="surt", unmix_dim=16, unmix_blocks=2, unmix_segment_frames=8, eos_id=EOS)
    base.update(overrides)
    return tiny_config(vocab_size=VOCAB, **base)


def randomized_surt(seed: int = 0, **overrides) -> SurtModel:
    torch.manual_seed(seed)
    model = build_model(surt_config(**overrides)).eval()
    assert isinstance(model, SurtModel)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
        model.encoder.feature_norm.set_statistics(torch.randn(80), torch.rand(80) + 0.5)
        model.unmixer.feature_norm.set_statistics(torch.randn(80), torch.rand(80) + 0.5)
    return model


def run_streaming(model: SurtModel, x: torch.Tensor, lens: torch.Tensor, chunk: int, left: int) -> torch.Tensor:
    step = 4 * chunk
    x = F.pad(x, (0, 0, 0, (-x.size(1)) % step))
    states = model.init_states(x.size(0), left)
    outs = []
    for start in range(0, x.size(1), step):
        # round trip through per-stream states every chunk, as the recognizer does
        states = SurtState.stack(states.unstack())
        out, _, states = model.infer(x[:, start:start + step], (lens - start).clamp(0, step), states)
        outs.append(out)
    return torch.cat(outs, dim=1)


@pytest.mark.parametrize("chunk,left,joint,domain,embedding", [
    (2, 4, False, "linear", False), (4, 8, True, "linear", False), (8, 8, False, "linear", False),
    (4, 8, False, "log", True), (2, 4, True, "log", True)])
def test_streaming_equals_masked_full_forward(chunk: int, left: int, joint: bool, domain: str, embedding: bool) -> None:
    model = randomized_surt(channel_joint_layer=joint, unmix_mask_domain=domain, channel_embedding=embedding)
    lens = torch.tensor([75, 41, 9])  # partial last chunks, different per stream
    x = torch.randn(3, 75, 80)
    with torch.no_grad():
        full, full_lens = model.forward_encoder(x, lens, chunk, left)
        streamed = run_streaming(model, x, lens, chunk, left)
    c = model.num_channels
    assert full.size(0) == 3 * c and full_lens.tolist() == [19] * c + [11] * c + [3] * c
    for row, n in enumerate(full_lens.tolist()):
        torch.testing.assert_close(streamed[row, :n], full[row, :n], atol=1e-4, rtol=0)
    # the channels differ (two masks), and a padded batch equals each stream alone
    assert (full[0, :10] - full[1, :10]).abs().max() > 1e-3
    with torch.no_grad():
        alone, _ = model.forward_encoder(x[1:2, :41], lens[1:2], chunk, left)
    torch.testing.assert_close(alone[:, :11], full[2:4, :11], atol=1e-4, rtol=0)


def test_masks_look_back_across_segments_but_not_ahead() -> None:
    model = randomized_surt()
    x = torch.randn(1, 40, 80)
    lens = torch.tensor([40])
    with torch.no_grad():
        base = model.unmixer(x, lens)
        later = x.clone()
        later[:, 20:] += 3.0  # inside segment 2 (frames 16..23) and after
        changed = model.unmixer(later, lens)
        earlier = x.clone()
        earlier[:, 3] += 3.0  # segment 0
        back = model.unmixer(earlier, lens)
    # no look-ahead beyond the segment: frames of segments 0 and 1 unchanged
    torch.testing.assert_close(changed[:, :, :16], base[:, :, :16])
    # within segment 2 the BiLSTM sees frame 20 from frame 16 (no latency cost inside a chunk)
    assert (changed[:, :, 16:20] - base[:, :, 16:20]).abs().max() > 1e-4
    # the inter-segment LSTM carries segment 0 forward
    assert (back[:, :, 8:] - base[:, :, 8:]).abs().max() > 1e-4
    assert (base >= 0).all()


def test_log_domain_masks_scale_the_mel_power() -> None:
    """``"log"``: log-masks in (-inf, 0], added to the log-mel features, i.e. a (0, 1) mask on
    exp(features); zero beyond each length, so padding frames stay as they were."""
    model = randomized_surt(unmix_mask_domain="log")
    x = torch.randn(2, 40, 80)
    lens = torch.tensor([40, 25])
    with torch.no_grad():
        log_masks = model.unmixer(x, lens)
        masked, masked_lens = model.unmix(x, lens)
    assert (log_masks <= 0).all() and (log_masks[:, :, :25] < 0).all() and (log_masks[1, :, 25:] == 0).all()
    power_masks = (masked.reshape(2, 2, 40, 80).exp() / x[:, None].exp())[:, :, :25]
    assert ((power_masks > 0) & (power_masks < 1)).all()
    torch.testing.assert_close(power_masks, log_masks[:, :, :25].exp())
    assert masked_lens.tolist() == [40, 40, 25, 25]
    with pytest.raises(ValueError, match="unmix_mask_domain"):
        surt_config(unmix_mask_domain="dB")


def test_channel_embedding_tells_the_channels_apart_with_equal_masks() -> None:
    """With the embedding, channel c's encoder frames are the shared encoder's plus vector c: two
    channels with identical masked input still reach the joiner as different frames."""
    model = randomized_surt(unmix_mask_domain="log", channel_embedding=True)
    x = torch.randn(2, 32, 80)
    lens = torch.tensor([32, 20])
    with torch.no_grad():
        model.unmixer.output.weight.zero_()  # equal masks for both channels
        model.unmixer.output.bias.fill_(4.0)
        out, out_lens = model.forward_encoder(x, lens)
        plain, _ = model.encode(*model.unmix(x, lens))
    torch.testing.assert_close(plain[0], plain[1])
    for row in range(4):
        n = int(out_lens[row])
        torch.testing.assert_close(out[row, :n], plain[row, :n] + model.channel_embedding[row % 2])
    assert (out[0, :8] - out[1, :8]).abs().max() > 0.1


def test_infer_rejects_chunks_that_split_a_segment() -> None:
    model = randomized_surt()
    with pytest.raises(ValueError, match="segment"):
        model.infer(torch.randn(1, 12, 80), torch.tensor([12]), model.init_states(1, 4))


def test_objectives_per_channel_with_eos_penalty_ctc_and_mask_loss() -> None:
    model = randomized_surt(use_ctc=True).train()
    x = torch.randn(2, 64, 80)
    lens = torch.tensor([64, 50])
    targets = [[[3, 4, EOS, 5, EOS], [6, EOS]], [[7, 8, EOS], []]]  # one channel empty
    batch = {"features": x, "feature_lens": lens, "channel_targets": targets, "cut_ids": ["a", "b"],
             "source_features": torch.randn(2, 2, 64, 80)}
    loss = LossConfig(ctc_scale=0.2, mask_loss_scale=0.2, warm_step=10)
    terms = model.objectives(batch, loss, step=5)
    assert isinstance(terms, LossTerms)
    assert set(terms.terms) == {"simple", "pruned", "ctc", "mask"} and terms.terms["mask"].weight == pytest.approx(0.1)
    assert "mask" in model.objectives(batch, loss, step=None).metrics  # after warm-up: logged only
    assert "mask" in model.objectives(batch, loss, step=10).metrics
    total = terms.total()
    assert torch.isfinite(total)
    total.backward()
    assert model.unmixer.output.weight.grad is not None and model.unmixer.output.weight.grad.abs().sum() > 0
    # channel rows are stream-major: the same targets in the other channel order give another loss
    swapped = dict(batch, channel_targets=[t[::-1] for t in targets], source_features=None)
    with torch.no_grad():
        a = model(x, lens, targets)["pruned"]
        b = model(x, lens, swapped["channel_targets"])["pruned"]
        penalised = model(x, lens, targets, eos_penalty=0.5)["pruned"]
    assert abs(float(a - b)) > 1e-3 and abs(float(a - penalised)) > 1e-3
    with pytest.raises(ValueError, match="2 token lists"):
        model(x, lens, [[[3]], [[4]]])
    with pytest.raises(ValueError, match="channel_targets"):
        model.objectives({"features": x, "feature_lens": lens, "targets": [[3], [4]]}, loss, None)
    with pytest.raises(ValueError, match="eos"):
        build_model(surt_config(eos_id=-1))(x, lens, targets, eos_penalty=0.5)


def test_eos_window_uses_each_sentence_end_in_encoder_frames() -> None:
    """``LossConfig.eos_window_penalty`` reads the batch's ``channel_end_times``: each <eos> gets its
    own sentence's end (seconds / frame shift); a window around the ends costs less than one far
    from them; mismatched end times are named errors."""
    model = randomized_surt().eval()
    x = torch.randn(2, 64, 80)
    lens = torch.tensor([64, 50])
    targets = [[[3, 4, EOS, 5, EOS], [6, EOS]], [[7, 8, EOS], []]]
    ends = [[[0.2, 0.6], [0.4]], [[0.5], []]]
    shift = model.config.frame_shift_s
    window = model.eos_window_of([t for s in targets for t in s], ends, (1.0, -0.04, 0.08), None, torch.device("cpu"))
    assert window.ref_frames.shape == (4, 5)
    torch.testing.assert_close(window.ref_frames[0, [2, 4]], torch.tensor([0.2, 0.6]) / shift)
    torch.testing.assert_close(window.ref_frames[2, 2], torch.tensor(0.5 / shift))
    assert window.start == pytest.approx(-1.0) and window.end == pytest.approx(2.0)
    with torch.no_grad():
        plain = model(x, lens, targets)["pruned"]
        near = model(x, lens, targets, end_times=ends, eos_window=(1.0, -0.1, 0.1))["pruned"]
        far = model(x, lens, targets, end_times=[[[0.0, 0.0], [0.0]], [[0.0], []]], eos_window=(1.0, 0.0, 0.0))["pruned"]
    assert plain < near < far
    batch = {"features": x, "feature_lens": lens, "channel_targets": targets, "channel_end_times": ends}
    terms = model.objectives(batch, LossConfig(eos_window_penalty=1.0, eos_window_start=-0.1, eos_window_end=0.1,
                                               warm_step=0), step=5)
    assert float(terms.terms["pruned"].value.detach()) == pytest.approx(float(near), rel=1e-5)
    with pytest.raises(ValueError, match="2 <eos> in the target but 1 end times"):
        model(x, lens, targets, end_times=[[[0.2], [0.4]], [[0.5], []]], eos_window=(1.0, 0.0, 0.1))
    with pytest.raises(ValueError, match="channel_end_times"):
        model(x, lens, targets, eos_window=(1.0, 0.0, 0.1))


@pytest.mark.parametrize("domain", ["linear", "log"])
def test_unmixer_only_trains_the_mask_estimator_alone_on_the_floored_mask_loss(domain: str) -> None:
    model = randomized_surt(unmix_mask_domain=domain).train()
    x = torch.randn(2, 40, 80)
    lens = torch.tensor([40, 27])
    sources = torch.randn(2, 2, 40, 80)
    sources[0, 1, :10] = -16.0  # a silent stretch of one channel: its target is floored at x - range
    batch = {"features": x, "feature_lens": lens, "channel_targets": [[[3], [4]], [[5], []]], "cut_ids": ["a", "b"],
             "source_features": sources}
    terms = model.objectives(batch, LossConfig(unmixer_only=True), step=0)
    assert set(terms.terms) == {"mask"} and not terms.metrics
    # brute force, frame by frame: mean over bins of (masked - max(source, x - R))^2, valid frames only
    with torch.no_grad():
        masks = model.unmixer(x, lens)
        masked = masks * x[:, None] if domain == "linear" else x[:, None] + masks
    total, frames = 0.0, 0
    for n in range(2):
        for c in range(2):
            for t in range(int(lens[n])):
                target = torch.maximum(sources[n, c, t], x[n, t] - MASK_TARGET_RANGE)
                total += float(((masked[n, c, t] - target) ** 2).mean())
                frames += 1
    assert terms.normalizer == frames
    loss = terms.total()
    assert float(loss.detach()) == pytest.approx(total / frames, rel=1e-4)
    loss.backward()
    assert model.unmixer.output.weight.grad is not None and model.unmixer.output.weight.grad.abs().sum() > 0
    recognizer = [p for name, p in model.named_parameters() if not name.startswith("unmixer.")]
    assert recognizer and all(p.grad is None for p in recognizer)  # the recognizer is not run
    with pytest.raises(ValueError, match="channel sources"):
        model.objectives(dict(batch, source_features=None), LossConfig(unmixer_only=True), step=0)


def test_unmixer_only_needs_a_surt_model() -> None:
    with pytest.raises(ValueError, match="unmixer_only"):
        TrainConfig(model={"architecture": "transducer"}, loss=LossConfig(unmixer_only=True))
    TrainConfig(model={"architecture": "surt"}, loss=LossConfig(unmixer_only=True))


def test_eos_window_must_not_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="eos_window_end"):
        TrainConfig(model={"architecture": "surt"}, loss=LossConfig(eos_window_start=0.2, eos_window_end=0.1))


def test_config_rejects_bad_surt_settings() -> None:
    with pytest.raises(ValueError, match="architecture"):
        tiny_config(architecture="sort")
    with pytest.raises(ValueError, match="eos_id"):
        tiny_config(vocab_size=VOCAB, eos_id=0)
    assert surt_config().output_channels == 2 and tiny_config().output_channels == 1


def test_channel_joint_layer_lets_a_channel_see_the_other() -> None:
    model = randomized_surt(channel_joint_layer=True)
    enc = torch.randn(4, 5, 32)  # 2 streams x 2 channels
    with torch.no_grad():
        base = model.join_channels(enc)
        changed = enc.clone()
        changed[1] += 1.0  # stream 0, channel 1
        out = model.join_channels(changed)
    assert (out[0] - base[0]).abs().max() > 1e-3  # channel 0 of the same stream sees it
    torch.testing.assert_close(out[2:], base[2:])  # the other stream does not
    assert randomized_surt().join_channels(enc) is enc


def test_channel_augment_sees_the_masked_channels_in_training_only() -> None:
    """data.spec_augment.apply_to 'channels': the augmentation gets the (N * C, T, F) masked
    features before the encoder, the mask loss the unaugmented ones, and eval runs without it."""
    model = randomized_surt().train()
    x, lens = torch.randn(2, 40, 80), torch.tensor([40, 27])
    targets = [[[3], [4]], [[5], []]]
    sources = torch.randn(2, 2, 40, 80)
    seen: list[torch.Tensor] = []

    def zero_first_frames(masked: torch.Tensor) -> torch.Tensor:
        seen.append(masked.detach().clone())
        out = masked.clone()
        out[:, :8] = 0.0
        return out

    plain = model(x, lens, targets, source_features=sources)
    model.channel_augment = zero_first_frames
    augmented = model(x, lens, targets, source_features=sources)
    masked, _ = model.unmix(x, lens)
    assert len(seen) == 1 and torch.allclose(seen[0], masked.detach())
    assert torch.allclose(augmented["mask"], plain["mask"])  # the mask loss is on the clean channels
    assert not torch.allclose(augmented["pruned"], plain["pruned"])  # the recognizer heard the augmented ones
    model.eval()
    model(x, lens, targets)
    assert len(seen) == 1


def test_spec_augment_on_channels_needs_a_surt_model() -> None:
    from asr.training.dataset import DataConfig, SpecAugmentConfig

    with pytest.raises(ValueError, match="apply_to"):
        SpecAugmentConfig(apply_to="masks")
    channels = DataConfig(spec_augment=SpecAugmentConfig(apply_to="channels"))
    with pytest.raises(ValueError, match="apply_to 'channels'"):
        TrainConfig(model={"architecture": "transducer"}, data=channels)
    TrainConfig(model={"architecture": "surt"}, data=channels)
