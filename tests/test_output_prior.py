"""output_bias_init: prior starts the joiner and CTC head at the training data's token prior."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from asr.models import build_model, tiny_config
from asr.training.config import load_train_config
from asr.training.output_prior import init_output_biases, measure_token_prior

CHARS = {"A": 1, "B": 2, "C": 3}


class _CharTokenizer:
    def encode(self, text: str) -> list[int]:
        return [CHARS[c] for c in text if c != " "]


def _cut(text: str, duration: float) -> SimpleNamespace:
    sup = SimpleNamespace(text=text, start=0.0, duration=duration)
    return SimpleNamespace(id=text, duration=duration, supervisions=[sup], custom=None)


def test_prior_counts_tokens_and_frames_by_hand():
    # 1.0 s + 0.6 s at 40 ms = 40 frames; tokens A A B A (C unseen, counted once so it stays finite)
    prior = measure_token_prior([_cut("AAB", 1.0), _cut("A", 0.6)], _CharTokenizer(), vocab_size=4,
                                frame_shift_s=0.04)
    assert prior.num_frames == pytest.approx(40.0)
    assert prior.counts.tolist() == [0.0, 4.0, 2.0, 1.0]
    transducer = prior.transducer_log_prior().exp()
    assert transducer.tolist() == pytest.approx([40 / 47, 4 / 47, 2 / 47, 1 / 47])
    ctc = prior.ctc_log_prior().exp()
    assert ctc.tolist() == pytest.approx([1 - 7 / 40, 4 / 40, 2 / 40, 1 / 40])
    assert transducer.sum().item() == pytest.approx(1.0) and ctc.sum().item() == pytest.approx(1.0)


@pytest.mark.parametrize("hat", [False, True])
def test_initialised_model_outputs_the_prior_when_its_output_weights_are_zero(hat: bool):
    model = build_model(tiny_config(vocab_size=4, use_ctc=True, hat_joiner=hat))
    prior = measure_token_prior([_cut("ABCA", 1.0)], _CharTokenizer(), vocab_size=4, frame_shift_s=0.04)
    assert init_output_biases(model, prior) == ["joiner.output_linear", "ctc.output"]
    with torch.no_grad():
        model.joiner.output_linear.weight.zero_()
        model.ctc.output.weight.zero_()
    enc = torch.randn(2, 5, model.config.joiner_dim)
    dec = torch.randn(2, 1, model.config.joiner_dim)
    joint = model.joiner(enc.unsqueeze(2), dec.unsqueeze(1)).log_softmax(-1)
    expected = prior.transducer_log_prior().float()
    assert torch.allclose(joint, expected.expand_as(joint), atol=1e-5)
    ctc = model.ctc(torch.randn(2, 5, model.config.encoder_dim))
    assert torch.allclose(ctc, prior.ctc_log_prior().float().expand_as(ctc), atol=1e-5)
    # blank dominates: 25 frames against 7 token counts (A A B C, each unit counted once more)
    assert math.isclose(joint[0, 0, 0, 0].exp().item(), 25 / 32, rel_tol=1e-4)


def test_unknown_output_bias_init_is_a_clear_error():
    with pytest.raises(ValueError, match="output_bias_init must be one of.*'default'.*got 'blank'"):
        load_train_config(None, ["output_bias_init=blank"])


def test_no_cuts_is_a_clear_error():
    with pytest.raises(ValueError, match="no training cuts"):
        measure_token_prior([], _CharTokenizer(), vocab_size=4, frame_shift_s=0.04)
