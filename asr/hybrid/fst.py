"""Small kaldifst helpers: build FSTs from arc lists, save and load them atomically, count arcs.

kaldifst is an optional dependency (the ``hybrid`` extra): importing this module without it
raises an ImportError that says how to install it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import sys

# kaldi-hmm-gmm carries its own OpenFst (the one of kaldifst 1.7): loading it after another OpenFst
# (kaldifst, kaldi_decoder, kaldilm, pynini) hangs in its static initialisers, while loading it
# first works. This module is where the package first touches kaldifst, so it loads kaldi-hmm-gmm
# (``asr.hybrid.gmm``) here when it still can.
_OTHER_OPENFSTS = ("kaldifst", "kaldi_decoder", "kaldilm", "pynini")
if "_kaldi_hmm_gmm" not in sys.modules and not any(m in sys.modules for m in _OTHER_OPENFSTS):
    try:
        import kaldi_hmm_gmm  # noqa: F401
    except ImportError:  # only asr.hybrid.gmm needs it, and says so
        pass

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


def parse_lattice(lattice) -> tuple[int | None, list[tuple[int, int, int, int, float, float]], dict[int, float]]:
    """(start, arcs (src, dst, ilabel, olabel, graph cost, acoustic cost), final costs) of a Kaldi
    lattice from its text form (kaldifst has no arc iterator for lattices)."""
    arcs, finals, start = [], {}, None
    for line in lattice.to_str(show_weight_one=True).splitlines():
        fields = line.split()
        if not fields:
            continue
        if start is None:
            start = int(fields[0])
        if len(fields) >= 4:
            g, a = (fields[4].split(",") + ["0", "0"])[:2] if len(fields) > 4 else ("0", "0")
            arcs.append((int(fields[0]), int(fields[1]), int(fields[2]), int(fields[3]), float(g), float(a)))
        else:
            g, a = (fields[1].split(",") + ["0", "0"])[:2] if len(fields) > 1 else ("0", "0")
            finals[int(fields[0])] = float(g) + float(a)
    return start, arcs, finals


def linear_path(lattice) -> tuple[list[tuple[int, int]], float, float]:
    """The arcs of a linear (best-path) lattice in path order as (ilabel, olabel), and its total
    graph and acoustic costs (final cost included in the graph cost)."""
    start, arcs, finals = parse_lattice(lattice)
    by_src = {a[0]: a for a in arcs}
    path, graph_cost, acoustic_cost, state = [], 0.0, 0.0, start
    while state in by_src:
        _, dst, ilabel, olabel, g, a = by_src.pop(state)
        path.append((ilabel, olabel))
        graph_cost += g
        acoustic_cost += a
        state = dst
    graph_cost += finals.get(state, 0.0) if state is not None else 0.0
    return path, graph_cost, acoustic_cost


def lattice_to_fst(lattice, output_only: bool = False, parsed: tuple | None = None) -> kaldifst.StdVectorFst | None:
    """A Kaldi lattice as a StdVectorFst with the same labels (``output_only``: an acceptor of the
    output labels) and total (graph + acoustic) costs; None for an empty lattice. (kaldifst cannot
    compose or search lattices themselves, nor project FSTs.) Arcs sorted by output label:
    ``kaldifst.compose`` of an unsorted left FST with a sorted right one misses paths.
    ``parsed``: the lattice's ``parse_lattice``, when the caller has it (it is the costly part)."""
    start, arcs, finals = parsed if parsed is not None else parse_lattice(lattice)
    if start is None:
        return None
    # kaldifst.compile takes the first line's source as the start state
    lines = [f"{s}\t{d}\t{o if output_only else i}\t{o}\t{g + a}"
             for s, d, i, o, g, a in sorted(arcs, key=lambda x: x[0] != start)]
    lines += [f"{s}\t{c}" for s, c in finals.items()]
    fst = kaldifst.compile("\n".join(lines) + "\n")
    kaldifst.arcsort(fst, sort_type="olabel")
    return fst


def nbest_word_sequences(lattice, n: int, parsed: tuple | None = None) -> list[tuple[list[int], float]]:
    """The ``n`` best distinct output-label sequences of a Kaldi lattice, best first, each with the
    total cost (graph + acoustic, as the decoder scored it) of its best path (``parsed``: as for
    ``lattice_to_fst``)."""
    fst = lattice_to_fst(lattice, output_only=True, parsed=parsed)
    if fst is None:
        return []
    kaldifst.rmepsilon(fst)
    det = kaldifst.determinize(fst)
    out = []
    for path in kaldifst.convert_nbest_to_vector(kaldifst.shortest_path(det, n=n)):
        ok, _, labels, weight = kaldifst.get_linear_symbol_sequence(path)
        if ok:
            out.append((list(labels), float(weight.value)))
    out.sort(key=lambda x: x[1])
    return out


def best_path_with_output(lattice_fst: kaldifst.StdVectorFst, olabels: list[int]) -> tuple[list[tuple[int, int]], float]:
    """The best path of ``lattice_fst`` (``lattice_to_fst``) whose output labels are ``olabels``:
    its (ilabel, olabel) arcs in order and total cost; ([], inf) when there is none."""
    words = kaldifst.make_linear_acceptor(olabels) if olabels else _epsilon_acceptor()
    kaldifst.arcsort(words, sort_type="ilabel")
    composed = kaldifst.compose(lattice_fst, words)
    best = kaldifst.shortest_path(composed)
    if best.num_states == 0:
        return [], float("inf")
    path, graph_cost, acoustic_cost = linear_path(best)
    return path, graph_cost + acoustic_cost


def _epsilon_acceptor() -> kaldifst.StdVectorFst:
    return fst_from_arcs([], {0: 0.0})


def load_fst(path: str | os.PathLike) -> kaldifst.StdVectorFst:
    path = Path(path)
    if not path.is_file():
        raise GraphError(f"{path}: FST file not found")
    fst = kaldifst.StdVectorFst.read(str(path))
    if fst is None:
        raise GraphError(f"{path}: not an OpenFst StdVectorFst file")
    return fst
