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
from asr.errors import AsrError, ModelDirError  # noqa: E402
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
    _data_dir(tmp / "data_train", train, tmp)  # for the DNN-HMM's tests
    _data_dir(tmp / "data_test", test, tmp)
    return tmp, lang, model, report, test, model_dir


def _data_dir(path: Path, utts: list[gmm.Utterance], wav_dir: Path) -> Path:
    """A Kaldi data dir of ``_corpus`` utterances (their wavs in ``wav_dir``)."""
    path.mkdir(parents=True)
    utts = sorted(utts, key=lambda u: u.id)
    (path / "wav.scp").write_text("".join(f"{u.id} {wav_dir / (u.id + '.wav')}\n" for u in utts))
    (path / "text").write_text("".join(f"{u.id} {' '.join(u.words)}\n" for u in utts))
    for name in ("utt2spk", "spk2utt"):
        (path / name).write_text("".join(f"{u.id} {u.id}\n" for u in utts))
    return path


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



# ---------------------------------------------------------------------------------------------
# The DNN-HMM on the GMM-HMM's alignments (asr.hybrid.dnn_hmm)


@pytest.fixture(scope="module")
def dnn_trained(trained):
    from asr.hybrid import dnn_hmm

    tmp, lang, _, _, _, model_dir = trained
    options = dnn_hmm.DnnTrainOptions(num_epochs=12, learning_rate=3e-3, warmup_steps=5, batch_frames=1500)
    tdnn = dnn_hmm.TdnnOptions(hidden_dim=64, dropout=0.0)
    out = dnn_hmm.train_dnn_hmm(model_dir, lang.path, tmp / "data_train", tmp / "dnn", tmp / "data_test",
                                options=options, tdnn_options=tdnn, progress=False)
    return out


def test_dnn_hmm_learns_the_alignments_and_decodes_held_out_speech(trained, dnn_trained):
    _, _, _, _, test, _ = trained
    loaded = gmm.load_model_dir(dnn_trained)
    assert loaded.config["kind"] == "dnn_hmm" and (dnn_trained.parent / "ali_train.npz").is_file()
    epochs = loaded.config["dnn"]["epochs"]
    assert epochs[-1]["train_loss"] < 0.5 * epochs[0]["train_loss"]
    assert max(e["dev_accuracy"] for e in epochs) > 0.5  # 17 pdfs: chance is far below
    features = loaded.model.features
    assert features.dim == 40 and loaded.model.dim == 40
    errors = words = 0
    for utt in test:
        samples = load_audio(dnn_trained.parent.parent / f"{utt.id}.wav", sample_rate=16000)
        hyp = gmm.decode(loaded, compute_mfcc(samples, 16000, features))
        assert len(hyp.alignment) == len(utt.features)  # the same framing as the GMM's features
        errors += align_words(utt.words, hyp.words)[1].errors
        words += len(utt.words)
    assert errors / words <= 0.15, f"{errors} errors in {words} words"


def test_dnn_scores_are_log_posteriors_over_priors_and_see_only_their_context(dnn_trained):
    import torch

    loaded = gmm.load_model_dir(dnn_trained)
    model, network = loaded.model, loaded.model.network
    feats = np.random.default_rng(0).normal(size=(60, 40)).astype(np.float32)
    scores = model.pdf_log_likelihoods(feats)
    posteriors = np.exp(scores + model.log_priors)
    np.testing.assert_allclose(posteriors.sum(axis=1), 1.0, rtol=1e-4)
    c, t = network.context, 30
    changed = feats.copy()
    changed[t + c + 1:] += 5.0  # beyond frame t's right context
    changed[: t - c - 1] -= 5.0  # and before its left context
    again = model.pdf_log_likelihoods(changed)
    np.testing.assert_allclose(again[t], scores[t], rtol=1e-5, atol=1e-5)
    changed[t + c] += 5.0  # the last frame it sees
    assert not np.allclose(model.pdf_log_likelihoods(changed)[t], scores[t], atol=1e-4)
    with torch.no_grad():  # the edge padding repeats the first frame
        padded = network.pad(torch.from_numpy(feats))
        assert padded.shape == (60 + 2 * c, 40) and torch.equal(padded[0], padded[c])


