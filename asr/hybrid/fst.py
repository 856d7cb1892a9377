"""Small kaldifst helpers: build FSTs from arc lists, save and load them atomically, count arcs.

kaldifst is an optional dependency (the ``hybrid`` extra): importing this module without it
raises an ImportError that says how to install it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

try:
    import kaldifst
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("the hybrid system needs kaldifst: pip install -c constraints.txt '.[hybrid]'") from e

from asr.errors import AsrError
from asr.utils.io import atomic_path

Arc = tuple[int, int, int, int, float]  # (src, dst, ilabel, olabel, cost)


class GraphError(AsrError):
    """A lang dir, symbol table, ARPA file or FST that cannot make a decoding graph."""


def fst_from_arcs(arcs: Iterable[Arc], finals: Mapping[int, float], start: int = 0) -> kaldifst.StdVectorFst:
    """A StdVectorFst with the given arcs; states are created as the arcs name them."""
    arcs = list(arcs)
    fst = kaldifst.StdVectorFst()
    num_states = 1 + max([start, *finals, *(a[0] for a in arcs), *(a[1] for a in arcs)])
    for _ in range(num_states):
        fst.add_state()
    fst.start = start
    for src, dst, ilabel, olabel, cost in arcs:
        fst.add_arc(src, kaldifst.StdArc(ilabel, olabel, cost, dst))
    for state, cost in finals.items():
        fst.set_final(state, cost)
    return fst


def num_arcs(fst: kaldifst.StdFst) -> int:
    return sum(fst.num_arcs(s) for s in kaldifst.StateIterator(fst))


def save_fst(fst: kaldifst.StdFst, path: str | os.PathLike) -> None:
    """Write ``fst`` in OpenFst binary format; readers never see a half-written file."""
    with atomic_path(path) as tmp:
        if not fst.write(str(tmp)):
            raise GraphError(f"{path}: kaldifst could not write the FST")


def load_fst(path: str | os.PathLike) -> kaldifst.StdVectorFst:
    path = Path(path)
    if not path.is_file():
        raise GraphError(f"{path}: FST file not found")
    fst = kaldifst.StdVectorFst.read(str(path))
    if fst is None:
        raise GraphError(f"{path}: not an OpenFst StdVectorFst file")
    return fst
