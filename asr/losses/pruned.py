"""Pruned RNN-T (k2's recipe, pure PyTorch): simple loss, pruning ranges, pruned loss.

1. The *simple* loss uses the trivial joiner ``logits[n, t, u] = am[n, t] + lm[n, u]``. Its
   normalizers ``logsumexp_v(am[n, t, v] + lm[n, u, v])`` come from one batched matrix product
   of ``exp(lm - max)`` and ``exp(am - max)``, so the (N, T, U+1, V) tensor is never built.
2. The occupation probabilities of the simple lattice (``return_grad=True``) say where the
   alignment mass lies; ``get_rnnt_prune_ranges`` keeps, for each frame, a window of
   ``s_range`` consecutive symbol positions around it (monotone in t, no symbol skipped).
3. ``do_rnnt_pruning`` gathers the projected encoder/predictor outputs for those windows so the
   real joiner runs on (N, T, s_range) pairs only, and ``rnnt_loss_pruned`` scores the lattice
   with everything outside the windows at -inf.
"""

from __future__ import annotations

import torch
from torch import Tensor

from asr.errors import LossInputError
from asr.losses.rnnt import EosWindow, check_rnnt_args, finish_px, lattice_loss, symbol_logprobs


def _check_am_lm(lm: Tensor, am: Tensor, what: str) -> None:
    if lm.dim() != 3 or am.dim() != 3 or lm.shape[0] != am.shape[0] or lm.shape[2] != am.shape[2]:
        raise LossInputError(
            f"{what}: need lm (N, U+1, V) and am (N, T, V) with equal N and V, "
            f"got lm {tuple(lm.shape)} and am {tuple(am.shape)}"
        )


def _gather_am(am: Tensor, symbols: Tensor) -> Tensor:
    """px_am[n, s, t] = am[n, t, symbols[n, s]]: (N, T, V), (N, S) -> (N, S, T).

    Gathering along V of (N, T, V) keeps the backward a scatter into (N, T, V); gathering from
    an (N, S, T, V) expansion, as k2 does, would allocate that whole tensor in backward.
    """
    N, T, _ = am.shape
    return torch.gather(am, 2, symbols.unsqueeze(1).expand(N, T, symbols.shape[1])).permute(0, 2, 1)


def get_rnnt_logprobs_smoothed(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    lm_only_scale: float,
    am_only_scale: float,
    boundary: Tensor,
    rnnt_type: str,
) -> tuple[Tensor, Tensor]:
    """px (N, S, T+1 | T), py (N, S+1, T) of the trivial joiner am + lm, interpolated with an
    LM-only and an AM-only (unigram-LM) distribution as in k2 (scales 0, 0 give the plain
    simple loss)."""
    N, T, C = am.shape
    S = lm.shape[1] - 1
    tiny = torch.finfo(am.dtype).tiny
    am_max = am.max(dim=2, keepdim=True).values  # (N, T, 1)
    lm_max = lm.max(dim=2, keepdim=True).values  # (N, S+1, 1)
    am_probs = (am - am_max).exp()
    lm_probs = (lm - lm_max).exp()
    # log sum_v exp(am + lm) = log(lm_probs @ am_probs^T) + lm_max + am_max: (N, S+1, T)
    normalizers = (torch.matmul(lm_probs, am_probs.transpose(1, 2)) + tiny).log() + lm_max + am_max.transpose(1, 2)

    px_am = _gather_am(am, symbols)  # (N, S, T)
    px_lm = torch.gather(lm[:, :S], 2, symbols.unsqueeze(-1))  # (N, S, 1)
    px = px_am + px_lm - normalizers[:, :S, :]
    py_am = am[:, :, termination_symbol].unsqueeze(1)  # (N, 1, T)
    py_lm = lm[:, :, termination_symbol].unsqueeze(2)  # (N, S+1, 1)
    py = py_am + py_lm - normalizers

    if lm_only_scale != 0.0 or am_only_scale != 0.0:
        combined = 1.0 - lm_only_scale - am_only_scale
        px, py = px * combined, py * combined
        lmonly_norm = lm_probs.sum(dim=2, keepdim=True)  # (N, S+1, 1)
        if lm_only_scale != 0.0:
            # LM-only distribution: softmax(lm) on its own.
            lmonly_log_norm = lmonly_norm.log() + lm_max  # (N, S+1, 1)
            px = px + (px_lm - lmonly_log_norm[:, :S, :]) * lm_only_scale
            py = py + (py_lm - lmonly_log_norm) * lm_only_scale
        if am_only_scale != 0.0:
            # AM-only distribution: am combined with the batch's average LM distribution.
            unigram_lm = (lm_probs / lmonly_norm).mean(dim=(0, 1), keepdim=True) + tiny  # (1, 1, C)
            amonly_norm = (
                torch.mv(am_probs.reshape(-1, C), unigram_lm.reshape(C)).reshape(N, T, 1).log() + am_max
            ).transpose(1, 2)  # (N, 1, T)
            log_unigram = unigram_lm.log()
            px_lm_unigram = torch.gather(log_unigram.expand(N, S, C), 2, symbols.unsqueeze(-1))  # (N, S, 1)
            px = px + (px_am + px_lm_unigram - amonly_norm) * am_only_scale
            py = py + (py_am + log_unigram[0, 0, termination_symbol] - amonly_norm) * am_only_scale

    return finish_px(px, boundary, rnnt_type), py


