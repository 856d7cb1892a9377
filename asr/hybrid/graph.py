"""Decoding graphs for a phone-CTC hybrid first pass, with kaldifst as icefall and sherpa-onnx do.

    G   = kaldilm(ARPA)                       word acceptor, back-off arcs read #0
    LG  = minimize_encoded(determinize_star(L_disambig o G))
    H   = CTC topology over the tokens (blank 0, phones 1..P); input label = token id + 1, plus
          a self-loop epsilon:#k on every state for each phone disambiguation symbol #k
    HLG = H o LG

The self-loops are Kaldi's way (as in HCLG) of dropping the disambiguation symbols after
determinization: H reads nothing while LG reads #k. G's back-off arcs are ``#0:<eps>``, so no
word-side disambiguation symbol reaches LG's output.

``kaldi_decoder.DecodableCtc`` reads ``log_probs[t, ilabel - 1]``, which is why H shifts the
token ids by one: label 0 stays epsilon.

CLI: ``python -m asr.hybrid.graph LANG_DIR OUT_DIR --arpa G.arpa`` (or ``--one-of W...`` /
``--loop-of W...`` for a closed-vocabulary grammar) writes ``G.fst`` and ``HLG.fst``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from asr.hybrid.fst import GraphError, fst_from_arcs, load_fst, num_arcs, save_fst

import kaldifst  # noqa: E402  (asr.hybrid.fst explains a missing install)

from asr.hybrid.lang import LangDir, read_lang_dir, read_symbols
from asr.lm.arpa import read_arpa

logger = logging.getLogger(__name__)


def build_ctc_topo(max_token_id: int, disambig_ids: Iterable[int] = ()) -> kaldifst.StdVectorFst:
    """The standard CTC topology: state k means "token k was the last one read" (0: blank).

    Reading token ``j`` (input label ``j + 1``) from state ``i != j`` outputs ``j`` (blank outputs
    epsilon) and moves to state ``j``; reading ``i`` again in state ``i`` is a repeat and outputs
    nothing. Every state is final. Each of ``disambig_ids`` gets a self-loop ``0:id`` on every state.
    """
    if max_token_id < 1:
        raise GraphError(f"a CTC topology needs at least one non-blank token, got max_token_id={max_token_id}")
    arcs = []
    for i in range(max_token_id + 1):
        for j in range(max_token_id + 1):
            arcs.append((i, j, j + 1, 0 if i == j else j, 0.0))
        arcs += [(i, i, 0, d, 0.0) for d in disambig_ids]
    return fst_from_arcs(arcs, {i: 0.0 for i in range(max_token_id + 1)})


def make_g_fst(arpa: str | os.PathLike, words_txt: str | os.PathLike, max_order: int = 3) -> kaldifst.StdVectorFst:
    """G from an ARPA file with kaldilm (``python -m kaldilm --read-symbol-table=words.txt
    --disambig-symbol='#0' --max-order=N``): back-off arcs read ``#0``, ``<s>``/``</s>`` become epsilon.

    A bad ARPA file raises ``ArpaError``; words of the LM missing from ``words.txt`` raise
    ``GraphError`` naming them (kaldilm would otherwise map them to ``<unk>`` or abort).
    """
    import kaldilm

    words = read_symbols(words_txt)
    if "#0" not in words:
        raise GraphError(f"{words_txt}: no #0 symbol: G's back-off arcs need it (make the lang dir with asr.hybrid.lang)")
    lm = read_arpa(arpa)
    missing = sorted(w for w in lm.vocab if w not in words)
    if missing:
        raise GraphError(f"{arpa}: {len(missing)} LM words are not in {words_txt}: {' '.join(missing[:20])}")
    with tempfile.TemporaryDirectory() as tmp, _stderr_to_file(Path(tmp) / "kaldilm.log") as log:
        out = Path(tmp) / "G.fst"
        try:
            kaldilm.arpa2fst(
                str(arpa), str(out), disambig_symbol="#0", read_symbol_table=str(words_txt), max_order=max_order, max_arpa_warnings=0
            )
        except Exception as e:
            raise GraphError(f"kaldilm could not turn {arpa} into G: {e}\n{log.read_text(errors='replace')[-2000:]}") from None
        return load_fst(out)


@contextlib.contextmanager
def _stderr_to_file(path: Path) -> Iterator[Path]:
    """Send what C++ code writes to fd 2 (kaldilm's progress lines) to ``path`` while inside."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "wb") as f:
        os.dup2(f.fileno(), 2)
        try:
            yield path
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def make_grammar_fst(words_txt: str | os.PathLike, words: Sequence[str], loop: bool) -> kaldifst.StdVectorFst:
    """G for a closed vocabulary, every word equally likely: exactly one of ``words`` (``loop=False``,
    e.g. an FSDD digit) or any non-empty sequence of them (``loop=True``, e.g. yesno).

    A word missing from ``words_txt`` raises ``GraphError`` naming it.
    """
    table = read_symbols(words_txt)
    missing = [w for w in words if w not in table]
    if missing or not words:
        raise GraphError(f"grammar words {missing or '(none)'} are not in {words_txt}")
    cost = math.log(len(words))
    arcs = [(0, 1, table[w], table[w], cost) for w in words]
    if loop:
        arcs += [(1, 1, table[w], table[w], cost) for w in words]
    G = fst_from_arcs(arcs, {1: 0.0})
    kaldifst.arcsort(G, sort_type="ilabel")
    return G


def build_lg(lang: LangDir, G: kaldifst.StdVectorFst) -> kaldifst.StdVectorFst:
    """``minimize_encoded(determinize_star(L_disambig o G))``, ilabel-sorted: phones (with the
    disambiguation symbols) in, words out; the right side of HLG and of a GMM-HMM's HCLG."""
    L = load_fst(lang.path / "L_disambig.fst")
    kaldifst.arcsort(L, sort_type="olabel")
    G = G.copy()
    kaldifst.arcsort(G, sort_type="ilabel")
    LG = kaldifst.compose(L, G)
    if LG.num_states == 0:
        raise GraphError(f"{lang.path}: L o G is empty: the LM and the lexicon share no word")
    kaldifst.determinize_star(LG)
    kaldifst.minimize_encoded(LG)
    kaldifst.arcsort(LG, sort_type="ilabel")
    return LG


def build_hlg(lang_dir: str | os.PathLike | LangDir, G: kaldifst.StdVectorFst) -> kaldifst.StdVectorFst:
    """HLG for a CTC model over ``tokens.txt`` of ``lang_dir`` (see the module docstring)."""
    lang = lang_dir if isinstance(lang_dir, LangDir) else read_lang_dir(lang_dir)
    LG = build_lg(lang, G)
    H = build_ctc_topo(lang.max_token_id, sorted(lang.disambig_phone_ids))
    kaldifst.arcsort(H, sort_type="olabel")
    HLG = kaldifst.compose(H, LG)
    kaldifst.arcsort(HLG, sort_type="ilabel")
    return HLG


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asr.hybrid.graph", description="Build G.fst and HLG.fst from a lang dir and an ARPA LM.")
    parser.add_argument("lang_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--arpa", type=Path, help="n-gram LM (G via kaldilm)")
    source.add_argument("--one-of", nargs="+", metavar="WORD", help="grammar: exactly one of these words (FSDD digits)")
    source.add_argument("--loop-of", nargs="+", metavar="WORD", help="grammar: any sequence of these words (yesno)")
    parser.add_argument("--max-order", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    start = time.perf_counter()
    words_txt = args.lang_dir / "words.txt"
    if args.arpa:
        G = make_g_fst(args.arpa, words_txt, args.max_order)
    else:
        G = make_grammar_fst(words_txt, [w.upper() for w in args.one_of or args.loop_of], loop=bool(args.loop_of))
    HLG = build_hlg(args.lang_dir, G)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    save_fst(G, args.out_dir / "G.fst")
    save_fst(HLG, args.out_dir / "HLG.fst")
    print(f"HLG: {HLG.num_states} states, {num_arcs(HLG)} arcs, built in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
