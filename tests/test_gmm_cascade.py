"""The GMM-HMM as the cascade's first pass: its n-best (asr.hybrid.gmm.nbest) against a brute-force
search of every word sequence on a tiny graph, and the cascade (asr.hybrid.cascade.GmmCascade)
against the interpolated scores computed one hypothesis at a time.

A monophone GMM-HMM is trained on "one"/"two" sentences espeak-ng speaks at test time (helpers of
test_gmm_hmm); the tiny transducer of tiny_model spells digit words, so it can score them.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("kaldi_hmm_gmm")
pytest.importorskip("kaldifst")
pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")

from asr.hybrid import gmm  # noqa: E402  (loads kaldi-hmm-gmm before kaldifst)

import kaldifst  # noqa: E402
from test_gmm_hmm import FAST, _corpus  # noqa: E402
from tiny_model import single_thread  # noqa: E402,F401 (autouse fixture)

from asr.audio.io import load_audio  # noqa: E402
from asr.hybrid.graph import make_grammar_fst  # noqa: E402
from asr.hybrid.lang import write_lang_dir  # noqa: E402
from asr.text.lexicon import Lexicon  # noqa: E402

VOCABULARY = ("ONE", "TWO")
EXACT = gmm.GmmDecodeOptions(beam=1000.0, max_active=100000, lattice_beam=300.0, nbest=6, acoustic_scale=0.05)


@pytest.fixture(scope="module")
def one_two(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gmm_cascade")
    lexicon = Lexicon(entries={"ONE": [("W", "AH", "N")], "TWO": [("T", "UW")], "THREE": [("TH", "R", "IY")]})
    lang = write_lang_dir(lexicon, tmp / "lang")
    train, test = _corpus(tmp, 14, seed=1, vocabulary=VOCABULARY), _corpus(tmp, 3, seed=2, vocabulary=VOCABULARY)
    model, report = gmm.train_monophone(lang.path, train, FAST, progress=False)
    G = make_grammar_fst(lang.path / "words.txt", list(VOCABULARY), loop=True)
    model_dir = gmm.save_model_dir(tmp / "model", model, lang.path, gmm.build_hclg(model, lang.path, G), report=report)
    return tmp, gmm.load_model_dir(model_dir), G, test


def _restricted_to(loaded: gmm.GmmModelDir, words: tuple[str, ...]) -> gmm.GmmModelDir:
    """The model dir with HCLG composed with the linear acceptor of ``words``: a search over it is
    the best path with exactly these words (independent of the lattice)."""
    ids = {w: i for i, w in loaded.words.items()}
    hclg = loaded.hclg.copy()
    kaldifst.arcsort(hclg, sort_type="olabel")
    acceptor = kaldifst.make_linear_acceptor([ids[w] for w in words])
    composed = kaldifst.compose(hclg, acceptor)
    kaldifst.arcsort(composed, sort_type="ilabel")
    return dataclasses.replace(loaded, hclg=composed)


def _brute_force(loaded: gmm.GmmModelDir, feats: np.ndarray, max_words: int = 5) -> list[gmm.GmmHypothesis]:
    """The best path of every sequence of 1..max_words words, lowest cost first."""
    out = []
    for n in range(1, max_words + 1):
        for words in itertools.product(VOCABULARY, repeat=n):
            restricted = _restricted_to(loaded, words)
            hyp = gmm.decode(restricted, feats, EXACT)
            if hyp.words == list(words):
                out.append(hyp)
    return sorted(out, key=lambda h: h.cost)


def _lm_log_prob(G: kaldifst.StdVectorFst, word_ids: list[int]) -> float:
    linear = kaldifst.make_linear_acceptor(word_ids)
    kaldifst.arcsort(linear, sort_type="olabel")
    G = G.copy()
    kaldifst.arcsort(G, sort_type="ilabel")
    ok, _, _, weight = kaldifst.get_linear_symbol_sequence(kaldifst.shortest_path(kaldifst.compose(linear, G)))
    assert ok
    return -float(weight.value)


def test_nbest_is_sorted_starts_with_the_best_path_and_equals_brute_force(one_two) -> None:
    _, loaded, G, test = one_two
    model = loaded.model
    ids = {w: i for i, w in loaded.words.items()}
    for utt in test:
        nbest = gmm.nbest(loaded, utt.features, EXACT)
        best = gmm.decode(loaded, utt.features, EXACT)
        # every sequence up to the longest in the n-best (5 at least): the model differs from run to
        # run (kaldi-hmm-gmm's unseeded Gaussian splitting), and a 6-word entry appeared in some
        expected = _brute_force(loaded, utt.features, max(5, *(len(h.words) for h in nbest)))
        assert len(nbest) == EXACT.nbest
        costs = [h.cost for h in nbest]
        assert costs == sorted(costs)
        assert nbest[0].words == best.words and nbest[0].cost == pytest.approx(best.cost, abs=1e-2)
        assert nbest[0].alignment == best.alignment
        # the n best distinct word sequences of all those sequences: rank by rank the same costs
        # (they pass through the lattice's text form, 6 significant digits an arc), and each entry
        # a sequence whose own best path has its cost; sequences tied within that rounding may
        # come in either order (the GMM differs from run to run, and a tie showed up in one). The
        # lattice keeps the paths within lattice_beam of the best, so ranks are compared up to
        # there: a run had TWO TWO TWO ONE 0.085 past the beam, and the n-best went on with a
        # costlier path the pruned lattice happened to keep.
        assert len({tuple(h.words) for h in nbest}) == len(nbest)
        within_beam = [h for h in expected if h.cost < expected[0].cost + EXACT.lattice_beam - 2e-2]
        assert len(within_beam) >= 2  # the comparison below covers more than the best path
        for hyp, ref in zip(nbest, within_beam):
            assert hyp.cost == pytest.approx(ref.cost, abs=2e-2)
        brute_cost = {tuple(h.words): h.cost for h in expected}
        for hyp in nbest:
            assert hyp.cost == pytest.approx(brute_cost[tuple(hyp.words)], abs=2e-2), hyp.words
            assert hyp.cost == pytest.approx(-(hyp.am_score + hyp.lm_score), abs=1e-6)
            # AM: acoustic_scale x the pdf log-likelihoods of the alignment + its HMM transitions
            ll = model.pdf_log_likelihoods(utt.features)
            tids = np.array(hyp.alignment)
            assert len(tids) == len(utt.features)
            am = EXACT.acoustic_scale * ll[np.arange(len(tids)), model.tid_pdf[tids]].sum() - sum(
                model.transition_cost(int(t), EXACT.transition_scale, EXACT.self_loop_scale) for t in tids)
            assert hyp.am_score == pytest.approx(am, abs=2e-2)
            # LM: G's log-probability and the lexicon's optional silence, ln 0.5 before the first word and after each
            lm = _lm_log_prob(G, [ids[w] for w in hyp.words]) + (len(hyp.words) + 1) * math.log(0.5)
            assert hyp.lm_score == pytest.approx(lm, abs=2e-2)
            # word times: in order, inside the utterance
            assert hyp.word_starts == sorted(hyp.word_starts)
            assert all(0 <= s < e <= len(utt.features) for s, e in zip(hyp.word_starts, hyp.word_ends))


def test_empty_features_give_one_empty_hypothesis(one_two) -> None:
    _, loaded, _, _ = one_two
    (hyp,) = gmm.nbest(loaded, np.zeros((0, loaded.model.dim), dtype=np.float32))
    assert hyp.words == [] and hyp.cost == 0.0


def test_cascade_with_gmm_first_pass_picks_the_best_interpolated_score(one_two, tmp_path: Path) -> None:
    from tiny_model import make_tiny_model_dir

    from asr.decoding import DecodingOptions
    from asr.hybrid.cascade import GmmCascade, RescoreOptions, transducer_log_likelihoods
    from asr.hybrid.decode import encode_waveforms

    tmp, loaded, _, test = one_two
    e2e = make_tiny_model_dir(tmp_path, seed=5)
    options = DecodingOptions(chunk_ms=160)
    for weights in [(0.3, 0.7, 1.0), (0.05, 0.0, 2.0), (1.0, 1.0, 0.0)]:
        rescore_options = RescoreOptions(*weights)
        cascade = GmmCascade(e2e, loaded, options, EXACT, rescore_options)
        for utt in test[:2]:
            samples = load_audio(tmp / f"{utt.id}.wav", sample_rate=16000)
            (result, (scored,)), = cascade.decode_scored([samples])
            nbest = gmm.nbest(loaded, utt.features, EXACT)
            enc = encode_waveforms(e2e, [samples], options)[0]
            totals = []
            for hyp in nbest:
                (e2e_score,) = transducer_log_likelihoods(e2e.model, enc, [e2e.tokenizer.encode(hyp.text)])
                totals.append(weights[0] * hyp.am_score + weights[1] * hyp.lm_score + weights[2] * e2e_score)
            best = int(np.argmax(totals))
            assert result.text == nbest[best].text
            assert scored[0].score == pytest.approx(totals[best], abs=1e-3)
            assert sorted(h.rank for h in scored) == list(range(len(nbest)))
            assert result.first_pass == nbest[0].text
            if weights[2] == 0.0:  # without the transducer, the first pass's best
                assert result.text == nbest[0].text
            (segment,) = result.segments
            assert 0 <= segment.start < segment.end <= len(samples) / 16000 + 1e-6


def test_asr_transcribe_takes_a_gmm_dir_alone_and_as_first_pass(one_two, tmp_path: Path, capsys) -> None:
    """``asr transcribe --model-dir GMM_DIR`` prints the GMM's best path with word times;
    ``--model-dir E2E --first-pass GMM_DIR`` the cascade, whose first_pass is that best path."""
    import json

    from tiny_model import make_tiny_model_dir

    from asr.cli import main as cli_main

    tmp, loaded, _, test = one_two
    e2e = make_tiny_model_dir(tmp_path, seed=5)
    wavs = [str(tmp / f"{utt.id}.wav") for utt in test[:2]]
    assert cli_main(["transcribe", "--model-dir", str(loaded.path), "--format", "jsonl", *wavs]) == 0
    alone = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for record, utt in zip(alone, test[:2]):
        assert record["text"] == gmm.decode(loaded, utt.features).text
        assert [w["word"] for w in record["words"]] == record["text"].split()
        assert all(0 <= w["start"] < w["end"] for w in record["words"])
    assert cli_main(["transcribe", "--model-dir", str(e2e.path), "--first-pass", str(loaded.path),
                     "--format", "jsonl", "--nbest", "4", *wavs]) == 0
    cascade = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["first_pass"] for r in cascade] == [r["text"] for r in alone]
    assert all(set(r["text"].split()) <= set(VOCABULARY) for r in cascade)


def test_cascade_splits_a_long_recording_at_the_first_pass_pauses(one_two, tmp_path: Path) -> None:
    """Two utterances joined by 1.2 s of silence: with ``pause_ms`` the HMM's best path splits
    there, each side is rescored on its own, and the segment times fall on either side of the gap."""
    from tiny_model import make_tiny_model_dir

    from asr.decoding import DecodingOptions
    from asr.hybrid.cascade import GmmCascade, RescoreOptions

    tmp, loaded, _, test = one_two
    e2e = make_tiny_model_dir(tmp_path, seed=5)
    first, second = (load_audio(tmp / f"{u.id}.wav", sample_rate=16000) for u in test[:2])
    gap = np.zeros(int(1.2 * 16000), dtype=np.float32)
    joined = np.concatenate([first, gap, second])
    options, rescore_options = DecodingOptions(chunk_ms=160), RescoreOptions(0.3, 0.5, 1.0)
    whole = GmmCascade(e2e, loaded, options, EXACT, rescore_options)
    split = GmmCascade(e2e, loaded, options, EXACT, rescore_options, pause_ms=500)
    (result, scored_lists), = split.decode_scored([joined])
    assert len(result.segments) == len(scored_lists) == 2
    a, b = result.segments
    gap_start, gap_end = len(first) / 16000, (len(first) + len(gap)) / 16000
    assert 0 <= a.start < a.end <= gap_start + 0.1 and gap_end - 0.1 <= b.start < b.end <= len(joined) / 16000
    assert result.text == f"{a.text} {b.text}" and set(result.text.split()) <= set(VOCABULARY)
    # each segment is its side's own cascade result (its audio plus half the gap)
    assert a.text == whole.decode([first])[0].text and b.text == whole.decode([second])[0].text
    assert result.first_pass == gmm.decode(loaded, gmm.compute_mfcc(joined, 16000, loaded.model.features), EXACT).text
    (unsplit,) = whole.decode([joined])
    assert len(unsplit.segments) == 1
    with pytest.raises(ValueError, match="pause_ms=0"):
        GmmCascade(e2e, loaded, options, EXACT, rescore_options, pause_ms=0)


def test_audio_shorter_than_a_frame_gives_no_text_and_no_segment(one_two, tmp_path: Path) -> None:
    from tiny_model import make_tiny_model_dir

    from asr.decoding import DecodingOptions
    from asr.hybrid.cascade import GmmCascade, RescoreOptions

    _, loaded, _, _ = one_two
    e2e = make_tiny_model_dir(tmp_path, seed=5)
    for pause_ms in (None, 500):
        cascade = GmmCascade(e2e, loaded, DecodingOptions(chunk_ms=160), EXACT, RescoreOptions(), pause_ms=pause_ms)
        (result,) = cascade.decode([np.zeros(300, dtype=np.float32)])  # 300 samples: less than one 400-sample frame
        assert result.text == "" and result.segments == []


def test_tune_ranks_weight_settings_by_the_wer_they_give(tmp_path: Path, capsys) -> None:
    """The right words win only with the AM weight up on u1 and the LM weight up on u2: the grid's
    best setting has both, and a 1-best list cannot fix u2. The CLI reads the ref as a Kaldi text."""
    records = [
        {"id": "u1", "nbest": [{"words": ["WRONG"], "am": -5.0, "lm": -1.0, "e2e": -2.0, "rank": 0},
                               {"words": ["RIGHT"], "am": -1.0, "lm": -3.0, "e2e": -2.0, "rank": 1}]},
        {"id": "u2", "nbest": [{"words": ["BAD"], "am": -1.0, "lm": -9.0, "e2e": -1.0, "rank": 0},
                               {"words": ["GOOD"], "am": -2.0, "lm": -1.0, "e2e": -2.0, "rank": 1}]},
    ]
    refs = {"u1": "RIGHT", "u2": "GOOD"}
    results = gmm.tune(records, refs, [1, 2], [0.0, 1.0], [0.0, 1.0])
    assert len(results) == 8 and [r[0] for r in results] == sorted(r[0] for r in results)
    assert results[0] == (0.0, 2, 1.0, 1.0)
    assert all(wer == 100.0 for wer, n, _, _ in results if n == 1)
    (tmp_path / "nbest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "ref").write_text("u1 RIGHT\nu2 GOOD\n")
    assert gmm.main(["tune", "--nbest-jsonl", str(tmp_path / "nbest.jsonl"), "--ref", str(tmp_path / "ref"),
                     "--nbest-sizes", "2", "--am-weights", "1", "--lm-weights", "1", "--top", "1"]) == 0
    assert capsys.readouterr().out.startswith("%WER 0.00 nbest 2 am_weight 1 lm_weight 1")
    (tmp_path / "ref").write_text("u1 RIGHT\n")
    assert gmm.main(["tune", "--nbest-jsonl", str(tmp_path / "nbest.jsonl"), "--ref", str(tmp_path / "ref")]) == 2
    assert "no reference for 1 utterances" in capsys.readouterr().err