def rnnt_loss_smoothed(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int = 0,
    lm_only_scale: float = 0.1,
    am_only_scale: float = 0.1,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    reduction: str = "mean",
    return_grad: bool = False,
    delay_penalty: float = 0.0,
    eos_penalty: float = 0.0,
    eos_id: int | None = None,
    eos_window: EosWindow | None = None,
) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
    """Simple (am + lm) RNN-T loss with LM-only / AM-only smoothing, as k2.

    Args:
        lm: (N, U+1, V) predictor output projected to the vocabulary.
        am: (N, T, V) encoder output projected to the vocabulary.
        symbols: (N, U) int64 targets.
        termination_symbol: blank id.
        lm_only_scale, am_only_scale: weights of the LM-only and AM-only terms.
        boundary: (N, 4) rows ``[0, 0, U_n, T_n]`` or None.
        rnnt_type: "regular" or "modified".  reduction: "mean", "sum" or "none".
        return_grad: also return ``(px_grad, py_grad)``, occupation probabilities of shapes
            (N, U, T+1 | T) and (N, U+1, T), for ``get_rnnt_prune_ranges``.
        delay_penalty: k2's delay penalty (0 disables it).
        eos_penalty, eos_id: the delay penalty on symbol ``eos_id``'s arcs only
            (``asr.losses.rnnt.add_symbol_delay_penalty``).
        eos_window: the endpoint-window penalty on ``eos_id``'s arcs
            (``asr.losses.rnnt.add_symbol_window_penalty``).

    Returns:
        loss, or ``(loss, (px_grad, py_grad))`` when return_grad.
    """
    _check_am_lm(lm, am, "rnnt_loss_smoothed")
    N, T, V = am.shape
    boundary = check_rnnt_args(
        symbols, N, T, lm.shape[1], V, boundary, termination_symbol, rnnt_type, reduction, "rnnt_loss_smoothed"
    )
    px, py = get_rnnt_logprobs_smoothed(
        lm, am, symbols, termination_symbol, lm_only_scale, am_only_scale, boundary, rnnt_type
    )
    return lattice_loss(px, py, boundary, rnnt_type, reduction, delay_penalty, return_grad, symbols=symbols,
                        eos_id=eos_id, eos_penalty=eos_penalty, eos_window=eos_window)


def rnnt_loss_simple(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int = 0,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    reduction: str = "mean",
    return_grad: bool = False,
    delay_penalty: float = 0.0,
) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
    """``rnnt_loss_smoothed`` without smoothing: exactly the full loss of logits ``am + lm``."""
    return rnnt_loss_smoothed(
        lm,
        am,
        symbols,
        termination_symbol,
        lm_only_scale=0.0,
        am_only_scale=0.0,
        boundary=boundary,
        rnnt_type=rnnt_type,
        reduction=reduction,
        return_grad=return_grad,
        delay_penalty=delay_penalty,
    )


def _monotonic_lower_bound(x: Tensor) -> Tensor:
    """y[t] = min(x[t:]) along the last axis: the largest non-decreasing sequence <= x."""
    return torch.flip(torch.cummin(torch.flip(x, dims=(-1,)), dim=-1).values, dims=(-1,))