def test_dnn_model_dir_round_trips_and_refuses_another_network(dnn_trained, trained, tmp_path):
    _, lang, _, _, test, _ = trained
    first = gmm.load_model_dir(dnn_trained)
    second = gmm.load_model_dir(gmm.save_model_dir(tmp_path / "copy", first.model, lang.path, first.hclg))
    feats = np.random.default_rng(1).normal(size=(80, 40)).astype(np.float32)
    np.testing.assert_array_equal(first.model.pdf_log_likelihoods(feats), second.model.pdf_log_likelihoods(feats))
    (tmp_path / "copy" / "dnn.pt").write_bytes((tmp_path / "copy" / "dnn.pt").read_bytes() + b"x")
    with pytest.raises(ModelDirError, match="dnn.pt: not the dnn.pt HCLG.fst was built"):
        gmm.load_model_dir(tmp_path / "copy")


def test_dnn_training_resumes_as_if_uninterrupted(tmp_path, monkeypatch):
    """Killed while saving epoch 3's checkpoint, a rerun continues after epoch 2 and ends with the
    weights of an uninterrupted run; a checkpoint of other options is refused."""
    from asr.hybrid import dnn_hmm

    rng = np.random.default_rng(0)
    examples = [(rng.normal(size=(n, 40)).astype(np.float32), rng.integers(0, 5, size=n)) for n in (50, 70, 90, 40)]
    tdnn = dnn_hmm.TdnnOptions(hidden_dim=16, layers=((3, 1), (3, 2)), dropout=0.2)
    options = dnn_hmm.DnnTrainOptions(num_epochs=4, batch_frames=100, warmup_steps=2)
    full, _ = dnn_hmm.train_network(examples, [], 5, options, tdnn, progress=False)
    checkpoint = tmp_path / "checkpoint.pt"
    real_atomic_path, saves = dnn_hmm.atomic_path, []

    def killed_on_third_save(path):
        saves.append(path)
        if len(saves) == 3:
            raise KeyboardInterrupt
        return real_atomic_path(path)

    monkeypatch.setattr(dnn_hmm, "atomic_path", killed_on_third_save)
    with pytest.raises(KeyboardInterrupt):
        dnn_hmm.train_network(examples, [], 5, options, tdnn, checkpoint, progress=False)
    monkeypatch.setattr(dnn_hmm, "atomic_path", real_atomic_path)
    resumed, report = dnn_hmm.train_network(examples, [], 5, options, tdnn, checkpoint, progress=False)
    assert [e["epoch"] for e in report["epochs"]] == [1, 2, 3, 4]
    for name, value in full.state_dict().items():
        np.testing.assert_allclose(value.numpy(), resumed.state_dict()[name].numpy(), atol=1e-6, err_msg=name)
    with pytest.raises(AsrError, match="checkpoint.pt: written by a training with other options"):
        dnn_hmm.train_network(examples, [], 5, dnn_hmm.DnnTrainOptions(num_epochs=6, batch_frames=50), tdnn, checkpoint,
                              progress=False)


def test_a_dnn_hmm_realigns_for_the_next_one(dnn_trained, trained, tmp_path):
    """Kaldi's second alignment pass: a DNN-HMM dir given as the aligner aligns with its network
    (its own features), caches the alignments under its own hashes, and trains a new DNN-HMM."""
    from asr.hybrid import dnn_hmm

    tmp, lang, _, _, _, _ = trained
    options = dnn_hmm.DnnTrainOptions(num_epochs=2, warmup_steps=2, batch_frames=1500)
    out = dnn_hmm.train_dnn_hmm(dnn_trained, lang.path, tmp / "data_train", tmp_path / "dnn2",
                                options=options, tdnn_options=dnn_hmm.TdnnOptions(hidden_dim=16), progress=False)
    first = gmm.load_model_dir(dnn_trained)
    again = gmm.load_model_dir(out)
    assert again.config["kind"] == "dnn_hmm" and again.model.features == first.model.features
    sha = first.config["sha256"]
    with np.load(tmp_path / "dnn2" / "ali_train.npz") as data:
        assert str(data["__gmm_sha256__"]) == f"{sha['model.pkl']}+{sha['dnn.pt']}"
        assert len([k for k in data.files if not k.startswith("__")]) >= 14


