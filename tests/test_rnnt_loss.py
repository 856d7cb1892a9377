"""RNN-T losses against brute-force references: every alignment enumerated on tiny lattices."""

from __future__ import annotations

import itertools

import pytest
import torch

from asr.errors import LossInputError
from asr.losses import (
    EosWindow,
    do_rnnt_pruning,
    get_rnnt_prune_ranges,
    mutual_information_recursion,
    rnnt_loss,
    rnnt_loss_pruned,
    rnnt_loss_simple,
    rnnt_loss_smoothed,
)

TOPOLOGIES = ("regular", "modified")


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: intra-op threads only add synchronisation cost on a shared 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def brute_force_score(
    logits: torch.Tensor, symbols: list[int], num_frames: int, rnnt_type: str, blank: int = 0, delay_penalty: float = 0.0
) -> torch.Tensor:
    """log sum over every alignment of one utterance. logits (T, U+1, V), differentiable.

    Regular: T_n blanks and U_n symbols in any order, the last move a blank. Modified: one
    move a frame, U_n of the T_n frames emit. The delay penalty adds
    ``delay_penalty * ((T_n - 1) / 2 - t)`` for each symbol emitted at frame t.
    """
    logp = logits.log_softmax(dim=-1)
    U = len(symbols)
    offset = (num_frames - 1) / 2
    scores = []
    if rnnt_type == "regular":
        moves = num_frames + U
        for emit_at in itertools.combinations(range(moves - 1), U):
            t = u = 0
            score = logits.new_zeros(())
            for i in range(moves):
                if i in emit_at:
                    score = score + logp[t, u, symbols[u]] + delay_penalty * (offset - t)
                    u += 1
                else:
                    score = score + logp[t, u, blank]
                    t += 1
            scores.append(score)
    else:
        for emit_at in itertools.combinations(range(num_frames), U):
            u = 0
            score = logits.new_zeros(())
            for t in range(num_frames):
                if t in emit_at:
                    score = score + logp[t, u, symbols[u]] + delay_penalty * (offset - t)
                    u += 1
                else:
                    score = score + logp[t, u, blank]
            scores.append(score)
    return torch.logsumexp(torch.stack(scores), dim=0)


def naive_recursion(px: torch.Tensor, py: torch.Tensor, rnnt_type: str) -> torch.Tensor:
    """Cell-by-cell lattice recursion of one utterance with plain autograd. px (S, T+1|T), py (S+1, T)."""
    S1, T = py.shape
    neg_inf = px.new_tensor(float("-inf"))
    p = [[neg_inf] * (T + 1) for _ in range(S1)]
    p[0][0] = px.new_zeros(())
    for t in range(T + 1):
        for s in range(S1):
            if (s == 0 and t == 0) or (rnnt_type == "modified" and s > t):
                continue  # the origin, or unreachable (stays -inf without a nan gradient)
            terms = []
            if t > 0:
                terms.append(p[s][t - 1] + py[s, t - 1])
            if s > 0 and rnnt_type == "regular":
                terms.append(p[s - 1][t] + px[s - 1, t])
            if s > 0 and t > 0 and rnnt_type == "modified":
                terms.append(p[s - 1][t - 1] + px[s - 1, t - 1])
            p[s][t] = torch.logsumexp(torch.stack(terms), 0)
    return p[S1 - 1][T]


def make_boundary(symbol_lens: list[int], frame_lens: list[int]) -> torch.Tensor:
    return torch.tensor([[0, 0, u, t] for u, t in zip(symbol_lens, frame_lens)], dtype=torch.int64)


@pytest.mark.parametrize("rnnt_type", TOPOLOGIES)
def test_full_loss_matches_brute_force_value_and_gradient(rnnt_type: str) -> None:
    torch.manual_seed(0)
    N, T, U, V = 2, 4, 3, 4
    logits = torch.randn(N, T, U + 1, V, dtype=torch.float64, requires_grad=True)
    symbols = torch.randint(1, V, (N, U))
    frame_lens, symbol_lens = [4, 3], [3, 2]
    boundary = make_boundary(symbol_lens, frame_lens)
    loss = rnnt_loss(logits, symbols, boundary, termination_symbol=0, rnnt_type=rnnt_type, reduction="none")
    reference = torch.stack(
        [
            -brute_force_score(logits[n], symbols[n, : symbol_lens[n]].tolist(), frame_lens[n], rnnt_type)
            for n in range(N)
        ]
    )
    torch.testing.assert_close(loss, reference)
    # Positive, negative and mixed-sign output gradients take different backward paths.
    for weights in ([0.7, 1.3], [-0.7, -1.3], [0.7, -1.3]):
        w = torch.tensor(weights, dtype=torch.float64)
        (grad,) = torch.autograd.grad((loss * w).sum(), logits, retain_graph=True)
        (grad_ref,) = torch.autograd.grad((reference * w).sum(), logits, retain_graph=True)
        torch.testing.assert_close(grad, grad_ref)
    # Frames and positions past each utterance's end get exactly zero gradient.
    assert grad[1, 3:].abs().max() == 0
    assert grad[1, :, 3:].abs().max() == 0