def _adjust_pruning_lower_bound(s_begin: Tensor, max_step: int) -> Tensor:
    """Make window starts s_begin (N, T) usable as a lattice band (k2's construction).

    First each start is lowered to the minimum of itself and all later ones (non-decreasing).
    Then, where the starts would rise by more than ``max_step - 1`` in one frame (skipping
    symbols), earlier starts are raised; finally start t is capped at ``(max_step - 1) * t`` so
    frame 0 starts at position 0. The last frame's start is never raised above its value.
    """
    T = s_begin.shape[1]
    ramp = (max_step - 1) * torch.arange(T, device=s_begin.device)
    s_begin = _monotonic_lower_bound(s_begin)
    s_begin = _monotonic_lower_bound(ramp - s_begin)  # -(s - ramp) non-decreasing <=> steps < max_step
    s_begin = s_begin.clamp(min=0)
    return ramp - s_begin


def get_rnnt_prune_ranges(
    px_grad: Tensor,
    py_grad: Tensor,
    boundary: Tensor | None,
    s_range: int,
) -> Tensor:
    """Symbol-position windows to keep, from the simple loss's occupation probabilities.

    For each frame t, the window start is the position that maximizes the blank occupation
    mass inside ``[start, start + s_range)`` (minus the emission into ``start``), then it is made
    monotone and gap-free, and forced to end at ``U_n`` on the last frame.

    Args:
        px_grad: (N, S, T+1) regular or (N, S, T) modified occupation of emission arcs.
        py_grad: (N, S+1, T) occupation of blank arcs.
        boundary: (N, 4) rows ``[0, 0, U_n, T_n]`` or None.
        s_range: window size; clipped to S+1. Needs >= 2 (regular) / >= 1 (modified).

    Returns:
        ranges (N, T, s_range) int64, ``ranges[n, t] = start_t + arange(s_range)``.
    """
    N, S, T1 = px_grad.shape
    T = py_grad.shape[2]
    if T1 not in (T, T + 1) or py_grad.shape != (N, S + 1, T):
        raise LossInputError(
            f"get_rnnt_prune_ranges: px_grad {tuple(px_grad.shape)} and py_grad {tuple(py_grad.shape)} "
            "must be (N, S, T+1 | T) and (N, S+1, T)"
        )
    regular = T1 == T + 1
    if boundary is None:
        boundary = torch.tensor([0, 0, S, T], dtype=torch.int64, device=px_grad.device).expand(N, 4)
    s_range = min(s_range, S + 1)
    if s_range < (2 if regular and S > 0 else 1):
        raise LossInputError(
            f"get_rnnt_prune_ranges: s_range={s_range} leaves no path through the lattice "
            f"(need >= {2 if regular else 1} for the {'regular' if regular else 'modified'} topology)"
        )
    S1 = S + 1
    # (N, S1 - s_range + 1, T): blank occupation summed over each candidate window.
    blk_sum = py_grad.unfold(1, s_range, 1).sum(dim=-1)
    px_pad = torch.cat([px_grad.new_zeros((N, 1, T1)), px_grad], dim=1)  # (N, S1, T1)
    final = blk_sum - px_pad[:, : S1 - s_range + 1, :T]
    s_begin = torch.argmax(final, dim=1)  # (N, T)
    # From the last real frame on, the window must end at U_n so the path can terminate.
    frames = torch.arange(T, device=px_grad.device).reshape(1, T)
    before_last = frames < (boundary[:, 3].reshape(N, 1) - 1)
    last_begin = (boundary[:, 2].reshape(N, 1) - s_range + 1).clamp(min=0)
    s_begin = torch.where(before_last, s_begin, last_begin)
    s_begin = _adjust_pruning_lower_bound(s_begin, s_range if regular else 2)
    return s_begin.unsqueeze(2) + torch.arange(s_range, device=px_grad.device)


