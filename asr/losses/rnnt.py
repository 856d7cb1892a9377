"""Full RNN-T loss over the whole (N, T, U+1, V) joiner output, k2-style API.

Topologies (``rnnt_type``):
  * ``"regular"``: any number of symbols per frame; blank advances t. The last arc of every
    path is the blank from (U_n, T_n - 1) to (U_n, T_n).
  * ``"modified"``: at most one symbol per frame; emitting a symbol also advances t, so a
    path needs ``U_n <= T_n``.

Conventions follow k2: ``px[n, s, t]`` = log-prob of emitting symbol ``s+1`` at node (s, t),
``py[n, s, t]`` = log-prob of blank (``termination_symbol``) at (s, t); the score is the total
log-prob of the lattice (``asr.losses.lattice``) and the loss its negation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from asr.errors import LossInputError
from asr.losses.lattice import flush_tiny_, mutual_information_recursion

RNNT_TYPES = ("regular", "modified")
REDUCTIONS = ("mean", "sum", "none")


def check_rnnt_args(
    symbols: Tensor,
    batch_size: int,
    num_frames: int,
    num_positions: int,
    vocab_size: int,
    boundary: Tensor | None,
    termination_symbol: int,
    rnnt_type: str,
    reduction: str,
    what: str,
) -> Tensor:
    """Validate the shared arguments of every loss; returns boundary (N, 4), filled in if None.

    Args:
        symbols: (N, U) int64 target ids, padded with any valid id beyond U_n.
        num_frames: T.  num_positions: U + 1 as seen in the logits/lm.  vocab_size: V.
        batch_size: N as seen in the logits/am.
        what: the function name, used in error messages.
    """
    if not isinstance(symbols, Tensor) or symbols.dim() != 2:
        shape = tuple(symbols.shape) if isinstance(symbols, Tensor) else type(symbols).__name__
        raise LossInputError(f"{what}: symbols must be an (N, U) tensor, got {shape}")
    if symbols.dtype != torch.int64:
        raise LossInputError(f"{what}: symbols must be int64, got {symbols.dtype}")
    N, U = symbols.shape
    if N != batch_size:
        raise LossInputError(f"{what}: {batch_size} utterances in the scores but {N} rows of symbols")
    if num_positions != U + 1:
        raise LossInputError(
            f"{what}: symbols have U={U} but the symbol-position axis has {num_positions} entries "
            f"(expected U+1={U + 1})"
        )
    if num_frames < 1:
        raise LossInputError(f"{what}: need at least one frame, got T={num_frames}")
    if rnnt_type not in RNNT_TYPES:
        raise LossInputError(f"{what}: rnnt_type must be one of {RNNT_TYPES}, got {rnnt_type!r}")
    if reduction not in REDUCTIONS:
        raise LossInputError(f"{what}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if not 0 <= termination_symbol < vocab_size:
        raise LossInputError(f"{what}: termination_symbol {termination_symbol} outside vocabulary of size {vocab_size}")
    if U > 0:
        lo, hi = int(symbols.min()), int(symbols.max())
        if lo < 0 or hi >= vocab_size:
            bad = lo if lo < 0 else hi
            row = int(((symbols == bad).any(dim=1)).nonzero()[0])
            raise LossInputError(
                f"{what}: utterance {row} has symbol id {bad} outside the vocabulary [0, {vocab_size})"
            )
    if boundary is None:
        boundary = torch.tensor([0, 0, U, num_frames], dtype=torch.int64, device=symbols.device).expand(N, 4)
    else:
        if isinstance(boundary, (int, float)):
            raise LossInputError(
                f"{what}: boundary must be an (N, 4) tensor or None, got {boundary!r} "
                "(note: unlike k2, the third positional argument of rnnt_loss is boundary; "
                "pass termination_symbol by keyword)"
            )
        if boundary.shape != (N, 4):
            raise LossInputError(f"{what}: boundary must have shape (N, 4) = ({N}, 4), got {tuple(boundary.shape)}")
        boundary = boundary.to(torch.int64)
        if bool((boundary[:, :2] != 0).any()):
            raise LossInputError(f"{what}: boundary rows must be [0, 0, U_n, T_n]; nonzero starts are not supported")
        for col, name, limit in ((2, "U_n", U), (3, "T_n", num_frames)):
            bad = ((boundary[:, col] < 0) | (boundary[:, col] > limit)).nonzero()
            if len(bad):
                n = int(bad[0])
                raise LossInputError(f"{what}: utterance {n} has {name}={int(boundary[n, col])} outside [0, {limit}]")
        bad = (boundary[:, 3] < 1).nonzero()
        if len(bad):
            raise LossInputError(f"{what}: utterance {int(bad[0])} has T_n=0 frames; every utterance needs T_n >= 1")
    if rnnt_type == "modified":
        bad = (boundary[:, 2] > boundary[:, 3]).nonzero()
        if len(bad):
            n = int(bad[0])
            raise LossInputError(
                f"{what}: utterance {n} has U_n={int(boundary[n, 2])} symbols but only T_n={int(boundary[n, 3])} "
                "frames; the modified topology emits at most one symbol per frame"
            )
    return boundary


def finish_px(px: Tensor, boundary: Tensor, rnnt_type: str) -> Tensor:
    """Emission log-probs (N, S, T) -> the lattice's px.

    Regular topology: append frame T and forbid emitting at each utterance's frame T_n
    (px[n, :, T_n] = -inf, k2's ``fix_for_boundary``), giving (N, S, T+1). Modified: unchanged.
    """
    if rnnt_type != "regular":
        return px
    N, S, _ = px.shape
    px = torch.cat([px, px.new_full((N, S, 1), float("-inf"))], dim=2)
    index = boundary[:, 3].reshape(N, 1, 1).expand(N, S, 1)
    return px.scatter(2, index, float("-inf"))


def add_delay_penalty(px: Tensor, boundary: Tensor, delay_penalty: float) -> Tensor:
    """k2's delay penalty: add ``delay_penalty * ((T_n - 1) / 2 - t)`` to px[n, :, t].

    Emitting a symbol at an early frame gets a bonus and at a late frame a penalty, which pushes
    the model toward emitting symbols earlier. px (N, S, T+1) or (N, S, T).
    """
    if delay_penalty == 0.0:
        return px
    N, S, T0 = px.shape
    offset = (boundary[:, 3].to(px.dtype) - 1) / 2
    penalty = offset.reshape(N, 1, 1) - torch.arange(T0, device=px.device, dtype=px.dtype).reshape(1, 1, T0)
    return px + penalty * delay_penalty


def add_symbol_delay_penalty(px: Tensor, symbols: Tensor, boundary: Tensor, penalty: float,
                             symbol_id: int | None) -> Tensor:
    """The latency penalty on one symbol (SURT's ``<eos>``): k2's delay penalty on that symbol's arcs only.

    Adds ``penalty * ((T_n - 1) / 2 - t)`` to ``px[n, s, t]`` wherever ``symbols[n, s] ==
    symbol_id``, i.e. to the log-prob of emitting that symbol at frame t; every other arc is
    unchanged. A path emitting the symbol at frame t gains ``penalty * ((T_n - 1) / 2 - t)``: the
    earlier the symbol, the higher the path's score, which pulls the end-of-sentence token toward
    the end of speech instead of a comfortable delay after it. Summed over the k occurrences in a
    path, the bonus is ``penalty * sum_i ((T_n - 1) / 2 - t_i)``; as with k2's penalty, the
    ``(T_n - 1) / 2`` centre keeps the total near zero for uniformly spread emissions, so the loss
    stays comparable across penalties. px: (N, S, T+1 | T), symbols (N, S).
    """
    if penalty == 0.0 or symbol_id is None:
        return px
    N, S, T0 = px.shape
    offset = (boundary[:, 3].to(px.dtype) - 1) / 2
    time_term = offset.reshape(N, 1, 1) - torch.arange(T0, device=px.device, dtype=px.dtype).reshape(1, 1, T0)
    is_symbol = (symbols[:, :S] == symbol_id).to(px.dtype).reshape(N, S, 1)
    return px + penalty * is_symbol * time_term


@dataclass(frozen=True)
class EosWindow:
    """SURT's endpoint window: where each ``<eos>`` of a batch should be emitted.

    ``ref_frames`` (N, S): for each target position whose symbol is the ``<eos>``, the encoder
    frame where its sentence's speech ends (other entries are ignored); ``start``/``end``: the
    window's bounds in frames relative to it; ``penalty``: log-prob per frame outside the window.
    """

    ref_frames: Tensor
    penalty: float
    start: float = 0.0
    end: float = 0.0


def add_symbol_window_penalty(px: Tensor, symbols: Tensor, window: EosWindow, symbol_id: int) -> Tensor:
    """The endpoint-window penalty on one symbol's arcs (SURT's ``<eos>``, the early/late form).

    Adds ``-penalty * (max(0, (r_s + start) - t) + max(0, t - (r_s + end)))`` to ``px[n, s, t]``
    wherever ``symbols[n, s] == symbol_id``, ``r_s = window.ref_frames[n, s]``: emitting the
    end-of-sentence token inside ``[r_s + start, r_s + end]`` costs nothing, and each frame before or
    after the window costs ``penalty``. Unlike the delay penalty, which rewards any earlier
    ``<eos>`` (even one in the middle of the sentence), this pulls it toward the reference end
    from both sides: early ``<eos>`` cut the sentence's tail, late ones delay the endpoint.
    px: (N, S, T+1 | T), symbols (N, S).
    """
    if window.penalty == 0.0:
        return px
    N, S, T0 = px.shape
    if window.ref_frames.shape != (N, S):
        raise LossInputError(f"EosWindow.ref_frames {tuple(window.ref_frames.shape)} must be (N, S) = {(N, S)}")
    ref = window.ref_frames.to(px.dtype).reshape(N, S, 1)
    t = torch.arange(T0, device=px.device, dtype=px.dtype).reshape(1, 1, T0)
    outside = torch.relu(ref + window.start - t) + torch.relu(t - (ref + window.end))
    is_symbol = symbols[:, :S] == symbol_id
    return px - window.penalty * torch.where(is_symbol.reshape(N, S, 1), outside, torch.zeros_like(outside))


def reduce_loss(scores: Tensor, reduction: str) -> Tensor:
    """Per-utterance log-probs (N,) -> loss: "none" (N,), "sum" or "mean" over utterances."""
    if reduction == "none":
        return -scores
    if reduction == "sum":
        return -scores.sum()
    return -scores.mean()


def lattice_loss(
    px: Tensor,
    py: Tensor,
    boundary: Tensor,
    rnnt_type: str,
    reduction: str,
    delay_penalty: float,
    return_grad: bool = False,
    symbols: Tensor | None = None,
    eos_id: int | None = None,
    eos_penalty: float = 0.0,
    eos_window: EosWindow | None = None,
) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
    """The common tail of every loss: delay penalties, lattice recursion, reduction.

    px (N, S, T+1 | T), py (N, S+1, T), symbols (N, S) (needed for ``eos_penalty`` and
    ``eos_window``). Returns the loss, and with return_grad also the occupation probabilities
    ``(px_grad, py_grad)``.
    """
    px = add_delay_penalty(px, boundary, delay_penalty)
    if eos_penalty != 0.0 or (eos_window is not None and eos_window.penalty != 0.0):
        if eos_id is None or symbols is None:
            raise LossInputError("eos_penalty and eos_window need eos_id (the end-of-sentence token's id)")
        px = add_symbol_delay_penalty(px, symbols, boundary, eos_penalty, eos_id)
        if eos_window is not None:
            px = add_symbol_window_penalty(px, symbols, eos_window, eos_id)
    if return_grad:
        scores, grads = mutual_information_recursion(px, py, boundary, return_grad=True)
        return reduce_loss(scores, reduction), grads
    return reduce_loss(mutual_information_recursion(px, py, boundary), reduction)


# Temporaries of the log-softmax normalizers are bounded to this many elements (64 MB float32).
CHUNK_ELEMENTS = 2**24


def _logsumexp_chunked(x: Tensor) -> Tensor:
    """logsumexp over the last axis of (..., V), in row chunks of at most CHUNK_ELEMENTS."""
    V = x.shape[-1]
    if x.numel() <= CHUNK_ELEMENTS:
        return torch.logsumexp(x, dim=-1)
    if not x.is_contiguous():
        return torch.stack([torch.logsumexp(part, dim=-1) for part in x.unbind(0)])
    rows = x.reshape(-1, V).split(max(1, CHUNK_ELEMENTS // V))
    return torch.cat([torch.logsumexp(part, dim=-1) for part in rows]).reshape(x.shape[:-1])


class _SymbolLogProbs(torch.autograd.Function):
    """log_softmax(logits)[..., ids] and [..., blank] without materializing log_softmax.

    Autograd through logsumexp + two gathers would keep several (N, T, K, V) temporaries
    alive in backward; here forward only keeps the normalizers (computed in bounded chunks) and
    backward writes the single (N, T, K, V) gradient in place.
    """

    @staticmethod
    def forward(ctx, logits: Tensor, ids: Tensor, blank: int):  # type: ignore[override]
        # logits (N, T, K, V); ids (N, T, K) int64
        normalizers = _logsumexp_chunked(logits)
        sym = torch.gather(logits, 3, ids.unsqueeze(-1)).squeeze(-1) - normalizers
        blk = logits[..., blank] - normalizers
        ctx.blank = blank
        ctx.save_for_backward(logits, ids, normalizers)
        return sym, blk

    @staticmethod
    def backward(ctx, grad_sym: Tensor, grad_blk: Tensor):  # type: ignore[override]
        logits, ids, normalizers = ctx.saved_tensors
        grad = torch.empty_like(logits)
        mass = grad_sym + grad_blk  # (N, T, K); the normalizer's share is -mass * softmax
        # A loss (= -score) has mass <= 0 everywhere; a score (or a negatively scaled loss) >= 0.
        sign = -1.0 if bool((mass <= 0).all()) else (1.0 if bool((mass >= 0).all()) else 0.0)
        if sign != 0.0:
            # -mass * softmax = sign * exp(logits - (lse - log|mass|)), all in place in grad;
            # entries that would be subnormal after exp are cut in log space in the same pass.
            log_cut = math.log(torch.finfo(logits.dtype).tiny * 2.0**23)
            torch.sub(logits, (normalizers - (mass * sign).log()).unsqueeze(-1), out=grad)
            torch.nn.functional.threshold_(grad, log_cut, float("-inf"))
            grad.exp_()
            if sign > 0:
                grad.neg_()
        else:
            torch.sub(logits, normalizers.unsqueeze(-1), out=grad)
            grad.exp_().mul_(-mass.unsqueeze(-1))
            for part in grad.unbind(0):  # flush_tiny_'s temporaries: one utterance at a time
                flush_tiny_(part)
        grad.scatter_add_(3, ids.unsqueeze(-1), grad_sym.unsqueeze(-1))
        grad[..., ctx.blank] += grad_blk
        return grad, None, None


def symbol_logprobs(logits: Tensor, ids: Tensor, blank: int) -> tuple[Tensor, Tensor]:
    """Normalized log-probs of ``ids`` and of ``blank``.

    Args:
        logits: (N, T, K, V) unnormalized joiner output.
        ids: (N, T, K) int64 symbol id wanted at each (n, t, k).
    Returns:
        (sym, blk), both (N, T, K).
    """
    return _SymbolLogProbs.apply(logits, ids, blank)


def get_rnnt_logprobs_joint(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Tensor,
    rnnt_type: str = "regular",
) -> tuple[Tensor, Tensor]:
    """px, py for the full loss. logits (N, T, U+1, V) -> px (N, U, T+1 | T), py (N, U+1, T)."""
    N, T, S1, V = logits.shape
    S = S1 - 1
    with_terminal = torch.cat([symbols, symbols.new_full((N, 1), termination_symbol)], dim=1)  # (N, S+1)
    sym, blk = symbol_logprobs(logits, with_terminal.unsqueeze(1).expand(N, T, S1), termination_symbol)
    px = sym[:, :, :S].permute(0, 2, 1)  # (N, S, T)
    py = blk.permute(0, 2, 1)  # (N, S+1, T)
    return finish_px(px, boundary, rnnt_type), py


def rnnt_loss(
    logits: Tensor,
    symbols: Tensor,
    boundary: Tensor | None = None,
    termination_symbol: int = 0,
    rnnt_type: str = "regular",
    reduction: str = "mean",
    delay_penalty: float = 0.0,
    eos_penalty: float = 0.0,
    eos_id: int | None = None,
    eos_window: EosWindow | None = None,
) -> Tensor:
    """Full RNN-T loss (negative total log-prob of the targets).

    Args:
        logits: (N, T, U+1, V) joiner output for every (frame, symbol position) pair.
        symbols: (N, U) int64 targets.
        boundary: (N, 4) int64 rows ``[0, 0, U_n, T_n]``, or None for all ``[0, 0, U, T]``.
        termination_symbol: the blank id.
        rnnt_type: "regular" or "modified".
        reduction: "mean" (over utterances), "sum" or "none" (N,).
        delay_penalty: k2's delay penalty on symbol emission time (0 disables it).
        eos_penalty, eos_id: the same penalty on the arcs of symbol ``eos_id`` alone
            (``add_symbol_delay_penalty``; SURT's end-of-sentence latency penalty).
        eos_window: the endpoint-window penalty on ``eos_id``'s arcs (``add_symbol_window_penalty``).

    Returns:
        The loss; a scalar, or (N,) for reduction "none".
    """
    if not isinstance(logits, Tensor) or logits.dim() != 4:
        raise LossInputError(f"rnnt_loss: logits must be (N, T, U+1, V), got {getattr(logits, 'shape', logits)}")
    N, T, S1, V = logits.shape
    boundary = check_rnnt_args(symbols, N, T, S1, V, boundary, termination_symbol, rnnt_type, reduction, "rnnt_loss")
    px, py = get_rnnt_logprobs_joint(logits, symbols, termination_symbol, boundary, rnnt_type)
    return lattice_loss(px, py, boundary, rnnt_type, reduction, delay_penalty, symbols=symbols, eos_id=eos_id,
                        eos_penalty=eos_penalty, eos_window=eos_window)
