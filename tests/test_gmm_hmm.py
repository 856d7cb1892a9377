"""The monophone GMM-HMM (asr.hybrid.gmm): trained on yes/no sentences espeak-ng speaks at test
time, it must decode held-out ones; its scores must equal kaldi-hmm-gmm's; its model dir must
round-trip and refuse a graph built against other words; bad input gets errors naming it."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("kaldi_hmm_gmm")
pytest.importorskip("kaldifst")
pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")

from asr.hybrid import gmm  # noqa: E402  (loads kaldi-hmm-gmm before kaldifst)
from asr.audio.io import load_audio  # noqa: E402
from asr.errors import ModelDirError  # noqa: E402
from asr.features.mfcc import MfccOptions, compute_mfcc  # noqa: E402
from asr.hybrid.graph import make_grammar_fst  # noqa: E402
from asr.hybrid.lang import LexiconError, write_lang_dir  # noqa: E402
from asr.scoring.wer import align_words  # noqa: E402
from asr.text.lexicon import Lexicon  # noqa: E402

FAST = gmm.GmmTrainOptions(num_iters=12, realign_iters=(1, 2, 4, 6, 8, 10), target_gaussians=150, mixup_iters=8)


def _speak(text: str, path: Path, speed: int, pitch: int) -> np.ndarray:
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(speed), "-p", str(pitch), "-w", str(path), text], check=True)
    return load_audio(path, sample_rate=16000)


def _corpus(tmp: Path, n: int, seed: int, vocabulary: tuple[str, ...] = ("YES", "NO")) -> list[gmm.Utterance]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(2, 4))]
        samples = _speak(", ".join(w.lower() for w in words), tmp / f"{seed}_{k}.wav", rng.randint(140, 190), rng.randint(30, 70))
        out.append(gmm.Utterance(f"{seed}_{k}", compute_mfcc(samples, 16000), words))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gmm")
    lexicon = Lexicon(entries={"YES": [("Y", "EH", "S")], "NO": [("N", "OW")], "MAYBE": [("M", "EY", "B", "IY")]})
    lang = write_lang_dir(lexicon, tmp / "lang")
    train, test = _corpus(tmp, 16, seed=1), _corpus(tmp, 6, seed=2)
    model, report = gmm.train_monophone(lang.path, train, FAST, progress=False)
    G = make_grammar_fst(lang.path / "words.txt", ["YES", "NO"], loop=True)
    hclg = gmm.build_hclg(model, lang.path, G)
    model_dir = gmm.save_model_dir(tmp / "model", model, lang.path, hclg, train_options=FAST, report=report)
    return tmp, lang, model, report, test, model_dir


def test_mfcc_is_39_dimensional_with_zero_mean_cepstra():
    t = np.arange(16000) / 16000
    samples = (0.3 * np.sin(2 * np.pi * 300 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    feats = compute_mfcc(samples, 16000)
    assert feats.shape == (98, 39)  # snip_edges: 1 + (16000 - 400) // 160 frames
    np.testing.assert_allclose(feats[:, :13].mean(axis=0), 0.0, atol=1e-3)
    assert np.abs(feats[:, 13:]).max() > 0  # the deltas of a modulated tone are not flat
    with pytest.raises(ValueError, match="8000 Hz"):
        compute_mfcc(samples, 8000)


def test_training_raises_likelihood_and_decodes_held_out_speech(trained):
    _, _, model, report, test, model_dir = trained
    assert report.log_likes[-1] > report.log_likes[0] + 5  # EM and re-alignment improve the fit
    assert model.am.num_gauss > model.num_pdfs  # Gaussians were split
    loaded = gmm.load_model_dir(model_dir)
    errors = words = 0
    for utt in test:
        hyp = gmm.decode(loaded, utt.features)
        errors += align_words(utt.words, hyp.words)[1].errors
        words += len(utt.words)
        assert len(hyp.alignment) == len(utt.features)
        assert hyp.word_starts == sorted(hyp.word_starts)
        assert all(0 <= s < e <= len(utt.features) for s, e in zip(hyp.word_starts, hyp.word_ends))
    # chance on a yes/no loop is about 50% substitutions plus length errors
    assert errors / words <= 0.1, f"{errors} errors in {words} words"


def test_pdf_log_likelihoods_equal_kaldi_hmm_gmm(trained):
    _, _, model, _, test, _ = trained
    feats = test[0].features[:7]
    ours = model.pdf_log_likelihoods(feats)
    reference = np.array([[model.am.log_likelihood(p, x) for p in range(model.num_pdfs)] for x in feats])
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-3)
    scores = model.transition_scores(feats, 0.1)
    tid = 5
    np.testing.assert_allclose(scores[:, tid - 1], 0.1 * reference[:, model.tid_pdf[tid]], rtol=1e-4, atol=1e-3)


def test_model_dir_round_trip_gives_identical_output(trained, tmp_path):
    tmp, lang, model, _, test, model_dir = trained
    first = gmm.load_model_dir(model_dir)
    again = gmm.save_model_dir(tmp_path / "copy", first.model, lang.path, first.hclg)
    second = gmm.load_model_dir(again)
    for utt in test[:3]:
        a, b = gmm.decode(first, utt.features), gmm.decode(second, utt.features)
        assert (a.words, a.word_starts, a.word_ends, a.alignment) == (b.words, b.word_starts, b.word_ends, b.alignment)
        assert a.cost == pytest.approx(b.cost)


def test_graph_with_other_words_is_refused(trained, tmp_path):
    _, _, _, _, _, model_dir = trained
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    words = (copy / "words.txt").read_text().replace("MAYBE", "PERHAPS")
    (copy / "words.txt").write_text(words)
    with pytest.raises(ModelDirError, match="words.txt: not the words.txt HCLG.fst was built"):
        gmm.load_model_dir(copy)
    with pytest.raises(ModelDirError, match="not a GMM-HMM model dir"):
        gmm.load_model_dir(tmp_path)


def test_words_without_pronunciation_are_named(trained):
    _, lang, _, _, test, _ = trained
    bad = [gmm.Utterance("u1", test[0].features, ["YES", "ZORGLUB", "NO", "QUUX"])]
    with pytest.raises(LexiconError, match="2 words have no pronunciation.*QUUX ZORGLUB"):
        gmm.train_monophone(lang.path, bad, FAST, progress=False)


def test_cli_errors_name_the_problem(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    code = gmm.main(["train", "--lang-dir", str(tmp_path / "nolang"), "--data-dir", str(data), "--out-dir",
                     str(tmp_path / "out"), "--loop-of", "YES", "NO"])
    assert code == 2
    assert "nolang: lang dir not found" in capsys.readouterr().err
    code = gmm.main(["decode", "--model-dir", str(tmp_path), "--data-dir", str(data), "--out-dir", str(tmp_path / "out")])
    assert code == 2
    assert "not a GMM-HMM model dir" in capsys.readouterr().err


def test_token_lang_dir_is_refused(tmp_path):
    (tmp_path / "words.txt").write_text("<eps> 0\nA 1\n#0 2\n")
    (tmp_path / "phones.txt").write_text("<eps> 0\na 1\n#0 2\n")
    (tmp_path / "L_disambig.fst").write_bytes(b"")
    with pytest.raises(LexiconError, match="not a phone lang dir"):
        gmm.read_phone_lang_dir(tmp_path)
    assert MfccOptions().dim == 39
