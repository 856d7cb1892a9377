"""CTC-HLG first pass over a token lexicon: best path and n-best against a brute-force search,
chunked = offline, word times and pause segmentation, the hybrid model dir, the cascade's rescoring.

The lexicon spells words in a char sentencepiece model's tokens (icefall's prepare_lang_bpe.py);
the brute force scores every word sequence of up to 3 words by its spelling's CTC Viterbi cost
plus the ARPA model's back-off cost computed from the n-gram table (helpers of test_hybrid_graph).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

kaldifst = pytest.importorskip("kaldifst")
pytest.importorskip("kaldi_decoder")
pytest.importorskip("kaldilm")

from test_hybrid_graph import _ctc_viterbi_cost, _lm_tropical_cost, _posteriors  # noqa: E402
from tiny_model import single_thread  # noqa: E402,F401 (autouse fixture)

from asr.errors import ModelDirError  # noqa: E402
from asr.hybrid.decode import (HlgGraph, HlgHypothesis, HlgOptions, HlgStream, nbest_from_log_probs,  # noqa: E402
                               split_at_pauses)
from asr.hybrid.lang import LexiconError, read_symbols, spell_words  # noqa: E402
from asr.hybrid.prepare import HybridLangConfig, prepare_hybrid_lang  # noqa: E402
from asr.lm import read_arpa  # noqa: E402
from asr.text.tokenizer import Tokenizer, train_tokenizer  # noqa: E402

LM_TEXT = ["A NO", "ANNE ON A", "KNOW ANN", "AN ON", "NO NO A", "ANNE KNOW", "ON A"]
WORDS = sorted({w for s in LM_TEXT for w in s.split()})


@pytest.fixture(scope="module")
def token_lang(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("token_lang")
    tokenizer = train_tokenizer(LM_TEXT * 3, root / "tokens", 40, model_type="char")
    (root / "text.txt").write_text("\n".join(LM_TEXT) + "\n")
    lang_dir = root / "lang"
    report = prepare_hybrid_lang(lang_dir, HybridLangConfig(texts=[str(root / "text.txt")], tokens_dir=str(root / "tokens")))
    assert report.rebuilt == ["lexicon", "lang", "lm", "G", "HLG"]
    return tokenizer, lang_dir, read_arpa(lang_dir / "G.arpa"), HlgGraph.load(lang_dir)


def _spelling(tokenizer: Tokenizer, words: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(t for w in words for t in tokenizer.encode(w))


def _brute_force(tokenizer: Tokenizer, lm, log_probs: np.ndarray) -> list[tuple[float, list[str], float, float]]:
    """(total cost, words, AM log-likelihood, LM log-prob) of every sequence of 1-3 words, best first."""
    out = []
    for n in (1, 2, 3):
        for words in itertools.product(WORDS, repeat=n):
            am = -_ctc_viterbi_cost(log_probs, _spelling(tokenizer, words))
            lm_score = -_lm_tropical_cost(lm, list(words))
            out.append((-(am + lm_score), list(words), am, lm_score))
    return sorted(out, key=lambda x: x[0])


def _log_probs(tokenizer: Tokenizer, words: list[str], seed: int, sharp: float) -> np.ndarray:
    tokens = [t for w in words for t in tokenizer.encode(w)]
    return _posteriors(np.random.default_rng(seed), tokens, tokenizer.vocab_size, sharp).astype(np.float32)


def test_token_lexicon_spells_words_in_the_model_tokens(token_lang) -> None:
    tokenizer, lang_dir, _, _ = token_lang
    lexicon = dict(line.split(maxsplit=1) for line in (lang_dir / "lexicon.txt").read_text().splitlines())
    assert set(lexicon) == set(WORDS)
    assert lexicon["ANNE"].split() == [tokenizer.id_to_token(i) for i in tokenizer.encode("ANNE")]
    tokens, phones = read_symbols(lang_dir / "tokens.txt"), read_symbols(lang_dir / "phones.txt")
    assert tokens == read_symbols(Path(tokenizer.source) / "tokens.txt")
    assert phones["<eps>"] == 0 and all(phones[t] == i for t, i in tokens.items() if i > 0)
    assert min(i for p, i in phones.items() if p.startswith("#")) == max(tokens.values()) + 1
    # A is a prefix of AN, ANN of ANNE: they get disambiguation symbols.
    assert any(line.startswith("A ") and "#1" in line for line in (lang_dir / "lexicon_disambig.txt").read_text().splitlines())
    with pytest.raises(LexiconError, match="cannot be spelled.*ZED"):
        spell_words(["ZED"], tokenizer)


@pytest.mark.parametrize("seed", range(3))
def test_best_path_and_nbest_equal_brute_force(token_lang, seed: int) -> None:
    tokenizer, _, lm, graph = token_lang
    words = [["ANNE", "ON"], ["NO", "A"], ["KNOW", "ANN", "A"]][seed]
    log_probs = _log_probs(tokenizer, words, seed, sharp=2.0)
    expected = _brute_force(tokenizer, lm, log_probs)
    options = HlgOptions(beam=1000.0, max_active=100000, lattice_beam=8.0, nbest=5)
    stream = HlgStream(graph, options)
    stream.accept(log_probs)
    best = stream.best()
    assert best.words == expected[0][1]
    assert best.am_score == pytest.approx(expected[0][2], abs=2e-3)
    assert best.lm_score == pytest.approx(expected[0][3], abs=2e-3)
    nbest = nbest_from_log_probs(graph, log_probs, options)
    assert [h.words for h in nbest] == [e[1] for e in expected[:5]]
    for hyp, (_, _, am, lm_score) in zip(nbest, expected):
        # costs pass through the lattice's text form (7 significant digits) and float32 sums
        assert hyp.am_score == pytest.approx(am, abs=1e-2) and hyp.lm_score == pytest.approx(lm_score, abs=1e-2)


@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_chunked_decoding_equals_offline(token_lang, chunk: int) -> None:
    tokenizer, _, _, graph = token_lang
    log_probs = _log_probs(tokenizer, ["ANNE", "KNOW", "ANN", "ON", "A"], 5, sharp=2.5)
    offline = HlgStream(graph, HlgOptions())
    offline.accept(log_probs)
    streamed = HlgStream(graph, HlgOptions())
    partials = []
    for start in range(0, len(log_probs), chunk):
        streamed.accept(log_probs[start:start + chunk])
        partials.append(streamed.best(final=False).words)
    assert streamed.best() == offline.best()
    assert partials[-1] and all(len(p) <= len(offline.best().words) + 1 for p in partials)


def test_word_times_and_segments_at_pauses(token_lang) -> None:
    tokenizer, _, _, graph = token_lang
    frames, expected = [0, 0], []
    for k, word in enumerate(["ANNE", "ON", "A"]):
        start = len(frames)
        for t in tokenizer.encode(word):
            frames += [t, t, 0]
        expected.append((start, len(frames) - 1))
        frames += [0] * (15 if k == 1 else 1)  # a long pause after ON
    logits = np.full((len(frames), tokenizer.vocab_size), -10.0, dtype=np.float32)
    logits[np.arange(len(frames)), frames] = 0.0
    stream = HlgStream(graph, HlgOptions(), frame_offset=100)
    stream.accept(logits)
    best = stream.best()
    assert best.words == ["ANNE", "ON", "A"]
    assert list(zip(best.word_starts, best.word_ends)) == [(s + 100, e + 100) for s, e in expected]
    shifted = HlgHypothesis(best.words, [s - 100 for s in best.word_starts], [e - 100 for e in best.word_ends])
    segments = split_at_pauses(shifted, len(frames), pause_frames=10)
    assert [s.words for s in segments] == [["ANNE", "ON"], ["A"]]
    assert segments[0].cut_start == 0 and segments[-1].cut_end == len(frames)
    assert segments[0].end <= segments[0].cut_end == segments[1].cut_start <= segments[1].start
    assert split_at_pauses(shifted, len(frames), pause_frames=20)[0].words == ["ANNE", "ON", "A"]
    assert split_at_pauses(HlgHypothesis(), 10, 5) == []


def test_empty_input_gives_an_empty_hypothesis(token_lang) -> None:
    _, _, _, graph = token_lang
    stream = HlgStream(graph, HlgOptions())
    stream.accept(np.zeros((0, 5), dtype=np.float32))
    assert stream.best().words == [] and nbest_from_log_probs(graph, np.zeros((0, 5), np.float32), HlgOptions())[0].words == []
