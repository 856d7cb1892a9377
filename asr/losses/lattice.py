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
step is two batched kernels over (N, 2, S+1) values, so the Python loop runs ``T+1``
(modified) or ``S+T+1`` (regular) times. The backward pass runs the mirrored recursion
for beta and turns alpha + beta into arc occupation probabilities, which are exactly the
gradients of the score w.r.t. px and py; no per-step autograd graph is stored. Memory:
alpha, beta and the skewed px/py, each (L, N, S+2) floats.

At N=8, T=400, S=80 (one thread, float32) forward takes ~14 ms and forward + backward ~33 ms.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from asr.errors import LossInputError

NEG_INF = float("-inf")


def flush_tiny_(x: Tensor) -> Tensor:
    """Zero, in place, entries too small to matter (below ``2**23`` times the smallest normal).

    Occupation probabilities and the gradients built from them reach subnormal floats far from
    the best alignments; x86 arithmetic on subnormals is ~100x slower, which made the joiner's
    backward matrix products 10x slower. Values this small (< 1e-31 in float32) are below the
    resolution of any parameter update, so flushing them is what the hardware's flush-to-zero
    mode would do, without changing global state.
    """
    if x.dtype.is_floating_point:
        threshold = torch.finfo(x.dtype).tiny * 2.0**23
        x.masked_fill_(x.abs() < threshold, 0.0)
    return x


def _to_steps(x: Tensor, regular: bool, num_steps: int) -> Tensor:
    """(N, R, C) lattice tensor -> (L-1, N, R) step-major tensor, -inf where no node.

    Regular: ``out[k, n, r] = x[n, r, k - r]`` (anti-diagonal k), a strided view of x padded
    with -inf on both sides of the frame axis, then copied. Modified: a transpose.
    """
    if not regular:
        return x.permute(2, 0, 1).contiguous()
    N, R, C = x.shape
    steps = num_steps - 1
    # Column j of the padded tensor is frame j - R; k - r ranges over [-(R-1), steps-1].
    width = R + max(C, steps)
    padded = x.new_full((N, R, width), NEG_INF)
    padded[:, :, R : R + C] = x
    view = padded.as_strided((steps, N, R), (1, R * width, width - 1), R)
    return view.contiguous()


def _from_steps(g: Tensor, regular: bool, num_cols: int) -> Tensor:
    """(L-1, N, R) step-major tensor -> (N, R, num_cols) lattice layout (inverse of _to_steps)."""
    if not regular:
        return g.permute(1, 2, 0)[:, :, :num_cols].contiguous()
    steps, N, R = g.shape
    g = g.contiguous()
    # out[n, r, t] = g[r + t, n, r]; r + t <= steps - 1 for every lattice node.
    return g.as_strided((N, R, num_cols), (R, N * R + 1, N * R)).contiguous()


def _terminal_steps(boundary: Tensor, regular: bool) -> tuple[Tensor, Tensor]:
    """Step index and symbol position of each utterance's final node, both (N,)."""
    s_end = boundary[:, 2]
    t_end = boundary[:, 3]
    return (s_end + t_end if regular else t_end), s_end


class _Scan:
    """The recursion loop shared by alpha and beta, with every per-step view made up front.

    ``run(steps)`` sets, for k in steps, ``table[k, :, out_cols] = logaddexp over the pair of
    (table[k + src] neighbours + their arc weights increments[k + min(src, 0)])``: two kernels a
    step, one add of (N, 2, S+1) into a reused buffer and one logaddexp of its halves.
    """

    def __init__(self, table: Tensor, increments: Tensor, src: int, out_cols: slice) -> None:
        L, N, S2 = table.shape
        # pairs[k][:, 0, s] = table[k, :, s], pairs[k][:, 1, s] = table[k, :, s + 1]
        self.pairs = table.as_strided((L, N, 2, S2 - 1), (N * S2, S2, 1, 1)).unbind(0)
        self.incs = increments.unbind(0)
        self.outs = table[:, :, out_cols].unbind(0)
        self.buf = torch.empty_like(self.incs[0])
        self.src = src

    def run(self, steps: range) -> None:
        pairs, incs, outs, buf, src = self.pairs, self.incs, self.outs, self.buf, self.src
        first, second = buf[:, 0], buf[:, 1]
        shift = min(src, 0)
        for k in steps:
            torch.add(pairs[k + src], incs[k + shift], out=buf)
            torch.logaddexp(first, second, out=outs[k])


def _forward_alpha(x_steps: Tensor, y_steps: Tensor, L: int) -> Tensor:
    """Alpha over steps. x_steps (L-1, N, S+2) padded, y_steps (L-1, N, S+1).

    Returns alpha (L, N, S+2) whose column 0 is a -inf pad and column s+1 is position s.
    ``x_steps[k, :, s]`` holds the emission log-prob of position s-1 (column 0 is a dummy 0).
    """
    _, N, S2 = x_steps.shape
    alpha = torch.full((L, N, S2), NEG_INF, dtype=y_steps.dtype, device=y_steps.device)
    alpha[0, :, 1] = 0.0
    # alpha[k, s] = logaddexp(alpha[k-1, s-1] + x[k-1, s-1], alpha[k-1, s] + y[k-1, s])
    increments = torch.stack([x_steps[:, :, :-1], y_steps], dim=2)  # (L-1, N, 2, S+1)
    _Scan(alpha, increments, src=-1, out_cols=slice(1, None)).run(range(1, L))
    return alpha