def test_mkgraph_puts_the_same_model_over_a_larger_vocabulary(trained, dnn_trained, tmp_path):
    """``remake_graph`` (utils/mkgraph.sh): a lang dir with more words (homophones add disambiguation
    symbols) gets an HCLG for the trained GMM-HMM or DNN-HMM, which then decodes as before where the
    grammar allows the same words; a lang dir over other phones is refused."""
    from asr.hybrid.graph import make_grammar_fst
    from asr.hybrid.lang import read_lang_dir

    tmp, _, _, _, test, model_dir = trained
    bigger = Lexicon(entries={"YES": [("Y", "EH", "S")], "NO": [("N", "OW")], "MAYBE": [("M", "EY", "B", "IY")],
                              "KNOW": [("N", "OW")], "KNOWE": [("N", "OW")]})
    lang = write_lang_dir(bigger, tmp_path / "lang_big")
    assert len(read_lang_dir(lang.path).disambig_phone_ids) > len(read_lang_dir(tmp / "lang").disambig_phone_ids)
    G = make_grammar_fst(lang.path / "words.txt", ["YES", "NO"], loop=True)
    for source in (model_dir, dnn_trained):
        out = gmm.remake_graph(source, lang.path, G, tmp_path / f"remade_{source.name}_{source.parent.name}")
        before, after = gmm.load_model_dir(source), gmm.load_model_dir(out)
        assert after.config["kind"] == before.config["kind"] and "KNOWE" in after.words.values()
        assert after.config["decode_options"] == before.config["decode_options"]
        for utt in test[:3]:
            samples = load_audio(tmp / f"{utt.id}.wav", sample_rate=16000)
            feats = compute_mfcc(samples, 16000, before.model.features)
            assert gmm.decode(after, feats).words == gmm.decode(before, feats).words
    other = tmp_path / "lang_other"  # the same lang dir with two phone ids swapped
    shutil.copytree(lang.path, other)
    phones = (other / "phones.txt").read_text().replace("\nAA ", "\nTMP ").replace("\nAE ", "\nAA ").replace("\nTMP ", "\nAE ")
    (other / "phones.txt").write_text(phones)
    with pytest.raises(gmm.GraphError, match="not the phone table the model was trained with"):
        gmm.remake_graph(model_dir, other, G, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()


def test_recipe_steps_train_a_dnn_hmm_remake_its_graph_and_decode(trained, tmp_path):
    """steps/train_dnn_hmm.sh, steps/mkgraph.sh and steps/decode_gmm.sh end to end on the yes/no
    corpus: each writes its outputs and its .done marker, and a rerun skips."""
    import os
    import subprocess
    import sys

    tmp, lang, _, _, _, model_dir = trained
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{repo / 'recipes' / 'utils'}:{os.environ['PATH']}",
           "PYTHONPATH": str(repo)}
    arpa_lang = tmp_path / "lang_lm"
    shutil.copytree(lang.path, arpa_lang)
    (arpa_lang / "G.arpa").write_text(  # a yes/no unigram LM
        "\\data\\\nngram 1=5\n\n\\1-grams:\n-0.5\t</s>\n-99\t<s>\n-0.5\tYES\n-0.5\tNO\n-2.0\tMAYBE\n\n\\end\\\n")

    def step(*args: str) -> subprocess.CompletedProcess:
        run = subprocess.run(["bash", *args], cwd=repo / "recipes", env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        return run

    exp = tmp_path / "exp_dnn"
    step("steps/train_dnn_hmm.sh", "--dev", str(tmp / "data_test"), "--opts", "--num-epochs 3 --hidden-dim 32 --num-threads 1",
         str(model_dir), str(lang.path), str(tmp / "data_train"), str(exp))
    assert (exp / ".train_dnn_hmm.done").is_file() and gmm.load_model_dir(exp / "model").config["kind"] == "dnn_hmm"
    assert "already trained, skipping" in step("steps/train_dnn_hmm.sh", str(model_dir), str(lang.path),
                                               str(tmp / "data_train"), str(exp)).stderr
    step("steps/train_dnn_hmm.sh", "--force", "true", "--opts", "--num-epochs 1 --hidden-dim 32 --num-threads 1",
         str(model_dir), str(lang.path), str(tmp / "data_train"), str(exp))
    (old,) = tmp_path.glob("exp_dnn.old-*")  # --force keeps the earlier run, never deletes it
    assert (old / "model" / "dnn.pt").is_file() and (old / "checkpoint.pt").is_file()
    assert len(gmm.load_model_dir(exp / "model").config["dnn"]["epochs"]) == 1
    graph = tmp_path / "model_lm"
    step("steps/mkgraph.sh", str(arpa_lang), str(exp / "model"), str(graph))
    assert gmm.load_model_dir(graph).config["kind"] == "dnn_hmm" and (graph / ".mkgraph.done").is_file()
    assert "already built, skipping" in step("steps/mkgraph.sh", str(arpa_lang), str(exp / "model"), str(graph)).stderr
    run = step("steps/decode_gmm.sh", "--opts", "--acoustic-scale 0.2", str(graph), str(tmp_path / "decode"), str(tmp / "data_test"))
    assert "%WER" in run.stdout and (tmp_path / "decode" / "data_test" / "wer.json").is_file()
