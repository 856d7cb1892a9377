"""The transducer lattice recursion (forward-backward) as a custom autograd function.

Both RNN-T topologies reduce to one lattice over symbol positions ``s in [0, S]`` and
frames ``t in [0, T]`` (k2's ``mutual_information_recursion``)::

    regular:  p[s, t] = logaddexp(p[s-1, t]   + px[s-1, t],   p[s, t-1] + py[s, t-1])
    modified: p[s, t] = logaddexp(p[s-1, t-1] + px[s-1, t-1], p[s, t-1] + py[s, t-1])

with ``p[0, 0] = 0``; the score of utterance n is ``p[U_n, T_n]``. ``px[n, s, t]`` is the
log-prob of emitting symbol ``s+1`` from lattice node ``(s, t)`` (shape (N, S, T+1) for the
regular topology, whose last column is -inf, or (N, S, T) for the modified one) and
``py[n, s, t]`` the log-prob of blank there (shape (N, S+1, T)).

Vectorization: in the modified topology column ``t`` depends only on column ``t-1``, so
the recursion runs over frames with every symbol position at once. In the regular
topology the same holds for anti-diagonals ``k = s + t``: after skewing px and py into
diagonal-major layout the regular lattice becomes the modified recursion over ``k``. One
step is three batched kernels over (N, S+1) values, so the Python loop runs ``T+1``
(modified) or ``S+T+1`` (regular) times. The backward pass runs the mirrored recursion
for beta and turns alpha + beta into arc occupation probabilities, which are exactly the
gradients of the score w.r.t. px and py; no per-step autograd graph is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

NEG_INF = float("-inf")


@dataclass
class _Skew:
    """Index tensors mapping the (s, t) lattice to step-major (k, s) layout."""

    regular: bool
    num_steps: int  # L: number of lattice steps (diagonals or frames), including step 0
    px_t: Tensor | None  # (L-1, S) frame index of px per (step, s) (regular only)
    px_valid: Tensor | None  # (L-1, S) bool
    py_t: Tensor | None  # (L-1, S+1)
    py_valid: Tensor | None  # (L-1, S+1)


def _make_skew(S: int, T: int, regular: bool, device: torch.device) -> _Skew:
    if not regular:
        return _Skew(False, T + 1, None, None, None, None)
    L = S + T + 1
    k = torch.arange(L - 1, device=device).unsqueeze(1)
    s_x = torch.arange(S, device=device).unsqueeze(0)
    s_y = torch.arange(S + 1, device=device).unsqueeze(0)
    px_t = k - s_x  # px has T+1 columns: valid 0..T
    py_t = k - s_y  # py has T columns: valid 0..T-1
    px_valid = (px_t >= 0) & (px_t <= T)
    py_valid = (py_t >= 0) & (py_t <= T - 1)
    return _Skew(True, L, px_t.clamp(0, T), px_valid, py_t.clamp(0, T - 1), py_valid)


def _to_steps(x: Tensor, skew: _Skew, t_idx: Tensor | None, valid: Tensor | None) -> Tensor:
    """(N, R, C) lattice tensor -> (L-1, N, R) step-major tensor (-inf where no node)."""
    if not skew.regular:
        return x.permute(2, 0, 1).contiguous()
    R = x.shape[1]
    rows = torch.arange(R, device=x.device).unsqueeze(0)
    out = x[:, rows, t_idx]  # (N, L-1, R)
    out = out.masked_fill(~valid, NEG_INF)
    return out.permute(1, 0, 2).contiguous()


def _from_steps(g: Tensor, skew: _Skew, num_cols: int) -> Tensor:
    """(L-1, N, R) step-major tensor -> (N, R, num_cols) lattice layout (inverse of _to_steps)."""
    if not skew.regular:
        return g.permute(1, 2, 0)[:, :, :num_cols].contiguous()
    R = g.shape[2]
    rows = torch.arange(R, device=g.device).unsqueeze(1)
    steps = rows + torch.arange(num_cols, device=g.device).unsqueeze(0)  # (R, C): k = s + t
    gp = g.permute(1, 0, 2)  # (N, L-1, R)
    return gp[:, steps, rows]  # (N, R, C)


def _terminal_steps(boundary: Tensor, regular: bool) -> tuple[Tensor, Tensor]:
    """Step index and symbol position of each utterance's final node, both (N,)."""
    s_end = boundary[:, 2]
    t_end = boundary[:, 3]
    return (s_end + t_end if regular else t_end), s_end


def _forward_alpha(x_steps: Tensor, y_steps: Tensor, L: int) -> Tensor:
    """Alpha over steps. x_steps (L-1, N, S+2) padded, y_steps (L-1, N, S+1).

    Returns alpha (L, N, S+2) whose column 0 is a -inf pad and column s+1 is position s.
    ``x_steps[k, :, s]`` holds the emission log-prob of position s-1 (column 0 is a dummy 0).
    """
    _, N, S2 = x_steps.shape
    alpha = torch.full((L, N, S2), NEG_INF, dtype=y_steps.dtype, device=y_steps.device)
    alpha[0, :, 1] = 0.0
    for k in range(1, L):
        prev = alpha[k - 1]
        emit = prev[:, :-1] + x_steps[k - 1, :, :-1]
        stay = prev[:, 1:] + y_steps[k - 1]
        torch.logaddexp(emit, stay, out=alpha[k, :, 1:])
    return alpha