def _backward_beta(x_steps: Tensor, y_steps: Tensor, L: int, term_k: Tensor, term_s: Tensor) -> Tensor:
    """Beta over steps, mirrored: beta (L, N, S+2), column s is position s, column S+1 a -inf pad."""
    _, N, S2 = x_steps.shape
    beta = torch.full((L, N, S2), NEG_INF, dtype=y_steps.dtype, device=y_steps.device)
    batch = torch.arange(N, device=y_steps.device)
    # beta[k, s] = logaddexp(y[k, s] + beta[k+1, s], x[k, s] + beta[k+1, s+1])
    increments = torch.stack([y_steps, x_steps[:, :, 1:]], dim=2)  # (L-1, N, 2, S+1)
    # Each utterance's final node gets beta = 0 at its own step; between those steps the scan
    # runs uninterrupted.
    stops = sorted({int(k) for k in term_k.tolist()}, reverse=True)
    scan = _Scan(beta, increments, src=1, out_cols=slice(0, -1))
    upper = L - 1
    for stop in stops:
        scan.run(range(upper - 1, stop - 1, -1))
        idx = (term_k == stop).nonzero(as_tuple=True)[0]
        beta[stop, batch[idx], term_s[idx]] = 0.0
        upper = stop
    scan.run(range(upper - 1, -1, -1))
    return beta


class _LatticeRecursion(torch.autograd.Function):
    """Scores (N,) of px, py; forward keeps alpha, backward runs beta (or reuses the occupations
    when forward already computed them for ``return_grad``)."""

    @staticmethod
    def forward(ctx, px: Tensor, py: Tensor, boundary: Tensor, return_grad: bool):  # type: ignore[override]
        N, S1, T = py.shape
        S = S1 - 1
        regular = px.shape[2] == T + 1
        L = S + T + 1 if regular else T + 1  # number of anti-diagonals / frames
        x_core = _to_steps(px.detach(), regular, L)  # (L-1, N, S)
        y_steps = _to_steps(py.detach(), regular, L)  # (L-1, N, S+1)
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
            px_grad, py_grad = _occupation(alpha, x_steps, y_steps, scores, term_k, term_s, regular, px.shape[2], T)
            ctx.lattice = None
            ctx.save_for_backward(px_grad, py_grad)
            ctx.mark_non_differentiable(px_grad, py_grad)
            return scores, px_grad, py_grad
        ctx.lattice = (regular, px.shape[2], T)
        ctx.save_for_backward(alpha, x_steps, y_steps, scores, term_k, term_s)
        return scores

    @staticmethod
    def backward(ctx, grad_scores: Tensor, *unused: Tensor):  # type: ignore[override]
        saved = ctx.saved_tensors
        if ctx.lattice is None:
            px_grad, py_grad = saved
        else:
            regular, px_cols, T = ctx.lattice
            px_grad, py_grad = _occupation(*saved, regular, px_cols, T)
        g = grad_scores.reshape(-1, 1, 1)
        return px_grad * g, py_grad * g, None, None


def _occupation(
    alpha: Tensor,
    x_steps: Tensor,
    y_steps: Tensor,
    scores: Tensor,
    term_k: Tensor,
    term_s: Tensor,
    regular: bool,
    px_cols: int,
    T: int,
) -> tuple[Tensor, Tensor]:
    """Arc occupation probabilities d score / d px, d score / d py in lattice layout."""
    L = alpha.shape[0]
    beta = _backward_beta(x_steps, y_steps, L, term_k, term_s)
    # Utterances with no valid path (score -inf) get zero gradient instead of nan: subtracting
    # +inf sends all their log-occupations to -inf.
    total = torch.where(torch.isfinite(scores), scores, float("inf")).reshape(1, -1, 1)
    log_cut = math.log(torch.finfo(alpha.dtype).tiny * 2.0**23)  # see flush_tiny_
    a = alpha[:-1, :, 1:]  # (L-1, N, S+1), position s

    def occupation(*terms: Tensor) -> Tensor:
        log_occ = terms[0] + terms[1]
        for term in terms[2:]:
            log_occ += term
        log_occ -= total
        return torch.nn.functional.threshold_(log_occ, log_cut, NEG_INF).exp_()

    x_occ = occupation(a[:, :, :-1], x_steps[:, :, 1:-1], beta[1:, :, 1:-1])  # (L-1, N, S)
    y_occ = occupation(a, y_steps, beta[1:, :, :-1])  # (L-1, N, S+1)
    return _from_steps(x_occ, regular, px_cols), _from_steps(y_occ, regular, T)


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
    if py.dim() != 3 or px.dim() != 3:
        raise LossInputError(f"mutual_information_recursion: px and py must be 3-D, got {tuple(px.shape)}, {tuple(py.shape)}")
    N, S1, T = py.shape
    if px.shape[:2] != (N, S1 - 1) or px.shape[2] not in (T, T + 1):
        raise LossInputError(
            f"mutual_information_recursion: px {tuple(px.shape)} must be (N, S, T+1) or (N, S, T) "
            f"for py (N, S+1, T) = {tuple(py.shape)}"
        )
    if T < 1:
        raise LossInputError("mutual_information_recursion: need at least one frame (T >= 1)")
    if boundary is None:
        boundary = torch.tensor([0, 0, S1 - 1, T], dtype=torch.int64, device=py.device).expand(N, 4)
    elif boundary.shape != (N, 4) or bool((boundary[:, :2] != 0).any()):
        raise LossInputError(
            f"mutual_information_recursion: boundary must be (N, 4) = ({N}, 4) rows [0, 0, U_n, T_n], "
            f"got shape {tuple(boundary.shape)}"
        )
    out = _LatticeRecursion.apply(px, py, boundary, return_grad)
    if return_grad:
        scores, px_grad, py_grad = out
        return scores, (px_grad, py_grad)
    return out
