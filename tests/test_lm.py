"""asr.lm: interpolated modified Kneser-Ney against hand-computed values; ARPA reading and writing."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from asr.lm import ArpaError, KneserNeyOptions, estimate_kneser_ney, read_arpa, write_arpa
from asr.lm.kneser_ney import discounts_from_counts

D = (0.5, 1.0, 1.5)  # D1, D2, D3+ at every order: fixed so the hand computation below is exact


def test_kneser_ney_matches_hand_computation() -> None:
    # Corpus "<s> a b </s>", "<s> b a b </s>".
    # Trigram (raw) counts: <s> a b 1, a b </s> 2, <s> b a 1, b a b 1.
    # Bigram adjusted counts: <s> a 1 and <s> b 1 (raw: nothing precedes <s>);
    #   a b: left words {<s>, b} -> 2;  b </s>: {a} -> 1;  b a: {<s>} -> 1.
    # Unigram adjusted counts: a: {<s>, b} -> 2;  b: {a, <s>} -> 2;  </s>: {b} -> 1.  |V| = 3.
    model = estimate_kneser_ney([["a", "b"], ["b", "a", "b"]], KneserNeyOptions(order=3, discounts=(D, D, D)))

    # Unigrams: total 5; gamma = (D2*2 + D1*1) / 5 = 0.5.
    p1 = {"a": (2 - 1.0) / 5 + 0.5 / 3, "b": (2 - 1.0) / 5 + 0.5 / 3, "</s>": (1 - 0.5) / 5 + 0.5 / 3}
    assert sum(p1.values()) == pytest.approx(1.0)
    # Bigrams. Context <s>: counts 1, 1 -> gamma = (0.5 + 0.5) / 2. Context a: a b = 2 -> gamma = 1.0 / 2.
    # Context b: b </s> 1, b a 1 -> gamma = 0.5.
    p2_b_a = (2 - 1.0) / 2 + 0.5 * p1["b"]
    p2_eos_b = (1 - 0.5) / 2 + 0.5 * p1["</s>"]
    p2_a_b = (1 - 0.5) / 2 + 0.5 * p1["a"]
    p2_a_bos = (1 - 0.5) / 2 + 0.5 * p1["a"]
    # Trigrams (raw counts). Context (<s> a): <s> a b 1 -> gamma 0.5. Context (a b): a b </s> 2 -> gamma 0.5.
    p3_b_bos_a = (1 - 0.5) / 1 + 0.5 * p2_b_a
    p3_eos_a_b = (2 - 1.0) / 2 + 0.5 * p2_eos_b
    # Unseen after (a b): back off with gamma(a b) = 0.5 to p2(a | b).
    p3_a_a_b = 0.5 * p2_a_b
    # Unseen after (<s> a) and after a: two back-offs, 0.5 * 0.5, down to p1(</s>).
    p3_eos_bos_a = 0.5 * 0.5 * p1["</s>"]

    def p(word: str, *history: str) -> float:
        return 10 ** model.log10_prob(word, history)

    for word, expected in p1.items():
        assert p(word) == pytest.approx(expected, abs=1e-12)
    assert p("b", "a") == pytest.approx(p2_b_a)
    assert p("a", "<s>") == pytest.approx(p2_a_bos)
    assert p("b", "<s>", "a") == pytest.approx(p3_b_bos_a)
    assert p("</s>", "a", "b") == pytest.approx(p3_eos_a_b)
    assert p("a", "a", "b") == pytest.approx(p3_a_a_b)
    assert p("</s>", "<s>", "a") == pytest.approx(p3_eos_bos_a)
    # The numbers themselves, so a change of formula on both sides cannot pass unnoticed.
    assert p3_b_bos_a == pytest.approx(0.8416667, abs=1e-6)
    assert p3_eos_a_b == pytest.approx(0.6916667, abs=1e-6)
    # Written and read back through ARPA, the back-off model gives the same probabilities.
    assert model.sentence_log10_prob(["a", "b"]) == pytest.approx(math.log10(p2_a_bos * p3_b_bos_a * p3_eos_a_b))


def test_discounts_from_count_of_counts() -> None:
    # n1=4, n2=2, n3=2, n4=1 -> Y = 4/8; D1 = 1 - 2Y*2/4 = 0.5; D2 = 2 - 3Y*2/2 = 0.5; D3 = 3 - 4Y*1/2 = 2.
    assert discounts_from_counts([1, 1, 1, 1, 2, 2, 3, 3, 4, 7]) == pytest.approx((0.5, 0.5, 2.0))
    assert discounts_from_counts([1, 1, 2]) is None  # no 3s or 4s: undefined


def _random_corpus(seed: int, n: int = 400) -> list[list[str]]:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(150)]
    # Zipf-like choice so count-of-counts are all non-zero and the discounts are estimated.
    weights = [1 / (i + 1) ** 1.3 for i in range(len(vocab))]
    return [rng.choices(vocab, weights, k=rng.randint(1, 9)) for _ in range(n)]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_every_context_sums_to_one(order: int, caplog: pytest.LogCaptureFixture) -> None:
    corpus = _random_corpus(order)
    model = estimate_kneser_ney(corpus, KneserNeyOptions(order=order), extra_vocab=["never_seen"])
    assert "too sparse" not in caplog.text  # the discounts came from the counts
    vocab = [w for w in model.vocab if w != "<s>"]
    assert "never_seen" in vocab and "</s>" in vocab
    contexts = {()} | {tuple(g) for grams in model.ngrams[: order - 1] for g in grams}
    contexts |= {("never_seen",), ("w11", "never_seen")}  # contexts never seen at all
    for context in sorted(contexts)[:200]:
        total = sum(10 ** model.log10_prob(w, context) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-9), context


def test_arpa_round_trip(tmp_path: Path) -> None:
    corpus = _random_corpus(0)
    model = estimate_kneser_ney(corpus, KneserNeyOptions(order=3))
    write_arpa(model, tmp_path / "lm.arpa")
    back = read_arpa(tmp_path / "lm.arpa")
    assert [len(g) for g in back.ngrams] == [len(g) for g in model.ngrams]
    for sentence in [list(reversed(s)) for s in corpus[:30]]:  # mostly unseen trigrams: back-off paths
        assert back.sentence_log10_prob(sentence) == pytest.approx(model.sentence_log10_prob(sentence), abs=1e-5)


GOOD = "\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-99\t<s>\t-0.3\n-0.5\ta\n-0.2\t</s>\n\n\\2-grams:\n-0.1\t<s> a\n\n\\end\\\n"


@pytest.mark.parametrize(
    "text,message",
    [
        ("hello\n" + GOOD, r"expected the \\data\\ header, got 'hello'"),
        (GOOD.replace("ngram 2=1", "ngram 2=2"), r"header says ngram 2=2 but the \\2-grams: section has 1"),
        (GOOD.replace("\\end\\\n", ""), "ends without"),
        (GOOD.replace("-0.5\ta", "x\ta"), "not a number"),
        (GOOD.replace("-0.1\t<s> a", "-0.1\t<s>"), r"expected 'logprob 2 words \[backoff\]'"),
        (GOOD.replace("ngram 1=3\n", ""), "count for order 2 out of sequence"),
        ("", "no \\\\data\\\\ header"),
    ],
)
def test_bad_arpa_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.arpa"
    path.write_text(text)
    with pytest.raises(ArpaError, match=message):
        read_arpa(path)
    good = tmp_path / "good.arpa"
    good.write_text(GOOD)
    assert read_arpa(good).log10_prob("a", ["<s>"]) == pytest.approx(-0.1)


def test_lm_cli_normalizes_text_and_reads_kaldi_text(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from asr.lm.__main__ import main

    (tmp_path / "a.txt").write_text("The cat sat.\n\nA cat ran!\n")
    (tmp_path / "text").write_text("utt1 THE DOG SAT\n")
    (tmp_path / "extra").write_text("zorblax Z AO R B L AE K S\n")
    assert main(["--out", str(tmp_path / "lm.arpa"), "--order", "2", str(tmp_path / "a.txt")]) == 0
    assert main(["--out", str(tmp_path / "k.arpa"), "--kaldi-text", "--extra-vocab", str(tmp_path / "extra"), str(tmp_path / "text")]) == 0
    model = read_arpa(tmp_path / "lm.arpa")
    assert model.order == 2 and sorted(model.vocab) == ["</s>", "<s>", "A", "CAT", "RAN", "SAT", "THE"]
    assert ("THE", "CAT") in model.ngrams[1]
    kaldi = read_arpa(tmp_path / "k.arpa")
    assert sorted(kaldi.vocab) == ["</s>", "<s>", "DOG", "SAT", "THE", "ZORBLAX"]  # no utt1: it is the id
    assert "2 sentences" in capsys.readouterr().out