@pytest.mark.parametrize("rnnt_type", TOPOLOGIES)
def test_lattice_recursion_matches_cellwise_recursion_and_returns_occupations(rnnt_type: str) -> None:
    torch.manual_seed(1)
    N, S, T = 2, 3, 4
    px = torch.randn(N, S, T + 1 if rnnt_type == "regular" else T, dtype=torch.float64, requires_grad=True)
    py = torch.randn(N, S + 1, T, dtype=torch.float64, requires_grad=True)
    if rnnt_type == "regular":
        px.data[:, :, T] = float("-inf")
    scores, (px_grad, py_grad) = mutual_information_recursion(px, py, return_grad=True)
    reference = torch.stack([naive_recursion(px[n], py[n], rnnt_type) for n in range(N)])
    torch.testing.assert_close(scores, reference)
    px_ref, py_ref = torch.autograd.grad(reference.sum(), [px, py])
    torch.testing.assert_close(px_grad, px_ref)
    torch.testing.assert_close(py_grad, py_ref)
    if rnnt_type == "regular":
        # With normalized px/py every path crosses every frame with exactly one blank; with
        # unnormalized ones the occupations still sum to 1 over each frame's blank arcs.
        torch.testing.assert_close(py_grad.sum(dim=1), torch.ones(N, T, dtype=torch.float64))


def test_gradcheck_full_loss() -> None:
    torch.manual_seed(2)
    for rnnt_type in TOPOLOGIES:
        logits = torch.randn(2, 3, 3, 4, dtype=torch.float64, requires_grad=True)
        symbols = torch.tensor([[1, 3], [2, 2]])
        boundary = make_boundary([2, 1], [3, 2])
        assert torch.autograd.gradcheck(
            lambda x: rnnt_loss(x, symbols, boundary, rnnt_type=rnnt_type, reduction="none"), (logits,)
        )


