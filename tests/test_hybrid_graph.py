"""asr.hybrid: lang dir, G and HLG checked by decoding CTC posteriors against a brute-force search.

The brute force enumerates every word sequence (up to 3 words), every pronunciation and every
optional-silence choice, scores it with a CTC Viterbi alignment, the lexicon's silence costs and
the ARPA model's back-off paths computed here from the n-gram table (not from any FST), and must
agree with kaldi-decoder's best path over HLG in words and in cost.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

kaldifst = pytest.importorskip("kaldifst")
kaldi_decoder = pytest.importorskip("kaldi_decoder")
pytest.importorskip("kaldilm")

from asr.hybrid.fst import num_arcs  # noqa: E402
from asr.hybrid.fst import GraphError  # noqa: E402
from asr.hybrid.graph import build_ctc_topo, build_hlg, make_g_fst, make_grammar_fst  # noqa: E402
from asr.hybrid.lang import LangOptions, LexiconError, read_symbols, write_lang_dir  # noqa: E402
from asr.lm import KneserNeyOptions, NgramModel, estimate_kneser_ney, write_arpa  # noqa: E402
from asr.text.lexicon import Lexicon  # noqa: E402

LN10 = math.log(10)
SIL_PROB = 0.3
# Homophones (ANN/ANNE, NO/KNOW), a pronunciation that prefixes another (AH / AH N), two prons for A.
ENTRIES = {
    "A": [("AH",), ("EY",)],
    "AN": [("AH", "N")],
    "ANN": [("AE", "N")],
    "ANNE": [("AE", "N")],
    "NO": [("N", "OW")],
    "KNOW": [("N", "OW")],
    "ON": [("AA", "N")],
}
LM_TEXT = ["A NO", "ANNE ON A", "KNOW ANN", "AN ON", "NO NO A", "ANNE KNOW", "ON A"]


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory):
    lang_dir = tmp_path_factory.mktemp("lang")
    lang = write_lang_dir(Lexicon(entries=dict(ENTRIES)), lang_dir, LangOptions(sil_prob=SIL_PROB))
    d = (0.5, 1.0, 1.5)
    lm = estimate_kneser_ney([s.split() for s in LM_TEXT], KneserNeyOptions(order=3, discounts=(d, d, d)))
    write_arpa(lm, lang_dir / "G.arpa")
    G = make_g_fst(lang_dir / "G.arpa", lang_dir / "words.txt")
    return lang, lm, build_hlg(lang_dir, G)


def _ctc_viterbi_cost(log_probs: np.ndarray, tokens: tuple[int, ...]) -> float:
    """min over CTC alignments of -sum log p: the standard blank-interleaved trellis."""
    ext = np.zeros(2 * len(tokens) + 1, dtype=int)
    ext[1::2] = tokens
    S = len(ext)
    # A state may be entered from two back when it is a token different from the one two back.
    skip = np.zeros(S, dtype=bool)
    skip[2:] = (ext[2:] != 0) & (ext[2:] != ext[:-2])
    cost = np.full(S, np.inf)
    cost[:2] = -log_probs[0, ext[:2]]
    for t in range(1, log_probs.shape[0]):
        prev1 = np.concatenate(([np.inf], cost[:-1]))
        prev2 = np.where(skip, np.concatenate(([np.inf, np.inf], cost[:-2])), np.inf)
        cost = np.minimum(np.minimum(cost, prev1), prev2) - log_probs[t, ext]
    return float(min(cost[-1], cost[-2]))


def _lm_tropical_cost(lm: NgramModel, words: list[str]) -> float:
    """Cheapest path of the word sequence (+ </s>) through the back-off model, as a WFST G allows:
    at each word either its explicit n-gram or a back-off (paying -ln b) to a shorter history."""
    contexts = {g[:-1] for grams in lm.ngrams[1:] for g in grams}

    def state_of(gram: tuple[str, ...]) -> tuple[str, ...]:
        gram = gram[-(lm.order - 1) :]
        while gram and gram not in contexts:
            gram = gram[1:]
        return gram

    def moves(history: tuple[str, ...], word: str) -> list[tuple[float, tuple[str, ...]]]:
        out, acc = [], 0.0
        for start in range(len(history) + 1):
            h = history[start:]
            entry = lm.ngrams[len(h)].get(h + (word,))
            if entry is not None:
                out.append((acc - entry[0] * LN10, state_of(h + (word,))))
            if h:
                acc -= lm.ngrams[len(h) - 1][h][1] * LN10
        return out

    frontier = {("<s>",): 0.0}
    for word in [*words, "</s>"]:
        nxt: dict[tuple[str, ...], float] = {}
        for history, cost in frontier.items():
            for move_cost, state in moves(history, word):
                nxt[state] = min(nxt.get(state, math.inf), cost + move_cost)
        frontier = nxt
    return min(frontier.values())


def _brute_force(lang, lm: NgramModel, log_probs: np.ndarray) -> tuple[float, list[str]]:
    phones = lang.phones
    sil, no_sil = -math.log(SIL_PROB), -math.log(1 - SIL_PROB)
    best = (math.inf, [])
    ctc_cache: dict[tuple[int, ...], float] = {}
    for n in (1, 2, 3):
        for words in itertools.product(sorted(ENTRIES), repeat=n):
            lm_cost = _lm_tropical_cost(lm, list(words))
            for prons in itertools.product(*(ENTRIES[w] for w in words)):
                for sils in itertools.product((False, True), repeat=n + 1):
                    seq = [phones["SIL"]] if sils[0] else []
                    for pron, s in zip(prons, sils[1:]):
                        seq += [phones[p] for p in pron] + ([phones["SIL"]] if s else [])
                    key = tuple(seq)
                    if key not in ctc_cache:
                        ctc_cache[key] = _ctc_viterbi_cost(log_probs, key)
                    cost = lm_cost + sum(sil if s else no_sil for s in sils) + ctc_cache[key]
                    if cost < best[0]:
                        best = (cost, list(words))
    return best


def _decode(HLG, log_probs: np.ndarray, words: dict[str, int]) -> tuple[float, list[str]]:
    options = kaldi_decoder.FasterDecoderOptions(max_active=100000, beam=1000.0)
    decoder = kaldi_decoder.FasterDecoder(HLG, options)
    decoder.decode(kaldi_decoder.DecodableCtc(log_probs.astype(np.float32)))
    ok, path = decoder.get_best_path()
    assert ok
    _, _, olabels, weight = kaldifst.get_linear_symbol_sequence(path)
    id2word = {i: w for w, i in words.items()}
    return weight.value1 + weight.value2, [id2word[i] for i in olabels]


def _posteriors(rng: np.random.Generator, tokens: list[int], num_tokens: int, sharp: float) -> np.ndarray:
    """Noisy log-posteriors with ``tokens`` (blank-separated, 2 frames each) favoured by ``sharp``."""
    frames = [0]
    for t in tokens:
        frames += [t, t, 0]
    logits = rng.normal(size=(len(frames), num_tokens))
    logits[np.arange(len(frames)), frames] += sharp
    return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)


@pytest.mark.parametrize("seed", range(3))
def test_hlg_best_path_equals_brute_force(graph, seed: int) -> None:
    lang, lm, HLG = graph
    rng = np.random.default_rng(seed)
    target = [lang.phones[p] for p in ["AE", "N", "N", "OW", "AH"]][: 3 + seed % 3]
    log_probs = _posteriors(rng, target, lang.max_token_id + 1, sharp=3.0 - 0.5 * seed)
    expected_cost, expected_words = _brute_force(lang, lm, log_probs)
    cost, words = _decode(HLG, log_probs, lang.words)
    assert words == expected_words
    assert cost == pytest.approx(expected_cost, abs=2e-3)


def test_clear_peaks_decode_the_words(graph) -> None:
    lang, _, HLG = graph
    tokens = [lang.phones[p] for p in ["SIL", "AA", "N", "EY", "SIL"]]
    log_probs = _posteriors(np.random.default_rng(0), tokens, lang.max_token_id + 1, sharp=12.0)
    assert _decode(HLG, log_probs, lang.words)[1] == ["ON", "A"]


def test_lang_dir_symbols_and_disambiguation(graph, tmp_path: Path) -> None:
    lang, _, _ = graph
    words = read_symbols(lang.path / "words.txt")
    assert words["<eps>"] == 0 and list(words)[-3:] == ["#0", "<s>", "</s>"]
    assert {"!SIL", "<UNK>", "ANN", "ANNE"} <= set(words)
    phones = read_symbols(lang.path / "phones.txt")
    assert phones["<eps>"] == 0 and phones["SIL"] == 1 and phones["SPN"] == 2
    # ANN/ANNE and NO/KNOW are homophones -> #1, #2; AH is a prefix of AH N -> #1; the silence disambig is #3.
    assert sorted(p for p in phones if p.startswith("#")) == ["#0", "#1", "#2", "#3"]
    disambig = (lang.path / "lexicon_disambig.txt").read_text().splitlines()
    assert {"A AH #1", "ANN AE N #1", "ANNE AE N #2", "KNOW N OW #1", "NO N OW #2", "AN AH N", "A EY"} <= set(disambig)
    tokens = read_symbols(lang.path / "tokens.txt")
    assert tokens["<blk>"] == 0 and all(tokens[p] == phones[p] for p in tokens if p != "<blk>")
    assert not any(p.startswith("#") for p in tokens)
    with pytest.raises(LexiconError, match="word BAD: phones \\['XX'\\] are not in the phone set"):
        write_lang_dir(Lexicon(entries={"BAD": [("XX",)]}), tmp_path / "bad")


def test_ctc_topology_shape() -> None:
    H = build_ctc_topo(3)
    assert H.num_states == 4 and num_arcs(H) == 16
    labels = {(s, a.ilabel, a.olabel, a.nextstate) for s in range(4) for a in kaldifst.ArcIterator(H, s)}
    assert (2, 3, 0, 2) in labels  # token 2 repeated: no output
    assert (2, 1, 0, 0) in labels  # blank: input label 1, no output
    assert (0, 3, 2, 2) in labels  # new token 2 after blank: output 2


DIGITS = {
    "ZERO": [("Z", "IH", "R", "OW"), ("Z", "IY", "R", "OW")],
    "ONE": [("W", "AH", "N")],
    "TWO": [("T", "UW")],
    "SEVEN": [("S", "EH", "V", "AH", "N")],
    "EIGHT": [("EY", "T")],
    "YES": [("Y", "EH", "S")],
    "NO": [("N", "OW")],
}


@pytest.fixture(scope="module")
def digit_lang(tmp_path_factory: pytest.TempPathFactory):
    return write_lang_dir(Lexicon(entries=dict(DIGITS)), tmp_path_factory.mktemp("digits"))


@pytest.mark.parametrize(
    "phones,grammar,loop,expected",
    [
        (["S", "EH", "V", "AH", "N"], ["ZERO", "ONE", "TWO", "SEVEN", "EIGHT"], False, ["SEVEN"]),
        (["Z", "IY", "R", "OW"], ["ZERO", "ONE", "TWO", "SEVEN", "EIGHT"], False, ["ZERO"]),
        # Two digits spoken, but the FSDD grammar allows one word: the output has one word.
        (["W", "AH", "N", "T", "UW"], ["ZERO", "ONE", "TWO", "SEVEN", "EIGHT"], False, None),
        (["Y", "EH", "S", "N", "OW", "N", "OW", "Y", "EH", "S"], ["YES", "NO"], True, ["YES", "NO", "NO", "YES"]),
    ],
)
def test_grammar_graphs_for_fsdd_and_yesno(digit_lang, phones, grammar, loop, expected) -> None:
    G = make_grammar_fst(digit_lang.path / "words.txt", grammar, loop=loop)
    HLG = build_hlg(digit_lang, G)
    log_probs = _posteriors(np.random.default_rng(0), [digit_lang.phones[p] for p in phones], digit_lang.max_token_id + 1, 10.0)
    words = _decode(HLG, log_probs, digit_lang.words)[1]
    if expected is None:
        assert len(words) == 1 and words[0] in grammar
    else:
        assert words == expected


def test_grammar_word_missing_from_words_txt(digit_lang) -> None:
    with pytest.raises(GraphError, match=r"grammar words \['NINE'\] are not in .*words.txt"):
        make_grammar_fst(digit_lang.path / "words.txt", ["ONE", "NINE"], loop=False)
