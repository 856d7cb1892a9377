"""Greedy and modified beam search against brute-force references on tiny random models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from asr.decoding.beam_search import modified_beam_search
from asr.decoding.greedy import greedy_search_batch
from asr.models.config import tiny_config
from asr.models.model import Transducer
from tiny_model import single_thread  # noqa: F401 (autouse fixture)


def random_model(vocab_size: int = 5, predictor: str = "stateless", seed: int = 0) -> Transducer:
    torch.manual_seed(seed)
    model = Transducer(tiny_config(vocab_size=vocab_size, predictor=predictor)).eval()
    with torch.no_grad():  # large random weights so that tokens, not only blanks, win
        for p in model.parameters():
            p.normal_(0.0, 0.6)
    return model


def predictor_out(model: Transducer, tokens: list[int]) -> torch.Tensor:
    """Projected predictor output after ``tokens``, from the training-time forward (J,)."""
    y = torch.tensor([[model.blank_id] + tokens])
    return model.joiner.project_decoder(model.predictor(y)[0, -1])


def argmax_walk(model: Transducer, enc: torch.Tensor, max_sym: int) -> tuple[list[int], list[int]]:
    """Reference greedy search of one utterance. enc: (T, C)."""
    tokens: list[int] = []
    times: list[int] = []
    for t in range(enc.size(0)):
        for _ in range(max_sym):
            logits = model.joiner(model.joiner.project_encoder(enc[t]), predictor_out(model, tokens))
            best = int(logits.argmax())
            if best == model.blank_id:
                break
            tokens.append(best)
            times.append(t)
    return tokens, times


def best_sequence_by_enumeration(model: Transducer, enc: torch.Tensor) -> tuple[tuple[int, ...], float]:
    """Sum over all modified-topology alignments (one symbol per frame) per token sequence; the best.

    Depth-first over every alignment; the log-probabilities after a token prefix are cached."""
    enc_proj = model.joiner.project_encoder(enc)
    cache: dict[tuple[int, tuple[int, ...]], list[float]] = {}

    def log_probs(t: int, tokens: tuple[int, ...]) -> list[float]:
        if (t, tokens) not in cache:
            logits = model.joiner(enc_proj[t], predictor_out(model, list(tokens)))
            cache[t, tokens] = logits.log_softmax(-1).tolist()
        return cache[t, tokens]

    totals: dict[tuple[int, ...], float] = {}  # token sequence -> log-sum over its alignments

    def walk(t: int, tokens: tuple[int, ...], score: float) -> None:
        if t == enc.size(0):
            totals[tokens] = float(np.logaddexp(totals[tokens], score)) if tokens in totals else score
            return
        for sym, lp in enumerate(log_probs(t, tokens)):
            walk(t + 1, tokens if sym == model.blank_id else tokens + (sym,), score + lp)

    walk(0, (), 0.0)
    assert float(np.logaddexp.reduce(list(totals.values()))) == pytest.approx(0.0, abs=1e-4)  # all alignments
    best = max(totals, key=totals.__getitem__)
    return best, totals[best]


@pytest.mark.parametrize("predictor", ["stateless", "lstm"])
@pytest.mark.parametrize("max_sym", [1, 3])
def test_greedy_equals_argmax_walk(predictor: str, max_sym: int) -> None:
    model = random_model(vocab_size=6, predictor=predictor)
    enc = torch.randn(3, 9, model.config.encoder_dim)
    lens = torch.tensor([9, 4, 7])
    with torch.no_grad():
        hyps = greedy_search_batch(model, enc, lens, max_sym_per_frame=max_sym)
        emitted = 0
        for i, hyp in enumerate(hyps):
            tokens, times = argmax_walk(model, enc[i, : lens[i]], max_sym)
            assert hyp.tokens == tokens
            assert hyp.timestamps == times
            emitted += len(tokens)
    assert emitted > 3  # the check is vacuous if the model only emits blanks
    if max_sym == 3:
        assert any(len(h.timestamps) != len(set(h.timestamps)) for h in hyps), "no frame emitted twice"


@pytest.mark.parametrize("predictor", ["stateless", "lstm"])
def test_large_beam_finds_exhaustive_best(predictor: str) -> None:
    model = random_model(vocab_size=3, predictor=predictor, seed=1)
    num_frames = 4
    enc = torch.randn(2, num_frames, model.config.encoder_dim)
    lens = torch.tensor([num_frames, num_frames])
    with torch.no_grad():
        # beam >= every (hypothesis, symbol) pair keeps all prefixes: the search is exact
        hyps = modified_beam_search(model, enc, lens, beam=64)
        for i, hyp in enumerate(hyps):
            tokens, score = best_sequence_by_enumeration(model, enc[i])
            assert tuple(hyp.tokens) == tokens
            assert math.isclose(hyp.log_prob, score, abs_tol=1e-4)
            assert len(hyp.timestamps) == len(hyp.tokens)
            assert hyp.timestamps == sorted(set(hyp.timestamps))  # one token per frame at most


def test_beam_one_equals_greedy() -> None:
    model = random_model(vocab_size=7, seed=2)
    enc = torch.randn(4, 12, model.config.encoder_dim)
    lens = torch.tensor([12, 3, 8, 11])
    with torch.no_grad():
        greedy = greedy_search_batch(model, enc, lens, max_sym_per_frame=1)
        beam = modified_beam_search(model, enc, lens, beam=1)
    assert [h.tokens for h in beam] == [h.tokens for h in greedy]
    assert [h.timestamps for h in beam] == [h.timestamps for h in greedy]


def test_beam_four_batched_equals_one_by_one() -> None:
    model = random_model(vocab_size=7, seed=3)
    enc = torch.randn(3, 10, model.config.encoder_dim)
    lens = torch.tensor([10, 5, 8])
    with torch.no_grad():
        batched = modified_beam_search(model, enc, lens, beam=4)
        single = [modified_beam_search(model, enc[i:i + 1, : lens[i]], lens[i:i + 1], beam=4)[0] for i in range(3)]
    for b, s in zip(batched, single):
        assert b.tokens == s.tokens
        assert math.isclose(b.log_prob, s.log_prob, abs_tol=1e-4)


def test_zero_length_utterance_gives_empty_hypothesis() -> None:
    model = random_model()
    enc = torch.randn(2, 5, model.config.encoder_dim)
    lens = torch.tensor([5, 0])
    with torch.no_grad():
        assert greedy_search_batch(model, enc, lens)[1].tokens == []
        assert modified_beam_search(model, enc, lens)[1].tokens == []
