"""asr.text: transcript normalization, sentencepiece lang dirs, cmudict lexicon."""

from __future__ import annotations

from pathlib import Path

import pytest

from asr.errors import DataDirError, TokenizerError
from asr.text import Tokenizer, normalize_transcript, read_tokens, train_tokenizer
from asr.text.lexicon import build_lexicon, load_cmudict, read_lexicon, write_lexicon_for_texts


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("Hello, world!", "HELLO WORLD"),
        ("Don't stop—it's o'clock.", "DON'T STOP IT'S O'CLOCK"),
        ("\u2018Tis the rock-and-roll era\u2019s end", "TIS THE ROCK AND ROLL ERA'S END"),
        ("He paid $5 at 2:30, or 3.5 dollars; 1,000 times", "HE PAID 5 AT 2:30 OR 3.5 DOLLARS 1,000 TIMES"),
        ("  tabs\tand\n newlines  ", "TABS AND NEWLINES"),
        ("caf\u00e9 na\u00efve \ufb01ne", "CAF\u00c9 NA\u00cfVE FINE"),
        ("rock 'n' roll", "ROCK N ROLL"),
        ("THE END.", "THE END"),
        ("zero\u200bwidth", "ZERO WIDTH"),
    ],
)
def test_normalize_transcript(raw: str, expected: str) -> None:
    assert normalize_transcript(raw) == expected
    assert normalize_transcript(expected) == expected  # idempotent


def test_empty_transcript_is_flagged() -> None:
    with pytest.raises(DataDirError, match=r"utterance utt7: transcript '\.\.\. !' is empty after normalization"):
        normalize_transcript("... !", utt_id="utt7")
    with pytest.raises(DataDirError, match="empty after normalization"):
        normalize_transcript("   ")
    assert normalize_transcript("?!", allow_empty=True) == ""


SENTENCES = [
    "THE CAT SAT ON THE MAT",
    "A DOG RAN AFTER THE CAT",
    "THE MAT WAS RED AND THE DOG WAS BROWN",
    "WE DON'T KNOW WHERE THE CAT WENT",
    "IT COST 3.5 DOLLARS AT 2:30",
] * 4


@pytest.mark.parametrize("model_type", ["bpe", "unigram", "char"])
def test_lang_dir_round_trip(tmp_path: Path, model_type: str) -> None:
    lang = tmp_path / f"lang_{model_type}"
    tok = train_tokenizer(SENTENCES, lang, vocab_size=40, model_type=model_type)
    assert sorted(p.name for p in lang.iterdir()) == ["bpe.model", "tokens.txt", "transcript_words.txt"]
    table = read_tokens(lang / "tokens.txt")
    assert table[0] == "<blk>" and table[1] == "<unk>"
    assert sorted(table) == list(range(tok.vocab_size))
    assert tok.blank_id == 0 and tok.unk_id == 1
    if model_type != "char":
        assert tok.vocab_size == 40
    loaded = Tokenizer.load(lang)
    for text in set(SENTENCES):
        ids = loaded.encode(text)
        assert ids and 0 not in ids and 1 not in ids
        assert loaded.decode(ids) == text
        assert [loaded.token_to_id(loaded.id_to_token(i)) for i in ids] == ids
    assert loaded.decode([0, *loaded.encode("THE CAT"), 0]) == "THE CAT"  # blanks are skipped


def test_tiny_vocabulary_like_yesno(tmp_path: Path) -> None:
    texts = ["YES NO NO YES YES NO NO YES", "NO NO YES YES NO YES NO NO"]
    for model_type in ("bpe", "char"):
        tok = train_tokenizer(texts, tmp_path / model_type, vocab_size=500, model_type=model_type)
        assert tok.vocab_size < 500  # capped at what 2 words support
        assert tok.decode(tok.encode("YES NO")) == "YES NO"
    char = Tokenizer.load(tmp_path / "char")
    assert sorted(char.id_to_token(i) for i in range(2, char.vocab_size)) == sorted("▁ENOSY")


def test_user_symbols_follow_blank(tmp_path: Path) -> None:
    tok = train_tokenizer(SENTENCES, tmp_path / "lang", vocab_size=40, user_symbols=["<eos>"])
    assert [tok.id_to_token(i) for i in range(3)] == ["<blk>", "<eos>", "<unk>"]
    assert tok.encode("THE CAT <eos>")[-1] == 1


def test_tokenizer_errors(tmp_path: Path) -> None:
    tok = train_tokenizer(SENTENCES, tmp_path / "lang", vocab_size=40)
    with pytest.raises(TokenizerError, match=r"cannot encode 'Z' in 'THE ZEBRA'"):
        tok.encode("THE ZEBRA")
    with pytest.raises(TokenizerError, match="cannot encode 'the', 'cat'"):
        tok.encode("the cat")  # lower case was never seen in training
    with pytest.raises(TokenizerError, match="outside the vocabulary"):
        tok.decode([tok.vocab_size])
    with pytest.raises(TokenizerError, match="not in the vocabulary"):
        tok.token_to_id("▁ZEBRA")
    with pytest.raises(TokenizerError, match="model_type"):
        train_tokenizer(SENTENCES, tmp_path / "x", 40, model_type="word")
    with pytest.raises(TokenizerError, match="no non-empty transcripts"):
        train_tokenizer(["", "  "], tmp_path / "y", 40)
    tokens = tmp_path / "lang" / "tokens.txt"
    lines = tokens.read_text().splitlines()
    lines[2] = "BOGUS 2"
    tokens.write_text("\n".join(lines) + "\n")
    with pytest.raises(TokenizerError, match="does not match"):
        Tokenizer.load(tmp_path / "lang")
    tokens.unlink()
    with pytest.raises(TokenizerError, match="tokens.txt: missing"):
        Tokenizer.load(tmp_path / "lang")


def test_lexicon_from_cmudict(tmp_path: Path) -> None:
    dictionary = load_cmudict()
    assert ("T", "AH", "M", "EY", "T", "OW") in dictionary["TOMATO"]
    with_stress = load_cmudict(strip_stress=False)
    assert ("T", "AH0", "M", "EY1", "T", "OW2") in with_stress["TOMATO"]
    lex = build_lexicon(["YES", "NO", "QWXZZY", "DON'T"], dictionary=dictionary)
    assert lex.oov == ["QWXZZY"]
    assert lex.entries["YES"] == [("Y", "EH", "S")]
    assert ("D", "OW", "N", "T") in lex.entries["DON'T"]
    path = tmp_path / "lexicon.txt"
    written = write_lexicon_for_texts(["YES NO", "NO QWXZZY"], path, oov_path=tmp_path / "oov.txt", dictionary=dictionary)
    assert (tmp_path / "oov.txt").read_text() == "QWXZZY\n"
    lines = path.read_text().splitlines()
    assert lines == sorted(lines) and "YES Y EH S" in lines and "<UNK> SPN" in lines
    back = read_lexicon(path)
    assert back.entries["NO"] == written.entries["NO"] and "QWXZZY" not in back.entries
    path.write_text("YES\n")
    with pytest.raises(DataDirError, match=r"lexicon.txt:1: word 'YES' has no pronunciation"):
        read_lexicon(path)
