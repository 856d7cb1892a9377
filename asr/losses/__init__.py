"""Transducer losses in pure PyTorch with k2's API: full, simple (am + lm) and pruned RNN-T."""

from asr.losses.lattice import mutual_information_recursion
from asr.losses.pruned import (
    do_rnnt_pruning,
    get_rnnt_prune_ranges,
    rnnt_loss_pruned,
    rnnt_loss_simple,
    rnnt_loss_smoothed,
)
from asr.losses.rnnt import EosWindow, rnnt_loss

__all__ = [
    "EosWindow",
    "do_rnnt_pruning",
    "get_rnnt_prune_ranges",
    "mutual_information_recursion",
    "rnnt_loss",
    "rnnt_loss_pruned",
    "rnnt_loss_simple",
    "rnnt_loss_smoothed",
]
