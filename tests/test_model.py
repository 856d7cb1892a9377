"""Transducer model: streaming encoder equivalence, predictor step API, losses wiring, bad targets."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from asr import losses
from asr.errors import TokenizerError
from asr.models.config import ModelConfig, default_config, tiny_config
from asr.models.predictor import LstmPredictor, StatelessPredictor, reset_context
from asr.models.encoder import Encoder, chunk_attention_mask, sample_chunk_size, stack_states, unstack_states
from asr.models.joiner import hat_log_probs
from asr.models.model import Transducer, pad_targets
from tiny_model import single_thread  # noqa: F401 (autouse fixture)


def randomized_encoder(config: ModelConfig, seed: int = 0) -> Encoder:
    torch.manual_seed(seed)
    enc = Encoder(config).eval()
    with torch.no_grad():  # non-zero position bias and large weights make mask mistakes visible
        for p in enc.parameters():
            p.normal_(0.0, 0.2)
        enc.feature_norm.set_statistics(torch.randn(config.feature_dim), torch.rand(config.feature_dim) + 0.5)
    return enc


def run_chunkwise(enc: Encoder, x: torch.Tensor, lens: torch.Tensor, chunk: int, left: int) -> torch.Tensor:
    """Feed (N, T, F) features chunk by chunk through ``infer``; concatenated (N, T', D) output."""
    step = 4 * chunk
    pad = (-x.size(1)) % step
    x = F.pad(x, (0, 0, 0, pad))
    states = enc.init_states(x.size(0), left)
    outs = []
    for start in range(0, x.size(1), step):
        out, out_lens, states = enc.infer(x[:, start:start + step], (lens - start).clamp(0, step), states)
        assert out_lens.tolist() == ((lens - start).clamp(0, step) + 3).div(4, rounding_mode="floor").tolist()
        outs.append(out)
    return torch.cat(outs, dim=1)


@pytest.mark.parametrize("chunk,left", [(1, 0), (2, 5), (3, 8), (4, 3), (16, 8)])
def test_chunkwise_infer_equals_masked_forward(chunk: int, left: int) -> None:
    enc = randomized_encoder(tiny_config())
    lens = torch.tensor([61, 38, 13])  # not multiples of 4 * chunk; different per utterance
    x = torch.randn(3, 61, 80)
    with torch.no_grad():
        full, full_lens = enc(x, lens, chunk, left)
        streamed = run_chunkwise(enc, x, lens, chunk, left)
    assert full_lens.tolist() == [16, 10, 4]
    for i, n in enumerate(full_lens.tolist()):
        torch.testing.assert_close(streamed[i, :n], full[i, :n], atol=1e-4, rtol=0)
    if chunk < 16:  # the chunk mask matters: full context gives a different output
        with torch.no_grad():
            unmasked, _ = enc(x, lens, -1, -1)
        assert (unmasked[0, :16] - full[0, :16]).abs().max() > 1e-3


def test_states_stack_and_unstack_per_stream() -> None:
    enc = randomized_encoder(tiny_config(), seed=1)
    x = torch.randn(2, 16, 80)
    lens = torch.tensor([16, 16])
    with torch.no_grad():
        batched_out, _, batched_states = enc.infer(x, lens, enc.init_states(2, 4))
        singles = [enc.infer(x[i:i + 1], lens[i:i + 1], enc.init_states(1, 4)) for i in range(2)]
    for i, (out, _, states) in enumerate(singles):
        torch.testing.assert_close(out[0], batched_out[i], atol=1e-5, rtol=0)
        for a, b in zip(states, unstack_states(batched_states)[i]):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    restacked = stack_states(unstack_states(batched_states))
    assert all(torch.equal(a, b) for a, b in zip(restacked, batched_states))


def test_encoder_is_causal_and_output_length() -> None:
    enc = randomized_encoder(tiny_config(), seed=2)
    x = torch.randn(1, 40, 80)
    y = x.clone()
    y[:, 24:] += 5.0  # change the future from feature frame 24 (encoder frame 6) on
    lens = torch.tensor([40])
    with torch.no_grad():
        a, a_lens = enc(x, lens, 2, 4)
        b, _ = enc(y, lens, 2, 4)
    assert a.shape[1] == 10 and a_lens.item() == 10
    torch.testing.assert_close(a[:, :6], b[:, :6])  # chunks 0..2 (frames 0..5) never see frame 24
    assert (a[:, 6:] - b[:, 6:]).abs().max() > 1e-3


def test_chunk_mask_brute_force() -> None:
    for t, chunk, left in [(7, 2, 1), (9, 3, -1), (5, -1, 2), (8, 4, 0)]:
        mask = chunk_attention_mask(t, chunk, left)
        for i in range(t):
            for j in range(t):
                if chunk <= 0:
                    expected = True
                else:
                    start = i // chunk * chunk
                    expected = j < start + chunk and (left < 0 or j >= start - left)
                assert bool(mask[i, j]) == expected, (t, chunk, left, i, j)


def test_sample_chunk_size_covers_configured_sizes() -> None:
    config = tiny_config(chunk_sizes=(2, 4), full_context_prob=0.3)
    seen = {sample_chunk_size(config, random.Random(i)) for i in range(200)}
    assert seen == {-1, 2, 4}


@pytest.mark.parametrize("predictor_cls", ["stateless", "lstm", "lstm2"])
def test_predictor_step_matches_forward(predictor_cls: str) -> None:
    """Stepping token by token equals the forward over the sequence; the LSTM's step runs its own
    cell per layer (``torch.lstm_cell``), so a two-layer LSTM checks the layers' hand-over too."""
    torch.manual_seed(0)
    predictor = (StatelessPredictor(11, 16, 0, 2) if predictor_cls == "stateless"
                 else LstmPredictor(11, 16, 24, num_layers=2 if predictor_cls == "lstm2" else 1)).eval()
    y = torch.tensor([[0, 3, 5, 2, 9], [0, 1, 1, 4, 7]])  # SOS blank first
    with torch.no_grad():
        full = predictor(y)  # (N, U, D)
        state = predictor.init_state(2)
        for u in range(y.size(1)):
            out, state = predictor.step(y[:, u], state)
            torch.testing.assert_close(out, full[:, u], atol=1e-5, rtol=0)


@pytest.mark.parametrize("context_size", [2, 3])
def test_context_reset_makes_the_predictor_see_an_utterance_start(context_size: int) -> None:
    """After a reset at u, the outputs at u, u+1, ... equal those of the utterance y[u+1:] alone."""
    torch.manual_seed(0)
    predictor = StatelessPredictor(11, 16, 0, context_size).eval()
    sos_y = torch.tensor([[0, 3, 5, 2, 9, 4, 6, 8], [0, 1, 1, 4, 7, 7, 2, 3]])
    resets = torch.zeros_like(sos_y, dtype=torch.bool)
    resets[0, 3] = resets[1, 5] = True
    reset = reset_context(sos_y, resets, context_size, blank_id=0)
    with torch.no_grad():
        out = predictor(reset)
        for n, u in ((0, 3), (1, 5)):
            alone = predictor(torch.cat([sos_y[n:n + 1, :1], sos_y[n:n + 1, u + 1:]], dim=1))  # blank + the rest
            torch.testing.assert_close(out[n:n + 1, u:], alone, atol=1e-6, rtol=0)
            before = predictor(sos_y[n:n + 1])  # positions before the window are untouched
            keep = u - (context_size - 1)
            torch.testing.assert_close(out[n:n + 1, :keep], before[:, :keep], atol=1e-6, rtol=0)


def test_context_reset_only_while_training() -> None:
    config = tiny_config(vocab_size=11, predictor_context_reset=0.5)
    torch.manual_seed(0)
    model = Transducer(config)
    enc = torch.randn(2, 12, config.encoder_dim)
    lens = torch.tensor([12, 10])
    targets = [[3, 5, 2, 9, 4], [1, 4, 7]]
    with torch.no_grad():
        model.eval()
        evals = [model.transducer_losses(enc, lens, targets)["simple"] for _ in range(2)]
        model.train()
        trains = [model.transducer_losses(enc, lens, targets)["simple"] for _ in range(4)]
    assert evals[0] == evals[1]  # deterministic in eval mode
    assert len({float(t) for t in trains}) > 1  # resampled resets in training
    with pytest.raises(ValueError, match="stateless"):
        tiny_config(predictor="lstm", predictor_context_reset=0.1)
    with pytest.raises(ValueError, match="outside"):
        tiny_config(predictor_context_reset=1.0)


def expected_parameters(c: ModelConfig) -> int:
    """Parameter count of a Transducer from its config, layer shape by layer shape, written out
    from the module definitions rather than by summing ``model.parameters()``."""

    def linear(i: int, o: int) -> int:
        return i * o + o

    def norm(d: int) -> int:  # LayerNorm: weight and bias
        return 2 * d

    d, v, p = c.encoder_dim, c.vocab_size, c.decoder_dim
    c1, c2 = c.subsampling_channels
    freq = c.feature_dim
    for _ in range(2):  # two kernel-3 stride-2 convolutions over frequency, no frequency padding
        freq = (freq - 3) // 2 + 1
    front = (9 * c1 + c1) + (c1 * 9 * c2 + c2) + linear(c2 * freq, d) + norm(d)
    feed_forward = norm(d) + linear(d, c.feedforward_dim) + linear(c.feedforward_dim, d)
    attention = linear(d, d) + linear(d, 2 * d) + linear(d, d)  # q, kv, out
    # LayerNorm, pointwise to 2d (GLU), depthwise conv with bias, LayerNorm, pointwise out
    conv = norm(d) + linear(d, 2 * d) + (d * c.conv_kernel_size + d) + norm(d) + linear(d, d)
    layer = 2 * feed_forward + norm(d) + attention + conv + norm(d)
    encoder = front + c.num_encoder_layers * layer + (2 * c.rel_pos_max + 1) * c.num_heads
    if c.predictor == "stateless":  # embedding + bias-free depthwise conv over the context
        predictor = v * p + (p * c.context_size if c.context_size > 1 else 0)
    else:  # embedding + LSTM (4 gates, two bias vectors per layer) + projection back to p
        h = c.lstm_hidden_dim
        lstm = sum(4 * h * ((p if i == 0 else h) + h) + 8 * h for i in range(c.lstm_num_layers))
        predictor = v * p + lstm + linear(h, p)
    joiner = linear(d, c.joiner_dim) + linear(p, c.joiner_dim) + linear(c.joiner_dim, v)
    simple_loss_projections = linear(d, v) + linear(p, v)
    ctc = linear(d, v) if c.use_ctc else 0
    return encoder + predictor + joiner + simple_loss_projections + ctc


@pytest.mark.parametrize("config, count", [
    # Pinned: a change of any layer size or of the architecture must show up here on purpose.
    # The integers were computed once by expected_parameters (and agree with num_parameters).
    (default_config(), 3_552_288),
    (tiny_config(), 42_338),
    (tiny_config(predictor="lstm", use_ctc=True), 52_306),
    (default_config(predictor="lstm", lstm_num_layers=2), 4_670_240),
], ids=["default", "tiny", "tiny-lstm-ctc", "default-lstm2"])
def test_parameter_counts(config: ModelConfig, count: int) -> None:
    assert expected_parameters(config) == count
    assert Transducer(config).num_parameters() == count


def tiny_batch(vocab: int = 12) -> tuple[torch.Tensor, torch.Tensor, list[list[int]]]:
    torch.manual_seed(3)
    feats = torch.randn(3, 70, 80)
    lens = torch.tensor([70, 55, 41])
    targets = [[1, 5, 7, 2], [3, 3], [9, 4, 11]]
    return feats, lens, targets


def test_pruned_loss_equals_full_loss_when_range_covers_all() -> None:
    model = Transducer(tiny_config(vocab_size=12)).eval()
    feats, lens, targets = tiny_batch()
    with torch.no_grad():
        out = model(feats, lens, targets, prune_range=5)  # U_max + 1 = 5: nothing pruned
        enc, enc_lens = model.encode(feats, lens)
        y, y_lens = pad_targets(targets, 0)
        dec = model.predictor(torch.cat([torch.zeros_like(y[:, :1]), y], dim=1))
        logits = model.joiner(model.joiner.project_encoder(enc)[:, :, None], model.joiner.project_decoder(dec)[:, None])
        boundary = torch.stack([torch.zeros_like(y_lens), torch.zeros_like(y_lens), y_lens, enc_lens], dim=1)
        full = losses.rnnt_loss(logits, y, boundary, termination_symbol=0, reduction="sum")
    torch.testing.assert_close(out["pruned"], full, atol=1e-3, rtol=1e-4)
    assert out["num_frames"].item() == enc_lens.sum().item() == 18 + 14 + 11
    assert torch.isfinite(out["simple"])


def test_training_steps_reduce_loss_with_ctc_and_chunking() -> None:
    model = Transducer(tiny_config(vocab_size=12, use_ctc=True))
    feats, lens, targets = tiny_batch()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = []
    for step in range(16):
        out = model(feats, lens, targets, prune_range=3, am_scale=0.1, lm_scale=0.1, chunk_size=[2, -1][step % 2])
        loss = (0.5 * out["simple"] + out["pruned"] + 0.2 * out["ctc"]) / out["num_frames"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    assert all(p.grad is not None for n, p in model.named_parameters() if p.requires_grad), "unused parameters"
    assert history[-1] < 0.7 * history[0]


def test_targets_outside_vocabulary_raise() -> None:
    model = Transducer(tiny_config(vocab_size=12))
    feats, lens, _ = tiny_batch()
    with pytest.raises(TokenizerError, match="cut-b.*12"):
        model(feats, lens, [[1], [12], [2]], utterance_ids=["cut-a", "cut-b", "cut-c"])
    with pytest.raises(TokenizerError, match="blank"):
        model(feats, lens, [[1], [0, 3], [2]])
    modified = Transducer(tiny_config(vocab_size=12, rnnt_type="modified"))
    with pytest.raises(TokenizerError, match="do not fit"):
        modified(feats[:1, :8], lens[:1].clamp(max=8), [[1, 2, 3]])


def test_internal_lm_logits_ignore_encoder() -> None:
    """The ILM estimate is the joiner with the encoder's projected contribution (bias included)
    removed: ``W_out tanh(W_dec dec + b_dec) + b_out``. Checked three independent ways: by explicit
    matmuls on the joiner's weights, against the full joiner at an encoder frame whose projection
    is exactly zero, and across encoder inputs that change the full joint output but not it."""
    torch.manual_seed(0)
    config = tiny_config(vocab_size=12, predictor="lstm")
    model = Transducer(config).eval()
    joiner = model.joiner
    with torch.no_grad():
        dec = model.predictor(torch.tensor([[0, 4, 5]]))  # (N=1, U=3, decoder_dim)
        ilm = model.internal_lm_logits(dec)
        assert ilm.shape == (1, 3, 12)

        # 1. By hand from the weights.
        dec_proj = dec @ joiner.decoder_proj.weight.T + joiner.decoder_proj.bias
        by_hand = torch.tanh(dec_proj) @ joiner.output_linear.weight.T + joiner.output_linear.bias
        torch.testing.assert_close(ilm, by_hand)

        # 2. An encoder frame x with encoder_proj(x) = W x + b = 0 (W is square here) makes the
        # full joiner exactly the ILM; zero encoder *input* would still add the bias b.
        assert config.encoder_dim == config.joiner_dim
        w, b = joiner.encoder_proj.weight.double(), joiner.encoder_proj.bias.double()
        silent = torch.linalg.solve(w, -b).float()
        full_at_silent = joiner(joiner.project_encoder(silent)[None, None], joiner.project_decoder(dec))
        torch.testing.assert_close(full_at_silent, ilm, atol=1e-5, rtol=1e-5)
        zero_input = joiner(joiner.project_encoder(torch.zeros(config.encoder_dim))[None, None],
                            joiner.project_decoder(dec))
        assert (zero_input - ilm).abs().max() > 1e-3  # the bias matters: the test can tell

        # 3. Different audio -> different encoder output -> different full logits, same ILM.
        fulls = []
        for seed in range(3):
            torch.manual_seed(100 + seed)
            enc, _ = model.encode(torch.randn(1, 40, config.feature_dim), torch.tensor([40]))
            full = joiner(joiner.project_encoder(enc)[:, :, None], joiner.project_decoder(dec)[:, None])
            fulls.append(full)  # (1, T, U, V)
            torch.testing.assert_close(model.internal_lm_logits(dec), by_hand)
        for a, other in zip(fulls, fulls[1:]):
            assert (a - other).abs().max() > 1e-3
        assert (fulls[0] - by_hand[:, None]).abs().max() > 1e-3

        # Nor does it depend on the encoder's weights or the encoder projection.
        for param in [*model.encoder.parameters(), *joiner.encoder_proj.parameters()]:
            param.normal_()
        torch.testing.assert_close(model.internal_lm_logits(dec), by_hand)


def test_hat_joiner_separates_blank_from_the_token_distribution() -> None:
    """HAT: P(blank) = sigmoid(blank logit), the tokens share the rest in the proportions of their own
    softmax, which at the encoder-free point is exactly the internal LM; and changing the token rows
    of the output layer (what ILMA trains) leaves P(blank) unchanged at every encoder frame, where
    the plain softmax moves it."""
    torch.manual_seed(0)
    plain = Transducer(tiny_config(vocab_size=12, predictor="lstm")).eval()
    hat = Transducer(tiny_config(vocab_size=12, predictor="lstm", hat_joiner=True)).eval()
    hat.load_state_dict(plain.state_dict())
    with torch.no_grad():
        dec = hat.joiner.project_decoder(hat.predictor(torch.tensor([[0, 4, 5]])))  # (1, U, J)
        enc = hat.joiner.project_encoder(torch.randn(1, 7, 1, hat.config.encoder_dim))  # (1, T, 1, J)
        raw = plain.joiner(enc, dec[:, None])  # (1, T, U, V)
        out = hat.joiner(enc, dec[:, None])
        # a normalised distribution, built by hand from the raw logits
        torch.testing.assert_close(out.exp().sum(-1), torch.ones(out.shape[:-1]))
        torch.testing.assert_close(out[..., 0].exp(), torch.sigmoid(raw[..., 0]))
        tokens = raw[..., 1:].softmax(-1) * torch.sigmoid(-raw[..., :1])
        torch.testing.assert_close(out[..., 1:].exp(), tokens)
        # at the encoder-free point the token distribution is the internal LM
        free = hat.joiner.output_linear(torch.tanh(dec))
        free_hat = hat_log_probs(free, 0)
        ilm = hat.internal_lm_log_probs(dec, projected=True)
        torch.testing.assert_close(free_hat[..., 1:] - free_hat[..., 1:].logsumexp(-1, keepdim=True), ilm[..., 1:])
        # move the token rows as ILMA would: blank stays for HAT, moves for the plain softmax
        for model in (hat, plain):
            model.joiner.output_linear.weight[1:] += 0.5 * torch.randn_like(model.joiner.output_linear.weight[1:])
            model.joiner.output_linear.bias[1:] += 0.3
        torch.testing.assert_close(hat.joiner(enc, dec[:, None])[..., 0], out[..., 0])
        moved = plain.joiner(enc, dec[:, None]).log_softmax(-1)[..., 0] - raw.log_softmax(-1)[..., 0]
        assert moved.abs().max() > 1e-2


@pytest.mark.parametrize("hat", [False, True])
def test_factorized_joiner_adds_a_real_lm_to_acoustic_token_scores(hat: bool) -> None:
    """FNT: checked against the joiner's weights by hand (blank from the joint, tokens from the
    encoder alone plus the LM's log-softmax); its internal LM is that log-softmax at any encoder
    input; and moving the LM layer (what ILMA trains) shifts every token's score by exactly the LM's
    change, and with HAT leaves P(blank) where it was."""
    torch.manual_seed(0)
    model = Transducer(tiny_config(vocab_size=12, predictor="lstm", factorized_joiner=True, hat_joiner=hat)).eval()
    j = model.joiner
    with torch.no_grad():
        raw_dec = model.predictor(torch.tensor([[0, 4, 5]]))  # (1, U=3, D)
        raw_enc = torch.randn(1, 7, model.config.encoder_dim)  # (1, T=7, C)
        out = j(j.project_encoder(raw_enc)[:, :, None], j.project_decoder(raw_dec)[:, None])  # (1, T, U, V)
        assert out.shape == (1, 7, 3, 12)

        def by_hand(lm_weight: torch.Tensor, lm_bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            e = raw_enc @ j.encoder_proj.weight.T + j.encoder_proj.bias  # (1, T, J)
            d = raw_dec @ j.decoder_proj.weight.T + j.decoder_proj.bias  # (1, U, J)
            w, b = j.output_linear.weight, j.output_linear.bias
            blank = torch.tanh(e[:, :, None] + d[:, None]) @ w[0] + b[0]  # (1, T, U)
            acoustic = torch.tanh(e) @ w[1:].T + b[1:]  # (1, T, V-1)
            lm = (raw_dec @ lm_weight[1:].T + lm_bias[1:]).log_softmax(-1)  # (1, U, V-1)
            logits = torch.cat([blank[..., None], acoustic[:, :, None] + lm[:, None]], dim=-1)
            return (hat_log_probs(logits, 0) if hat else logits), lm

        expected, lm = by_hand(j.lm_output.weight, j.lm_output.bias)
        torch.testing.assert_close(out, expected)
        torch.testing.assert_close(model.internal_lm_log_probs(raw_dec)[..., 1:], lm)
        assert model.internal_lm_log_probs(raw_dec)[..., 0].eq(float("-inf")).all()
        # ILMA moves the LM layer: token scores move by the LM's change, blank (with HAT) not at all
        before = out.log_softmax(-1)
        j.lm_output.weight.add_(0.5 * torch.randn_like(j.lm_output.weight))
        j.lm_output.bias.add_(0.3 * torch.randn_like(j.lm_output.bias))
        after = j(j.project_encoder(raw_enc)[:, :, None], j.project_decoder(raw_dec)[:, None])
        _, new_lm = by_hand(j.lm_output.weight, j.lm_output.bias)
        if hat:
            torch.testing.assert_close(after[..., 0], out[..., 0])
            # HAT renormalises the tokens among themselves: their log-odds move by the LM's log-odds
            moved = (after[..., 1:] - after[..., 1:2]) - (out[..., 1:] - out[..., 1:2])
            torch.testing.assert_close(moved, (new_lm - new_lm[..., :1] - lm + lm[..., :1])[:, None].expand_as(moved))
        else:
            shift = (after - out)[..., 1:]
            torch.testing.assert_close(shift, (new_lm - lm)[:, None].expand_as(shift))
            assert (after.log_softmax(-1) - before).abs().max() > 1e-3


def test_fnt_vocabulary_predictor_feeds_the_lm_alone_and_lm_scale_weighs_it() -> None:
    """FNT's own design: the LM reads only the vocabulary predictor and the blank joint only the
    blank predictor, so changing the vocabulary predictor (what ``asr adapt --update
    vocab-predictor`` trains) moves the token scores by exactly the LM's change and leaves HAT's
    blank as it was; stepping the pair of predictors equals their forward; ``factorized_lm_scale``
    multiplies the LM's log-probs in the token scores and nothing else."""
    torch.manual_seed(0)
    overrides = dict(predictor="lstm", factorized_joiner=True, hat_joiner=True, vocab_predictor=True)
    model = Transducer(tiny_config(vocab_size=12, **overrides)).eval()
    scaled = Transducer(tiny_config(vocab_size=12, factorized_lm_scale=2.0, **overrides)).eval()
    scaled.load_state_dict(model.state_dict())
    j, d = model.joiner, model.config.decoder_dim
    y = torch.tensor([[0, 4, 5, 6]])
    raw_enc = torch.randn(1, 6, model.config.encoder_dim)
    with torch.no_grad():
        dec = model.predictor(y)
        assert dec.shape == (1, 4, 2 * d)
        torch.testing.assert_close(dec[..., :d], model.predictor.blank(y))
        torch.testing.assert_close(dec[..., d:], model.predictor.vocab(y))
        state, steps = model.predictor.init_state(1), []
        for token in y[0]:
            out, state = model.predictor.step(token[None], state)
            steps.append(out)
        torch.testing.assert_close(torch.stack(steps, dim=1), dec)
        lm = (model.predictor.vocab(y) @ j.lm_output.weight[1:].T + j.lm_output.bias[1:]).log_softmax(-1)
        torch.testing.assert_close(model.internal_lm_log_probs(dec)[..., 1:], lm)

        def joint(m: Transducer) -> torch.Tensor:
            return m.joiner(m.joiner.project_encoder(raw_enc)[:, :, None], m.joiner.project_decoder(m.predictor(y))[:, None])

        out, out2 = joint(model), joint(scaled)
        torch.testing.assert_close(out2[..., 0], out[..., 0])
        odds = [o[..., 1:] - o[..., 1:2] for o in (out, out2)]  # HAT: token log-odds against token 1
        torch.testing.assert_close(odds[1] - odds[0], (lm - lm[..., :1])[:, None].expand_as(odds[0]))
        for p in model.predictor.vocab.parameters():
            p.add_(0.3 * torch.randn_like(p))
        moved = joint(model)
        new_lm = model.internal_lm_log_probs(model.predictor(y))[..., 1:]
        torch.testing.assert_close(moved[..., 0], out[..., 0])
        shift = (moved[..., 1:] - moved[..., 1:2]) - odds[0]
        torch.testing.assert_close(shift, (new_lm - new_lm[..., :1] - lm + lm[..., :1])[:, None].expand_as(shift))
        assert shift.abs().max() > 1e-2


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="num_heads"):
        tiny_config(encoder_dim=30, num_heads=4)
    with pytest.raises(ValueError, match="predictor"):
        tiny_config(predictor="transformer")
    with pytest.raises(ValueError, match="vocab_predictor needs factorized_joiner"):
        tiny_config(predictor="lstm", vocab_predictor=True)
    with pytest.raises(ValueError, match="factorized_lm_scale=-1"):
        tiny_config(factorized_joiner=True, factorized_lm_scale=-1.0)


# ---------------------------------------------------------------------------- model dirs


def make_lang_dir(path):
    from asr.text.tokenizer import train_tokenizer

    return train_tokenizer(["ONE TWO THREE FOUR FIVE", "SIX SEVEN EIGHT NINE ZERO OH"] * 5, path, 18, model_type="char")


def test_model_dir_round_trip(tmp_path) -> None:
    from asr.models import load_model_dir, save_model_dir

    tokenizer = make_lang_dir(tmp_path / "lang")
    config = tiny_config(vocab_size=tokenizer.vocab_size, predictor="lstm")
    model = Transducer(config)
    save_model_dir(tmp_path / "model", model, config, tmp_path / "lang")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["bpe.model", "config.json", "model.pt", "tokens.txt"]
    loaded = load_model_dir(tmp_path / "model")
    assert loaded.config == config and not loaded.model.training
    assert loaded.tokenizer.decode(loaded.tokenizer.encode("NINE ONE")) == "NINE ONE"
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[k], v)


def test_incompatible_checkpoint_names_keys_and_shapes(tmp_path) -> None:
    import json

    from asr.errors import ModelDirError
    from asr.models import load_model_dir, save_model_dir

    tokenizer = make_lang_dir(tmp_path / "lang")
    config = tiny_config(vocab_size=tokenizer.vocab_size)
    save_model_dir(tmp_path / "model", Transducer(config), config, tmp_path / "lang")
    cfg_path = tmp_path / "model" / "config.json"
    payload = json.loads(cfg_path.read_text())
    payload["model"]["encoder_dim"] = 48  # weights were saved with 32
    payload["model"]["num_encoder_layers"] = 3
    cfg_path.write_text(json.dumps(payload))
    with pytest.raises(ModelDirError, match=r"missing .*encoder\.layers\.2") as err:
        load_model_dir(tmp_path / "model")
    assert "encoder.embed.out.weight: checkpoint (32, 152) vs config (48, 152)" in str(err.value)
    payload["model"] = {**config.to_dict(), "vocab_size": 40}
    cfg_path.write_text(json.dumps(payload))
    with pytest.raises(ModelDirError, match="output_linear"):
        load_model_dir(tmp_path / "model")
    payload["model"] = {**config.to_dict(), "n_layers": 4}
    cfg_path.write_text(json.dumps(payload))
    with pytest.raises(ModelDirError, match="unknown ModelConfig keys.*n_layers"):
        load_model_dir(tmp_path / "model")
    (tmp_path / "model" / "config.json").unlink()
    with pytest.raises(ModelDirError, match="config.json: missing"):
        load_model_dir(tmp_path / "model")
    with pytest.raises(ModelDirError, match="does not exist"):
        load_model_dir(tmp_path / "nowhere")


def test_feature_statistics_come_from_first_training_batch() -> None:
    model = Transducer(tiny_config(vocab_size=12))
    feats, lens, targets = tiny_batch()
    feats = 4.0 * feats - 9.0
    model.eval()
    model(feats, lens, targets)
    assert not bool(model.encoder.feature_norm.initialized)  # eval never estimates
    model.train()
    model(feats, lens, targets)
    valid = torch.cat([feats[i, :n] for i, n in enumerate(lens.tolist())]).double()  # padding excluded
    norm = model.encoder.feature_norm
    torch.testing.assert_close(norm.mean.double(), valid.mean(0), atol=1e-4, rtol=0)
    torch.testing.assert_close(1 / norm.inv_std.double(), valid.std(0, unbiased=False), atol=1e-4, rtol=1e-4)
    before = norm.mean.clone()
    model(feats + 100.0, lens, targets)  # later batches leave the statistics alone
    assert torch.equal(norm.mean, before)
    assert {"encoder.feature_norm.mean", "encoder.feature_norm.inv_std"} <= set(model.state_dict())


def test_a_bin_without_spread_in_the_first_batch_is_not_amplified() -> None:
    """8 kHz audio at 16 kHz features: the top bins sit at the fbank floor in the first batch. Their
    later values (resampler leakage, a few tenths of a nat) must not come out as +-30 inputs."""
    from asr.models.feature_norm import FeatureNormalizer

    norm = FeatureNormalizer(4).train()
    first = torch.randn(2, 50, 4) * 3.0 - 8.0
    first[..., 3] = -15.94 + 1e-4 * torch.randn(2, 50)  # the floor, with float noise
    norm(first, torch.tensor([50, 50]))
    assert float(norm.inv_std[3]) <= 2.0  # divided by at most the 0.5 floor
    torch.testing.assert_close(1 / norm.inv_std[:3].double(), first[..., :3].reshape(-1, 3).double().std(0, unbiased=False),
                               atol=1e-4, rtol=1e-4)  # bins with speech-like spread are untouched
    later = first.clone()
    later[..., 3] += 0.3
    assert float(norm.eval()(later)[..., 3].abs().max()) < 1.0


@pytest.mark.parametrize("predictor", ["stateless", "lstm"])
def test_ilmt_term_is_the_internal_lm_cross_entropy_over_non_blank_tokens(predictor: str) -> None:
    """The ILM loss recomputed utterance by utterance, with the blank column cut out of the joiner's
    output instead of masked, and independent of the audio."""
    from asr.models.config import tiny_config
    from asr.models.model import Transducer
    from asr.training.config import LossConfig

    torch.manual_seed(3)
    model = Transducer(tiny_config(vocab_size=9, predictor=predictor)).eval()
    targets = [[3, 1, 4, 1], [5], [], [2, 6]]
    feats, lens = torch.randn(4, 90, 80), torch.tensor([90, 80, 70, 60])
    out = model(feats, lens, targets, internal_lm=True)
    expected, count = torch.tensor(0.0), 0
    for seq in targets:
        context = torch.tensor([[model.blank_id] + seq])
        dec = model.predictor(context)[0]  # (U + 1, D)
        hidden = torch.tanh(dec @ model.joiner.decoder_proj.weight.T + model.joiner.decoder_proj.bias)
        logits = hidden @ model.joiner.output_linear.weight.T + model.joiner.output_linear.bias  # (U + 1, V)
        non_blank = torch.cat([logits[:, : model.blank_id], logits[:, model.blank_id + 1:]], dim=1)
        log_probs = non_blank.log_softmax(-1)
        for u, token in enumerate(seq):
            expected -= log_probs[u, token - 1 if token > model.blank_id else token]
            count += 1
    assert torch.allclose(out["ilm"], expected, rtol=1e-5) and int(out["num_tokens"]) == count
    other = model(torch.randn(4, 90, 80) * 3, lens, targets, internal_lm=True)
    assert torch.allclose(other["ilm"], out["ilm"]) and not torch.allclose(other["pruned"], out["pruned"])
    terms = model.objectives({"features": feats, "feature_lens": lens, "targets": targets, "cut_ids": list("abcd")},
                             LossConfig(ilm_loss_scale=0.3), step=None)
    assert terms.terms["ilm"].weight == 0.3 and terms.terms["ilm"].normalizer == count
    assert "ilm" not in model.objectives({"features": feats, "feature_lens": lens, "targets": targets,
                                          "cut_ids": list("abcd")}, LossConfig(), step=None).terms