def test_gradcheck_simple_smoothed_and_pruned() -> None:
    torch.manual_seed(3)
    N, T, U, V = 2, 4, 2, 4
    am = torch.randn(N, T, V, dtype=torch.float64, requires_grad=True)
    lm = torch.randn(N, U + 1, V, dtype=torch.float64, requires_grad=True)
    symbols = torch.tensor([[1, 3], [2, 1]])
    boundary = make_boundary([2, 1], [4, 3])
    for rnnt_type in TOPOLOGIES:
        assert torch.autograd.gradcheck(
            lambda a, b: rnnt_loss_simple(b, a, symbols, 0, boundary, rnnt_type, "none"), (am, lm)
        )
        assert torch.autograd.gradcheck(
            lambda a, b: rnnt_loss_smoothed(b, a, symbols, 0, 0.2, 0.1, boundary, rnnt_type, "none", delay_penalty=0.3),
            (am, lm),
        )
        _, (px_grad, py_grad) = rnnt_loss_simple(lm, am, symbols, 0, boundary, rnnt_type, "none", return_grad=True)
        ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range=2)
        logits = torch.randn(N, T, 2, V, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(
            lambda x: rnnt_loss_pruned(x, symbols, ranges, 0, boundary, rnnt_type, "none"), (logits,)
        )


def joiner_fixture(N: int, T: int, U: int, C: int, V: int, seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "am": torch.randn(N, T, C, generator=generator, dtype=torch.float64, requires_grad=True),
        "lm": torch.randn(N, U + 1, C, generator=generator, dtype=torch.float64, requires_grad=True),
        "weight": torch.randn(V, C, generator=generator, dtype=torch.float64),
        "symbols": torch.randint(1, V, (N, U), generator=generator),
    }


@pytest.mark.parametrize("rnnt_type", TOPOLOGIES)
def test_pruned_equals_full_when_range_covers_every_symbol(rnnt_type: str) -> None:
    N, T, U, C, V = 3, 6, 4, 5, 7
    f = joiner_fixture(N, T, U, C, V, seed=4)
    boundary = make_boundary([4, 2, 3], [6, 5, 4])

    def joiner(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.tanh(a + b) @ f["weight"].T

    full = rnnt_loss(joiner(f["am"][:, :, None], f["lm"][:, None]), f["symbols"], boundary, rnnt_type=rnnt_type, reduction="none")
    grads_full = torch.autograd.grad(full.sum(), [f["am"], f["lm"]])
    simple_am, simple_lm = f["am"] @ f["weight"].T, f["lm"] @ f["weight"].T
    _, (px_grad, py_grad) = rnnt_loss_simple(
        simple_lm.detach(), simple_am.detach(), f["symbols"], 0, boundary, rnnt_type, "none", return_grad=True
    )
    ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range=U + 3)  # clipped to U + 1
    assert ranges.shape == (N, T, U + 1)
    am_pruned, lm_pruned = do_rnnt_pruning(f["am"], f["lm"], ranges)
    pruned = rnnt_loss_pruned(joiner(am_pruned, lm_pruned), f["symbols"], ranges, 0, boundary, rnnt_type, "none")
    torch.testing.assert_close(pruned, full)
    grads_pruned = torch.autograd.grad(pruned.sum(), [f["am"], f["lm"]])
    for g_pruned, g_full in zip(grads_pruned, grads_full):
        torch.testing.assert_close(g_pruned, g_full)


@pytest.mark.parametrize("rnnt_type", TOPOLOGIES)
def test_narrow_pruning_keeps_a_valid_lattice(rnnt_type: str) -> None:
    torch.manual_seed(5)
    N, T, U, V = 4, 12, 6, 9
    am = torch.randn(N, T, V, dtype=torch.float64)
    lm = torch.randn(N, U + 1, V, dtype=torch.float64)
    symbols = torch.randint(1, V, (N, U))
    symbol_lens, frame_lens = [6, 3, 0, 5], [12, 7, 4, 9]
    boundary = make_boundary(symbol_lens, frame_lens)
    full = rnnt_loss(am[:, :, None] + lm[:, None], symbols, boundary, rnnt_type=rnnt_type, reduction="none")
    _, (px_grad, py_grad) = rnnt_loss_simple(lm, am, symbols, 0, boundary, rnnt_type, "none", return_grad=True)
    s_range = 3
    ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
    start = ranges[:, :, 0]
    max_step = s_range - 1 if rnnt_type == "regular" else 1
    steps = start[:, 1:] - start[:, :-1]
    assert bool((start[:, 0] == 0).all())
    assert bool((steps >= 0).all()) and bool((steps <= max_step).all())
    assert bool((ranges >= 0).all()) and bool((ranges <= U).all())
    for n in range(N):
        assert int(ranges[n, frame_lens[n] - 1, -1]) >= symbol_lens[n], "last frame must reach U_n"
    am_pruned, lm_pruned = do_rnnt_pruning(am, lm, ranges)
    pruned = rnnt_loss_pruned(am_pruned + lm_pruned, symbols, ranges, 0, boundary, rnnt_type, "none")
    assert bool(torch.isfinite(pruned).all())
    # Pruning removes paths, so the pruned loss is never below the full one.
    assert bool((pruned >= full - 1e-9).all())


@pytest.mark.parametrize("rnnt_type", TOPOLOGIES)
def test_simple_loss_equals_full_loss_of_am_plus_lm(rnnt_type: str) -> None:
    torch.manual_seed(6)
    N, T, U, V = 2, 5, 3, 6
    am = (3 * torch.randn(N, T, V, dtype=torch.float64)).requires_grad_()
    lm = (3 * torch.randn(N, U + 1, V, dtype=torch.float64)).requires_grad_()
    symbols = torch.randint(0, V, (N, U))
    boundary = make_boundary([3, 2], [5, 4])
    simple = rnnt_loss_simple(lm, am, symbols, 2, boundary, rnnt_type, "sum")
    full = rnnt_loss(am[:, :, None] + lm[:, None], symbols, boundary, termination_symbol=2, rnnt_type=rnnt_type, reduction="sum")
    torch.testing.assert_close(simple, full)
    for g_simple, g_full in zip(torch.autograd.grad(simple, [am, lm]), torch.autograd.grad(full, [am, lm])):
        torch.testing.assert_close(g_simple, g_full)
    smoothed_zero = rnnt_loss_smoothed(lm, am, symbols, 2, 0.0, 0.0, boundary, rnnt_type, "sum")
    torch.testing.assert_close(smoothed_zero, full)


@pytest.mark.parametrize("rnnt_type", TOPOLOGIES)
def test_smoothed_loss_matches_explicit_interpolation(rnnt_type: str) -> None:
    """Smoothed = lattice over an interpolation of log-probs of softmax(am + lm), softmax(lm)
    and softmax(am + log unigram), the unigram being the batch mean of softmax(lm)."""
    torch.manual_seed(11)
    N, T, U, V = 2, 5, 3, 6
    am, lm = torch.randn(N, T, V, dtype=torch.float64), torch.randn(N, U + 1, V, dtype=torch.float64)
    symbols = torch.randint(1, V, (N, U))
    lm_scale, am_scale = 0.25, 0.15
    unigram = lm.softmax(-1).mean(dim=(0, 1))
    joint = (am[:, :, None] + lm[:, None]).log_softmax(-1)  # (N, T, U+1, V)
    lm_only = lm.log_softmax(-1)[:, None].expand(N, T, U + 1, V)
    am_only = (am + unigram.log()).log_softmax(-1)[:, :, None].expand(N, T, U + 1, V)
    mixed = (1 - lm_scale - am_scale) * joint + lm_scale * lm_only + am_scale * am_only
    index = symbols[:, None, :, None].expand(N, T, U, 1)
    px = torch.gather(mixed[:, :, :U], 3, index).squeeze(-1).permute(0, 2, 1)  # (N, U, T)
    py = mixed[..., 0].permute(0, 2, 1)  # (N, U+1, T)
    if rnnt_type == "regular":
        px = torch.cat([px, torch.full((N, U, 1), float("-inf"), dtype=px.dtype)], dim=2)
    expected = -mutual_information_recursion(px, py)
    got = rnnt_loss_smoothed(lm, am, symbols, 0, lm_scale, am_scale, None, rnnt_type, "none")
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("rnnt_type", TOPOLOGIES)
def test_batch_with_boundary_equals_separate_utterances(rnnt_type: str) -> None:
    torch.manual_seed(7)
    N, T, U, V = 3, 7, 4, 6
    logits = torch.randn(N, T, U + 1, V)
    am, lm = torch.randn(N, T, V), torch.randn(N, U + 1, V)
    symbols = torch.randint(1, V, (N, U))
    symbol_lens, frame_lens = [4, 1, 3], [7, 2, 5]
    boundary = make_boundary(symbol_lens, frame_lens)
    batched = rnnt_loss(logits, symbols, boundary, rnnt_type=rnnt_type, reduction="none")
    batched_simple = rnnt_loss_simple(lm, am, symbols, 0, boundary, rnnt_type, "none")
    for n in range(N):
        u, t = symbol_lens[n], frame_lens[n]
        alone = rnnt_loss(logits[n : n + 1, :t, : u + 1], symbols[n : n + 1, :u], rnnt_type=rnnt_type, reduction="none")
        torch.testing.assert_close(batched[n : n + 1], alone)
        alone_simple = rnnt_loss_simple(lm[n : n + 1, : u + 1], am[n : n + 1, :t], symbols[n : n + 1, :u], 0, None, rnnt_type, "none")
        torch.testing.assert_close(batched_simple[n : n + 1], alone_simple)


@pytest.mark.parametrize("rnnt_type", TOPOLOGIES)
def test_batch_without_any_symbols(rnnt_type: str) -> None:
    """U = 0: only blanks; the loss is -sum_t log p(blank | t) and pruning still works."""
    torch.manual_seed(12)
    N, T, V = 2, 5, 4
    am, lm = torch.randn(N, T, V, dtype=torch.float64), torch.randn(N, 1, V, dtype=torch.float64)
    symbols = torch.zeros(N, 0, dtype=torch.int64)
    expected = -(am + lm).log_softmax(-1)[..., 0].sum(dim=1)
    full = rnnt_loss(am[:, :, None] + lm[:, None], symbols, rnnt_type=rnnt_type, reduction="none")
    torch.testing.assert_close(full, expected)
    simple, (px_grad, py_grad) = rnnt_loss_simple(lm, am, symbols, rnnt_type=rnnt_type, reduction="none", return_grad=True)
    torch.testing.assert_close(simple, expected)
    ranges = get_rnnt_prune_ranges(px_grad, py_grad, None, s_range=4)
    am_pruned, lm_pruned = do_rnnt_pruning(am, lm, ranges)
    pruned = rnnt_loss_pruned(am_pruned + lm_pruned, symbols, ranges, rnnt_type=rnnt_type, reduction="none")
    torch.testing.assert_close(pruned, expected)


def test_chunked_normalizers_match(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large logits take the chunked log-softmax path; it must give the same loss and gradient."""
    import asr.losses.rnnt as rnnt_module

    torch.manual_seed(13)
    logits = torch.randn(3, 5, 4, 7, dtype=torch.float64, requires_grad=True)
    symbols = torch.randint(1, 7, (3, 3))
    expected = rnnt_loss(logits, symbols, reduction="none")
    (expected_grad,) = torch.autograd.grad(expected.sum(), logits)
    monkeypatch.setattr(rnnt_module, "CHUNK_ELEMENTS", 20)
    for x in (logits, logits.transpose(1, 2).contiguous().transpose(1, 2)):  # contiguous and strided
        got = rnnt_loss(x, symbols, reduction="none")
        (got_grad,) = torch.autograd.grad(got.sum(), logits)
        torch.testing.assert_close(got, expected)
        torch.testing.assert_close(got_grad, expected_grad)


def test_reduction_modes() -> None:
    torch.manual_seed(8)
    logits = torch.randn(3, 4, 3, 5)
    symbols = torch.randint(1, 5, (3, 2))
    per_utt = rnnt_loss(logits, symbols, reduction="none")
    assert per_utt.shape == (3,)
    torch.testing.assert_close(rnnt_loss(logits, symbols, reduction="sum"), per_utt.sum())
    torch.testing.assert_close(rnnt_loss(logits, symbols, reduction="mean"), per_utt.mean())
    am, lm = torch.randn(3, 4, 5), torch.randn(3, 3, 5)
    per_utt_simple = rnnt_loss_simple(lm, am, symbols, reduction="none")
    torch.testing.assert_close(rnnt_loss_simple(lm, am, symbols, reduction="mean"), per_utt_simple.mean())


@pytest.mark.parametrize("rnnt_type", TOPOLOGIES)
def test_delay_penalty_matches_brute_force_and_rewards_early_emission(rnnt_type: str) -> None:
    torch.manual_seed(9)
    T, U, V = 4, 2, 4
    logits = torch.randn(1, T, U + 1, V, dtype=torch.float64)
    symbols = torch.tensor([[1, 2]])
    plain = rnnt_loss(logits, symbols, rnnt_type=rnnt_type, reduction="none")
    torch.testing.assert_close(rnnt_loss(logits, symbols, rnnt_type=rnnt_type, reduction="none", delay_penalty=0.0), plain)
    penalized = rnnt_loss(logits, symbols, rnnt_type=rnnt_type, reduction="none", delay_penalty=0.5)
    reference = -brute_force_score(logits[0], [1, 2], T, rnnt_type, delay_penalty=0.5)
    torch.testing.assert_close(penalized[0], reference)

    # A model that emits both symbols on the first frames gains from the penalty; one that
    # emits them on the last frames loses.
    def peaked(early: bool) -> torch.Tensor:
        """Logits putting nearly all mass on one alignment: symbols on the first or last frames."""
        if rnnt_type == "regular":
            emit_frame = [0] * U if early else [T - 1] * U
        else:
            emit_frame = list(range(U)) if early else list(range(T - U, T))
        x = torch.full((1, T, U + 1, V), -6.0, dtype=torch.float64)
        for t in range(T):
            for u in range(U + 1):
                if u < U and t == emit_frame[u]:
                    x[0, t, u, symbols[0, u]] = 6.0
                else:
                    x[0, t, u, 0] = 6.0
        return x

    for early, sign in ((True, -1.0), (False, 1.0)):
        x = peaked(early)
        change = rnnt_loss(x, symbols, rnnt_type=rnnt_type, delay_penalty=0.5) - rnnt_loss(x, symbols, rnnt_type=rnnt_type)
        assert sign * float(change) > 0.1, (early, float(change))
    am, lm = torch.randn(1, T, V), torch.randn(1, U + 1, V)
    torch.testing.assert_close(
        rnnt_loss_simple(lm, am, symbols, rnnt_type=rnnt_type, delay_penalty=0.0),
        rnnt_loss_simple(lm, am, symbols, rnnt_type=rnnt_type),
    )


def test_against_torchaudio() -> None:
    torchaudio_functional = pytest.importorskip("torchaudio.functional")
    torch.manual_seed(10)
    N, T, U, V = 2, 6, 3, 5
    logits = torch.randn(N, T, U + 1, V, requires_grad=True)
    symbols = torch.randint(1, V, (N, U), dtype=torch.int32)
    logit_lens = torch.tensor([6, 4], dtype=torch.int32)
    target_lens = torch.tensor([3, 2], dtype=torch.int32)
    expected = torchaudio_functional.rnnt_loss(logits, symbols, logit_lens, target_lens, blank=0, reduction="none")
    boundary = make_boundary(target_lens.tolist(), logit_lens.tolist())
    ours = rnnt_loss(logits, symbols.long(), boundary, termination_symbol=0, reduction="none")
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)


def test_bad_inputs_raise_clear_errors() -> None:
    logits = torch.randn(2, 3, 3, 4)
    symbols = torch.tensor([[1, 2], [3, 1]])
    with pytest.raises(LossInputError, match="utterance 1 has symbol id 4"):
        rnnt_loss(logits, torch.tensor([[1, 2], [4, 1]]))
    with pytest.raises(LossInputError, match="U=3"):
        rnnt_loss(logits, torch.tensor([[1, 2, 3], [3, 1, 1]]))
    with pytest.raises(LossInputError, match="at least one frame"):
        rnnt_loss(torch.randn(2, 0, 3, 4), symbols)
    with pytest.raises(LossInputError, match="2 utterances in the scores but 3 rows"):
        rnnt_loss(logits, torch.tensor([[1, 2], [3, 1], [1, 1]]))
    with pytest.raises(LossInputError, match="int64"):
        rnnt_loss(logits, symbols.int())
    with pytest.raises(LossInputError, match="boundary"):
        rnnt_loss(logits, symbols, 0)  # k2's positional termination_symbol
    with pytest.raises(LossInputError, match="utterance 0 has T_n=5"):
        rnnt_loss(logits, symbols, make_boundary([2, 2], [5, 3]))
    with pytest.raises(LossInputError, match="only T_n=1 frames"):
        rnnt_loss(logits, symbols, make_boundary([2, 2], [3, 1]), rnnt_type="modified")
    with pytest.raises(LossInputError, match="rnnt_type"):
        rnnt_loss(logits, symbols, rnnt_type="constrained")
    with pytest.raises(LossInputError, match="equal N and V"):
        rnnt_loss_simple(torch.randn(2, 3, 4), torch.randn(2, 3, 5), symbols)
    with pytest.raises(LossInputError, match="ranges"):
        rnnt_loss_pruned(torch.randn(2, 3, 2, 4), symbols, torch.zeros(2, 3, 3, dtype=torch.int64))



def brute_force_eos_score(logits: torch.Tensor, symbols: list[int], num_frames: int, rnnt_type: str,
                          eos_id: int, eos_penalty: float, blank: int = 0,
                          window_bonus=None) -> torch.Tensor:
    """log sum over every alignment, each emission of ``eos_id`` (position u) at frame t scored
    ``+ eos_penalty * ((T_n - 1) / 2 - t)`` (+ ``window_bonus(t, u)`` when given), every other
    arc as it is."""
    logp = logits.log_softmax(dim=-1)
    U = len(symbols)
    offset = (num_frames - 1) / 2
    if window_bonus is not None:
        delay = eos_penalty

        def eos_bonus(t: int, u: int) -> float:
            return delay * (offset - t) + window_bonus(t, u)
    else:
        def eos_bonus(t: int, u: int) -> float:
            return eos_penalty * (offset - t)
    scores = []
    if rnnt_type == "regular":
        moves = num_frames + U
        for emit_at in itertools.combinations(range(moves - 1), U):
            t = u = 0
            score = logits.new_zeros(())
            for i in range(moves):
                if i in emit_at:
                    bonus = eos_bonus(t, u) if symbols[u] == eos_id else 0.0
                    score = score + logp[t, u, symbols[u]] + bonus
                    u += 1
                else:
                    score = score + logp[t, u, blank]
                    t += 1
            scores.append(score)
    else:
        for emit_at in itertools.combinations(range(num_frames), U):
            u = 0
            score = logits.new_zeros(())
            for t in range(num_frames):
                if t in emit_at:
                    bonus = eos_bonus(t, u) if symbols[u] == eos_id else 0.0
                    score = score + logp[t, u, symbols[u]] + bonus
                    u += 1
                else:
                    score = score + logp[t, u, blank]
            scores.append(score)
    return torch.logsumexp(torch.stack(scores), dim=0)


def assert_full_and_pruned_equal(logits, symbols, boundary, rnnt_type: str, reference: torch.Tensor, **penalties) -> None:
    """The full loss (value and gradient) and the pruned loss with a window covering every position
    both equal ``reference`` (N,)."""
    N, T, S1, _ = logits.shape
    loss = rnnt_loss(logits, symbols, boundary, termination_symbol=0, rnnt_type=rnnt_type, reduction="none", **penalties)
    torch.testing.assert_close(loss, reference)
    (grad,) = torch.autograd.grad(loss.sum(), logits, retain_graph=True)
    (grad_ref,) = torch.autograd.grad(reference.sum(), logits, retain_graph=True)
    torch.testing.assert_close(grad, grad_ref)
    ranges = torch.arange(S1).expand(N, T, S1).contiguous()
    pruned = rnnt_loss_pruned(logits, symbols, ranges, termination_symbol=0, boundary=boundary, rnnt_type=rnnt_type,
                              reduction="none", **penalties)
    torch.testing.assert_close(pruned, reference)


@pytest.mark.parametrize("rnnt_type", TOPOLOGIES)
def test_eos_latency_penalty_matches_brute_force(rnnt_type: str) -> None:
    """The <eos> penalty on the full, simple (am + lm) and pruned losses equals enumeration of every
    alignment with the bonus on <eos> arcs only, value and gradient; other symbols are untouched."""
    torch.manual_seed(1)
    N, T, U, V, eos = 3, 5, 3, 5, 1
    symbols = torch.tensor([[2, 1, 3], [1, 4, 1], [3, 2, 4]])  # <eos> mid, at both ends, absent
    frame_lens, symbol_lens = [5, 4, 5], [3, 3, 3]
    boundary = make_boundary(symbol_lens, frame_lens)
    logits = torch.randn(N, T, U + 1, V, dtype=torch.float64, requires_grad=True)
    for penalty in (0.0, 0.5, -0.3):
        reference = torch.stack([
            -brute_force_eos_score(logits[n], symbols[n, : symbol_lens[n]].tolist(), frame_lens[n], rnnt_type, eos, penalty)
            for n in range(N)])
        assert_full_and_pruned_equal(logits, symbols, boundary, rnnt_type, reference, eos_penalty=penalty, eos_id=eos)
    # the utterance without <eos> does not feel the penalty; the others do
    plain = rnnt_loss(logits, symbols, boundary, rnnt_type=rnnt_type, reduction="none").detach()
    penalised = rnnt_loss(logits, symbols, boundary, rnnt_type=rnnt_type, reduction="none", eos_penalty=0.5,
                          eos_id=eos).detach()
    assert float(plain[2]) == pytest.approx(float(penalised[2]), abs=1e-12)
    assert abs(float(plain[0] - penalised[0])) > 1e-4
    # simple loss: am + lm logits
    am = torch.randn(N, T, V, dtype=torch.float64)
    lm = torch.randn(N, U + 1, V, dtype=torch.float64)
    simple = rnnt_loss_simple(lm, am, symbols, termination_symbol=0, boundary=boundary, rnnt_type=rnnt_type,
                              reduction="none")
    smoothed = rnnt_loss_smoothed(lm, am, symbols, termination_symbol=0, lm_only_scale=0.0, am_only_scale=0.0,
                                  boundary=boundary, rnnt_type=rnnt_type, reduction="none", eos_penalty=0.5, eos_id=eos)
    joint = am[:, :, None, :] + lm[:, None, :, :]
    ref_simple = torch.stack([
        -brute_force_eos_score(joint[n], symbols[n].tolist(), frame_lens[n], rnnt_type, eos, 0.5) for n in range(N)])
    torch.testing.assert_close(smoothed, ref_simple)
    assert float(simple[2]) == pytest.approx(float(smoothed[2]))
    with pytest.raises(LossInputError, match="eos_id"):
        rnnt_loss(logits, symbols, boundary, eos_penalty=0.5)


@pytest.mark.parametrize("rnnt_type", TOPOLOGIES)
def test_eos_window_penalty_matches_brute_force(rnnt_type: str) -> None:
    """The endpoint window on the full, simple and pruned losses equals enumeration of every
    alignment with ``-penalty * frames outside [r + start, r + end]`` on each <eos> arc (r: that
    <eos>'s own reference frame), value and gradient, also together with the delay penalty."""
    torch.manual_seed(2)
    N, T, U, V, eos = 3, 6, 3, 5, 1
    symbols = torch.tensor([[2, 1, 1], [1, 4, 1], [3, 2, 4]])  # two <eos> with different ends; none
    frame_lens, symbol_lens = [6, 5, 6], [3, 3, 3]
    boundary = make_boundary(symbol_lens, frame_lens)
    ref = torch.tensor([[0.0, 1.5, 4.0], [0.5, 0.0, 3.0], [0.0, 0.0, 0.0]])
    logits = torch.randn(N, T, U + 1, V, dtype=torch.float64, requires_grad=True)
    for penalty, start, end, delay in ((0.7, 0.0, 1.0, 0.0), (0.4, -1.0, 0.5, 0.3), (2.0, 0.0, 0.0, 0.0)):
        window = EosWindow(ref, penalty, start, end)

        def bonus_of(n: int):
            def bonus(t: int, u: int) -> float:
                r = float(ref[n, u])
                return -penalty * (max(0.0, r + start - t) + max(0.0, t - (r + end)))
            return bonus

        reference = torch.stack([
            -brute_force_eos_score(logits[n], symbols[n].tolist(), frame_lens[n], rnnt_type, eos, delay,
                                   window_bonus=bonus_of(n)) for n in range(N)])
        assert_full_and_pruned_equal(logits, symbols, boundary, rnnt_type, reference, eos_penalty=delay, eos_id=eos,
                                     eos_window=window)
        am = torch.randn(N, T, V, dtype=torch.float64)
        lm = torch.randn(N, U + 1, V, dtype=torch.float64)
        smoothed = rnnt_loss_smoothed(lm, am, symbols, lm_only_scale=0.0, am_only_scale=0.0, boundary=boundary,
                                      rnnt_type=rnnt_type, reduction="none", eos_penalty=delay, eos_id=eos,
                                      eos_window=window)
        joint = am[:, :, None, :] + lm[:, None, :, :]
        torch.testing.assert_close(smoothed, torch.stack([
            -brute_force_eos_score(joint[n], symbols[n].tolist(), frame_lens[n], rnnt_type, eos, delay,
                                   window_bonus=bonus_of(n)) for n in range(N)]))
    # the utterance without <eos> is untouched; a wide window costs nothing at all
    plain = rnnt_loss(logits, symbols, boundary, rnnt_type=rnnt_type, reduction="none").detach()
    windowed = rnnt_loss(logits, symbols, boundary, rnnt_type=rnnt_type, reduction="none", eos_id=eos,
                         eos_window=EosWindow(ref, 1.0, 0.0, 0.5)).detach()
    wide = rnnt_loss(logits, symbols, boundary, rnnt_type=rnnt_type, reduction="none", eos_id=eos,
                     eos_window=EosWindow(ref, 1.0, -T, T)).detach()
    assert float(windowed[2]) == pytest.approx(float(plain[2]), abs=1e-12)
    assert (windowed[:2] > plain[:2] + 1e-4).all()
    torch.testing.assert_close(wide, plain)
    with pytest.raises(LossInputError, match="eos_id"):
        rnnt_loss(logits, symbols, boundary, eos_window=EosWindow(ref, 1.0))
    with pytest.raises(LossInputError, match="ref_frames"):
        rnnt_loss(logits, symbols, boundary, eos_id=eos, eos_window=EosWindow(ref[:, :2], 1.0))


def test_eos_window_pulls_the_eos_occupancy_into_the_window() -> None:
    """On a one-symbol lattice with uniform logits the <eos> occupancy is spread over the frames;
    the window moves it inside [r + start, r + end]."""
    T, eos = 8, 1
    logits = torch.zeros(1, T, 2, 3, dtype=torch.float64)
    symbols = torch.tensor([[eos]])
    boundary = make_boundary([1], [T])
    window = EosWindow(torch.tensor([[4.0]]), 3.0, 0.0, 1.0)
    from asr.losses.rnnt import get_rnnt_logprobs_joint, lattice_loss

    px, py = get_rnnt_logprobs_joint(logits, symbols, 0, boundary)
    _, (px_grad, _) = lattice_loss(px, py, boundary, "regular", "none", 0.0, return_grad=True, symbols=symbols,
                                   eos_id=eos, eos_window=window)
    occupancy = px_grad[0, 0, :T]
    assert float(occupancy[4:6].sum()) > 0.9
    _, (plain_grad, _) = lattice_loss(px, py, boundary, "regular", "none", 0.0, return_grad=True)
    assert float(plain_grad[0, 0, 4:6].sum()) < 0.5