def do_rnnt_pruning(am: Tensor, lm: Tensor, ranges: Tensor) -> tuple[Tensor, Tensor]:
    """Pair encoder and predictor outputs inside the pruning windows.

    Args:
        am: (N, T, C) projected encoder output.
        lm: (N, U+1, C) projected predictor output.
        ranges: (N, T, s_range) from ``get_rnnt_prune_ranges``.

    Returns:
        am_pruned (N, T, s_range, C) (a broadcast view of am) and lm_pruned (N, T, s_range, C).
    """
    N, T, s_range = ranges.shape
    if am.dim() != 3 or lm.dim() != 3 or am.shape[:2] != (N, T) or lm.shape[0] != N or am.shape[2] != lm.shape[2]:
        raise LossInputError(
            f"do_rnnt_pruning: am {tuple(am.shape)}, lm {tuple(lm.shape)} and ranges {tuple(ranges.shape)} "
            "must be (N, T, C), (N, U+1, C), (N, T, s_range)"
        )
    S1, C = lm.shape[1], lm.shape[2]
    am_pruned = am.unsqueeze(2).expand(N, T, s_range, C)
    # Row indexing into (N*(U+1), C): its backward is an index_add into lm's size, not a
    # scatter into an (N, T, U+1, C) expansion.
    rows = ranges + (torch.arange(N, device=lm.device) * S1).reshape(N, 1, 1)
    lm_pruned = lm.reshape(N * S1, C)[rows]
    return am_pruned, lm_pruned


def get_rnnt_logprobs_pruned(
    logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int,
    boundary: Tensor,
    rnnt_type: str,
) -> tuple[Tensor, Tensor]:
    """px (N, S, T+1 | T), py (N, S+1, T) from pruned logits (N, T, s_range, V); -inf outside."""
    N, T, s_range, V = logits.shape
    S = symbols.shape[1]
    with_terminal = torch.cat([symbols, symbols.new_full((N, 1), termination_symbol)], dim=1)  # (N, S+1)
    pruned_symbols = torch.gather(with_terminal.unsqueeze(1).expand(N, T, S + 1), 2, ranges)  # (N, T, s_range)
    sym, blk = symbol_logprobs(logits, pruned_symbols, termination_symbol)
    full = logits.new_full((N, T, S + 1), float("-inf"))
    px = full.scatter(2, ranges, sym)[:, :, :S].permute(0, 2, 1)  # (N, S, T)
    py = full.scatter(2, ranges, blk).permute(0, 2, 1)  # (N, S+1, T)
    return finish_px(px, boundary, rnnt_type), py


def rnnt_loss_pruned(
    logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int = 0,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    reduction: str = "mean",
    delay_penalty: float = 0.0,
    eos_penalty: float = 0.0,
    eos_id: int | None = None,
    eos_window: EosWindow | None = None,
) -> Tensor:
    """RNN-T loss with the joiner evaluated only inside the pruning windows.

    Args:
        logits: (N, T, s_range, V) joiner output on ``do_rnnt_pruning``'s pairs.
        symbols: (N, U) int64 targets.
        ranges: (N, T, s_range) symbol positions of each logits row.
        termination_symbol: blank id.  boundary: (N, 4) or None.
        rnnt_type: "regular" or "modified".  reduction: "mean", "sum" or "none".
        delay_penalty: k2's delay penalty (0 disables it).
        eos_penalty, eos_id: the delay penalty on symbol ``eos_id``'s arcs only.
        eos_window: the endpoint-window penalty on ``eos_id``'s arcs.
    """
    if not isinstance(logits, Tensor) or logits.dim() != 4:
        raise LossInputError(f"rnnt_loss_pruned: logits must be (N, T, s_range, V), got {getattr(logits, 'shape', logits)}")
    N, T, s_range, V = logits.shape
    if ranges.shape != (N, T, s_range):
        raise LossInputError(
            f"rnnt_loss_pruned: ranges {tuple(ranges.shape)} must match logits' (N, T, s_range) = {(N, T, s_range)}"
        )
    U = symbols.shape[1] if isinstance(symbols, Tensor) and symbols.dim() == 2 else -1
    boundary = check_rnnt_args(
        symbols, N, T, U + 1, V, boundary, termination_symbol, rnnt_type, reduction, "rnnt_loss_pruned"
    )
    if bool((ranges < 0).any()) or bool((ranges > U).any()):
        raise LossInputError(f"rnnt_loss_pruned: ranges must lie in [0, U={U}]")
    px, py = get_rnnt_logprobs_pruned(logits, symbols, ranges, termination_symbol, boundary, rnnt_type)
    return lattice_loss(px, py, boundary, rnnt_type, reduction, delay_penalty, symbols=symbols, eos_id=eos_id,
                        eos_penalty=eos_penalty, eos_window=eos_window)
