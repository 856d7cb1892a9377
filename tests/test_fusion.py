"""Shallow fusion and ILME fusion in modified beam search, and the token n-gram they use: scale 0 is
modified beam search exactly, a strong LM pulls hypotheses towards its text, and one step's scores
match a computation from the ARPA probabilities and the joiner's layers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from asr.decoding import DecodingOptions, get_search
from asr.decoding.beam_search import BeamSearchState, init_beams, modified_beam_search, modified_beam_search_step
from asr.errors import AsrError
from asr.lm.arpa import read_arpa, write_arpa
from asr.lm.token_lm import TokenNgramLM, train_token_ngram
from asr.lm.train_token_lm import main as train_token_lm_main
from asr.models.config import tiny_config
from asr.models.model import Transducer
from tiny_model import FACTORIZED, single_thread  # noqa: F401 (autouse fixture)

VOCAB = 7  # blank 0, <unk> 1, tokens 2..6
LM_TEXT = [[2, 3, 2, 3, 2, 3], [2, 3, 2, 3], [2, 3, 2, 3, 2]]  # "2 3" repeated: a strong, peaked LM
METHODS = ("modified_beam_search_lm_shallow_fusion", "modified_beam_search_ilme")


def random_model(seed: int = 0, predictor: str = "stateless") -> Transducer:
    """``predictor="factorized"``: an LSTM predictor with the factorized (FNT) HAT joiner."""
    torch.manual_seed(seed)
    overrides = FACTORIZED if predictor == "factorized" else {"predictor": predictor}
    model = Transducer(tiny_config(vocab_size=VOCAB, **overrides)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.6)
    return model


@pytest.fixture(scope="module")
def lm_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lm") / "tokens.arpa"
    write_arpa(train_token_ngram(LM_TEXT, VOCAB, order=3), path)
    return path


def _encoder_out(seed: int, n: int = 3, frames: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    enc = torch.randn(n, frames, tiny_config(vocab_size=VOCAB).encoder_dim, generator=g)
    return enc, torch.tensor([frames, frames - 3, frames - 5][:n])


def _options(method: str, lm: Path, **scales: float) -> DecodingOptions:
    pairs = (("lm", str(lm)),) + tuple((k, str(v)) for k, v in scales.items())
    return DecodingOptions(method=method, beam=4, method_options=pairs)


@pytest.mark.parametrize("predictor", ["stateless", "lstm", "factorized"])
@pytest.mark.parametrize("method", METHODS)
def test_scale_zero_is_modified_beam_search_exactly(lm_path: Path, method: str, predictor: str) -> None:
    model = random_model(1, predictor)
    enc, lens = _encoder_out(1)
    scales = {"lm_scale": 0.0} if "shallow" in method else {"lm_scale": 0.0, "ilme_scale": 0.0}
    fused = get_search(method).search(model, enc, lens, _options(method, lm_path, **scales))
    plain = modified_beam_search(model, enc, lens, beam=4)
    assert any(h.tokens for h in plain)
    for a, b in zip(fused, plain):
        assert (a.tokens, a.timestamps, a.log_prob) == (b.tokens, b.timestamps, b.log_prob)


@pytest.mark.parametrize("method", METHODS)
def test_scale_zero_with_several_symbols_per_frame_is_that_beam_search(lm_path: Path, method: str) -> None:
    model = random_model(1, "lstm")
    enc, lens = _encoder_out(1)
    scales = {"lm_scale": 0.0} if "shallow" in method else {"lm_scale": 0.0, "ilme_scale": 0.0}
    fused = get_search(method).search(model, enc, lens, _options(method, lm_path, max_sym_per_frame=3, **scales))
    plain = modified_beam_search(model, enc, lens, beam=4, max_sym_per_frame=3)
    for a, b in zip(fused, plain):
        assert (a.tokens, a.timestamps, a.log_prob) == (b.tokens, b.timestamps, b.log_prob)


@pytest.mark.parametrize("method", METHODS)
def test_a_strong_lm_pulls_hypotheses_towards_its_text(lm_path: Path, method: str) -> None:
    model = random_model(2)
    enc, lens = _encoder_out(2)
    lm = TokenNgramLM.load(lm_path, VOCAB)
    plain = modified_beam_search(model, enc, lens, beam=4)
    fused = get_search(method).search(model, enc, lens, _options(method, lm_path, lm_scale=3.0))
    assert [h.tokens for h in fused] != [h.tokens for h in plain]
    for f, p in zip(fused, plain):
        per_token = lambda h: lm.sentence_log_prob(h.tokens) / max(len(h.tokens), 1)  # noqa: E731
        assert per_token(f) >= per_token(p)
    assert sum(per_token(f) for f in fused) > sum(per_token(p) for p in plain) + 1.0
    # the fused hypotheses speak the LM's language: only tokens 2 and 3, alternating
    for h in fused:
        assert set(h.tokens) <= {2, 3} and all(a != b for a, b in zip(h.tokens, h.tokens[1:]))


@pytest.mark.parametrize("predictor", ["stateless", "lstm"])
def test_one_step_scores_match_an_independent_computation(lm_path: Path, predictor: str) -> None:
    model = random_model(3, predictor)
    enc, _ = _encoder_out(3, n=1, frames=1)
    lm_scale, ilme_scale = 0.7, 0.4
    arpa = read_arpa(lm_path)
    options = _options("modified_beam_search_ilme", lm_path, lm_scale=lm_scale, ilme_scale=ilme_scale)
    method = get_search("modified_beam_search_ilme")
    state = method.init_state(model, 1)
    state = method.step(model, enc, torch.tensor([1]), state, options.replace(beam=VOCAB))
    got = {tuple(h.tokens): h.log_prob for h in state.beams[0]}
    with torch.no_grad():  # by hand: predictor on the start blank, joiner layers, ARPA log10 probs
        dec = model.joiner.decoder_proj(model.predictor(torch.tensor([[model.blank_id]]))[0, -1])
        am = model.joiner.output_linear(torch.tanh(model.joiner.encoder_proj(enc[0, 0]) + dec)).double()
        log_p = am - torch.logsumexp(am, 0)
        ilm = model.joiner.output_linear(torch.tanh(dec)).double()[1:]
        ilm = ilm - torch.logsumexp(ilm, 0)
    want = {(): float(log_p[0])}
    for token in range(1, VOCAB):
        lm_log_p = arpa.log10_prob(str(token), ["<s>"]) * math.log(10) if token != 1 else -99 * math.log(10)
        want[(token,)] = float(log_p[token]) + lm_scale * lm_log_p - ilme_scale * float(ilm[token - 1])
    top = dict(sorted(want.items(), key=lambda kv: -kv[1])[:VOCAB])
    assert got.keys() == top.keys()
    for key, value in top.items():
        assert got[key] == pytest.approx(value, abs=1e-4), key


def test_fusion_continues_across_chunks_like_one_pass(lm_path: Path) -> None:
    model = random_model(4, "lstm")
    enc, lens = _encoder_out(4, n=1)
    method = get_search("modified_beam_search_ilme")
    options = _options("modified_beam_search_ilme", lm_path, lm_scale=0.5, ilme_scale=0.2)
    whole = method.search(model, enc, lens, options)[0]
    state = method.init_state(model, 1)
    for start in range(0, int(lens[0]), 4):
        chunk = enc[:, start:start + 4]
        state = method.step(model, chunk, torch.tensor([chunk.size(1)]), state, options)
    assert state.best_hypotheses()[0].tokens == whole.tokens


def test_token_lm_is_a_distribution_over_tokens_and_end_of_sentence(lm_path: Path) -> None:
    lm, arpa = TokenNgramLM.load(lm_path, VOCAB), read_arpa(lm_path)
    for history in ([], [2], [2, 3], [3, 2, 5], [6, 6]):
        row = lm.log_probs(history)
        assert row[0] == 0.0  # blank: never scored
        words = ["<s>"] + [str(t) for t in history]
        total = float(row[2:].exp().sum()) + 10 ** arpa.log10_prob("</s>", words)
        assert total == pytest.approx(1.0, abs=1e-4)
    assert lm.log_probs([2])[3] > lm.log_probs([2])[2] + 1.0  # "2 3" is what the text says


def test_fusion_errors_name_the_problem(lm_path: Path, tmp_path: Path) -> None:
    model = random_model(5)
    enc, lens = _encoder_out(5, n=1)
    method = "modified_beam_search_lm_shallow_fusion"
    with pytest.raises(ValueError, match="needs --method-option lm=PATH"):
        get_search(method).search(model, enc, lens, DecodingOptions(method=method))
    with pytest.raises(FileNotFoundError, match="nope.arpa not found"):
        get_search(method).search(model, enc, lens, _options(method, tmp_path / "nope.arpa"))
    other = tmp_path / "other.arpa"
    write_arpa(train_token_ngram([[2, 9, 12]], 13, order=2), other)
    with pytest.raises(AsrError, match="not non-blank token ids of a vocabulary of 7"):
        get_search(method).search(model, enc, lens, _options(method, other))
    with pytest.raises(ValueError, match="has no option 'ilme_scale'"):
        _options(method, lm_path, ilme_scale=0.1)
    tag = _options("modified_beam_search_ilme", lm_path, lm_scale=0.3).tag
    assert "/" not in tag and "tokens.arpa" in tag


def test_train_token_lm_cli_tokenizes_with_the_model_and_writes_arpa(tmp_path: Path) -> None:
    from tiny_model import make_tiny_model_dir

    loaded = make_tiny_model_dir(tmp_path)
    text = tmp_path / "text.txt"
    text.write_text("one two three\nnine 9 nine\nthree two one\n")
    out = tmp_path / "lm.arpa"
    assert train_token_lm_main(["--model-dir", str(tmp_path / "model"), "--text", str(text), "--out", str(out),
                                "--order", "3"]) == 0
    lm = TokenNgramLM.load(out, loaded.config.vocab_size)
    tokens = loaded.tokenizer.encode("ONE TWO THREE")
    other = loaded.tokenizer.encode("ONE EIGHT THREE")
    assert lm.sentence_log_prob(tokens) > lm.sentence_log_prob(other)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert train_token_lm_main(["--model-dir", str(tmp_path / "model"), "--text", str(empty), "--out",
                                str(tmp_path / "never.arpa")]) == 1
    assert not (tmp_path / "never.arpa").exists()


def test_streaming_recognizer_with_fusion_gives_the_offline_chunked_result(tmp_path: Path) -> None:
    from asr.decoding import OnlineRecognizer, decode_waveforms
    from asr.decoding.text import Detokenizer
    from tiny_model import make_tiny_model_dir, synth_audio

    loaded = make_tiny_model_dir(tmp_path, predictor="lstm", lstm_hidden_dim=16)
    lm = tmp_path / "lm.arpa"
    write_arpa(train_token_ngram([loaded.tokenizer.encode(t) for t in ("NINE EIGHT", "EIGHT NINE NINE")],
                                 loaded.config.vocab_size, order=3), lm)
    options = DecodingOptions(method="modified_beam_search_ilme", chunk_ms=160,
                              method_options=(("lm", str(lm)), ("lm_scale", "0.8"), ("ilme_scale", "0.3")))
    audio = [synth_audio(1.2, seed=7), synth_audio(0.9, seed=8)]
    offline = [Detokenizer(loaded.tokenizer).text(h.tokens) for h in decode_waveforms(loaded, audio, options)]
    recognizer = OnlineRecognizer(loaded, options)
    streams = [recognizer.create_stream() for _ in audio]
    for stream, samples in zip(streams, audio):
        stream.accept_waveform(16000, samples)
        stream.input_finished()
    recognizer.decode_until_done(streams)
    assert [recognizer.get_result(s).text for s in streams] == offline and any(offline)