def _backward_beta(x_steps: Tensor, y_steps: Tensor, L: int, term_k: Tensor, term_s: Tensor) -> Tensor:
    """Beta over steps, mirrored: beta (L, N, S+2), column s is position s, column S+1 a -inf pad."""
    _, N, S2 = x_steps.shape
    beta = torch.full((L, N, S2), NEG_INF, dtype=y_steps.dtype, device=y_steps.device)
    batch = torch.arange(N, device=y_steps.device)
    # Zero injection at each utterance's final node; group utterances by their final step.
    inject: dict[int, Tensor] = {}
    for k in torch.unique(term_k).tolist():
        inject[int(k)] = (term_k == k).nonzero(as_tuple=True)[0]
    for k in range(L - 1, -1, -1):
        if k < L - 1:
            nxt = beta[k + 1]
            emit = x_steps[k, :, 1:] + nxt[:, 1:]
            stay = y_steps[k] + nxt[:, :-1]
            torch.logaddexp(emit, stay, out=beta[k, :, :-1])
        idx = inject.get(k)
        if idx is not None:
            beta[k, batch[idx], term_s[idx]] = 0.0
    return beta


class _LatticeRecursion(torch.autograd.Function):
    @staticmethod
    def forward(ctx, px: Tensor, py: Tensor, boundary: Tensor, return_grad: bool):  # type: ignore[override]
        N, S1, T = py.shape
        S = S1 - 1
        regular = px.shape[2] == T + 1
        skew = _make_skew(S, T, regular, py.device)
        L = skew.num_steps
        x_core = _to_steps(px.detach(), skew, skew.px_t, skew.px_valid)  # (L-1, N, S)
        y_steps = _to_steps(py.detach(), skew, skew.py_t, skew.py_valid)  # (L-1, N, S+1)
        # Pad x to (L-1, N, S+2): column 0 dummy 0 (alpha's pad is -inf there), last column -inf
        # (position S cannot emit).
        x_steps = torch.cat(
            [
                torch.zeros((L - 1, N, 1), dtype=py.dtype, device=py.device),
                x_core,
                torch.full((L - 1, N, 1), NEG_INF, dtype=py.dtype, device=py.device),
            ],
            dim=2,
        )
        del x_core
        alpha = _forward_alpha(x_steps, y_steps, L)
        term_k, term_s = _terminal_steps(boundary, regular)
        batch = torch.arange(N, device=py.device)
        scores = alpha[term_k, batch, term_s + 1]
        if return_grad:
            # The caller needs the occupation probabilities now (pruning ranges), and they
            # are also the gradient, so compute them once and keep them for backward.
            px_grad, py_grad = _occupation(alpha, x_steps, y_steps, scores, term_k, term_s, skew, px.shape[2], T)
            ctx.save_for_backward(px_grad, py_grad)
            ctx.mark_non_differentiable(px_grad, py_grad)
            return scores, px_grad, py_grad
        ctx.lattice = (skew, px.shape[2], T)
        ctx.save_for_backward(alpha, x_steps, y_steps, scores, term_k, term_s)
        return scores

    @staticmethod
    def backward(ctx, grad_scores: Tensor, *unused: Tensor):  # type: ignore[override]
        saved = ctx.saved_tensors
        if len(saved) == 2:
            px_grad, py_grad = saved
        else:
            skew, px_cols, T = ctx.lattice
            px_grad, py_grad = _occupation(*saved, skew, px_cols, T)
        g = grad_scores.reshape(-1, 1, 1)
        return px_grad * g, py_grad * g, None, None


def _occupation(
    alpha: Tensor,
    x_steps: Tensor,
    y_steps: Tensor,
    scores: Tensor,
    term_k: Tensor,
    term_s: Tensor,
    skew: _Skew,
    px_cols: int,
    T: int,
) -> tuple[Tensor, Tensor]:
    """Arc occupation probabilities d score / d px, d score / d py in lattice layout."""
    L = skew.num_steps
    beta = _backward_beta(x_steps, y_steps, L, term_k, term_s)
    # Utterances with no valid path (score -inf) get zero gradient instead of nan.
    total = torch.where(torch.isfinite(scores), scores, torch.zeros_like(scores)).reshape(1, -1, 1)
    finite = torch.isfinite(scores).reshape(1, -1, 1)
    a = alpha[:-1, :, 1:]  # (L-1, N, S+1), position s
    x_occ = (a[:, :, :-1] + x_steps[:, :, 1:-1] + beta[1:, :, 1:-1] - total).exp_()  # (L-1, N, S)
    y_occ = (a + y_steps + beta[1:, :, :-1] - total).exp_()  # (L-1, N, S+1)
    x_occ = x_occ.masked_fill_(~finite, 0.0)
    y_occ = y_occ.masked_fill_(~finite, 0.0)
    return _from_steps(x_occ, skew, px_cols), _from_steps(y_occ, skew, T)


def mutual_information_recursion(
    px: Tensor,
    py: Tensor,
    boundary: Tensor | None = None,
    return_grad: bool = False,
) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
    """Total log-prob of all lattice paths, per utterance (k2's function of the same name).

    Args:
        px: (N, S, T+1) regular or (N, S, T) modified; emission log-probs.
        py: (N, S+1, T); blank log-probs.
        boundary: (N, 4) int64 rows ``[0, 0, U_n, T_n]``; None means ``[0, 0, S, T]``.
        return_grad: also return ``(px_grad, py_grad)``, the occupation probabilities of
            each arc (= d score / d px, d score / d py), same shapes as px and py.

    Returns:
        scores (N,), or ``(scores, (px_grad, py_grad))`` when return_grad.
    """
    N, S1, T = py.shape
    if boundary is None:
        boundary = torch.tensor([0, 0, S1 - 1, T], dtype=torch.int64, device=py.device).expand(N, 4)
    out = _LatticeRecursion.apply(px, py, boundary, return_grad)
    if return_grad:
        scores, px_grad, py_grad = out
        return scores, (px_grad, py_grad)
    return out
