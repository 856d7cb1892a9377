"""ILMA (``asr adapt``): the loss against a token-by-token computation, which parameters change
(the encoder never), the adapted dir decodes, and every bad input is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from asr.cli import main as cli_main
from asr.decoding import DecodingOptions, decode_waveforms
from asr.errors import ModelDirError, TokenizerError
from asr.lm.token_lm import TokenNgramLM, train_token_ngram
from asr.models import load_model_dir
from asr.training import adapt as adapt_module
from asr.training.adapt import AdaptConfig, adapt_model_dir, ilm_terms, trainable_parameters
from tiny_model import FACTORIZED, make_tiny_model_dir, single_thread, synth_audio  # noqa: F401 - fixture

TARGET_TEXT = ["NINE NINE EIGHT", "EIGHT NINE NINE NINE", "NINE EIGHT EIGHT NINE", "ONE NINE NINE"] * 4


SOURCES = {"lstm": {"predictor": "lstm", "lstm_hidden_dim": 16}, "stateless": {},
           "factorized": {**FACTORIZED, "lstm_hidden_dim": 16},
           "fnt_vocab": {**FACTORIZED, "vocab_predictor": True, "lstm_hidden_dim": 16}}


@pytest.fixture(scope="module", params=list(SOURCES))
def source(request, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp(f"src_{request.param}")
    overrides = SOURCES[request.param]
    make_tiny_model_dir(root, seed=3, **overrides)
    with torch.no_grad():  # weights of a usable scale for a language model (the tiny model's are huge)
        loaded = load_model_dir(root / "model")
        for p in loaded.model.parameters():
            p.mul_(0.3)
        from asr.models import save_model_dir
        save_model_dir(root / "model", loaded.model, loaded.config, root / "model")
    text = root / "target.txt"
    text.write_text("\n".join(TARGET_TEXT) + "\n")
    return root


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path / "model.pt", weights_only=True)


def _ilm_log_probs_by_hand(model, tokens: list[int]) -> torch.Tensor:
    """Step the predictor token by token and apply the joiner's layers without the encoder."""
    blank = model.blank_id
    state = model.predictor.init_state(1)
    out, state = model.predictor.step(torch.tensor([blank]), state)
    rows = []
    for tok in tokens:
        if model.config.factorized_joiner:  # the LM layer on the (vocabulary) predictor's output
            logits = model.joiner.lm_output(out[..., -model.config.decoder_dim:])[0].double()
        else:
            logits = model.joiner.output_linear(torch.tanh(model.joiner.decoder_proj(out)))[0].double()
        non_blank = torch.cat([logits[:blank], logits[blank + 1:]])
        rows.append(non_blank - torch.logsumexp(non_blank, 0))
        out, state = model.predictor.step(torch.tensor([tok]), state)
    return torch.stack(rows)  # (U, V - 1); column v - 1 is token v (blank is 0)


def test_ce_and_kl_match_a_token_by_token_computation(source: Path) -> None:
    loaded = load_model_dir(source / "model")
    model = loaded.model
    reference = load_model_dir(source / "model").model
    with torch.no_grad():
        layer = model.joiner.ilm_output_layer
        layer.weight.add_(0.2 * torch.randn_like(layer.weight))
    sentences = [loaded.tokenizer.encode(t) for t in ("NINE EIGHT", "ONE TWO THREE NINE")]
    with torch.no_grad():
        ce, kl, count = ilm_terms(model, reference, sentences)
    want_ce, want_kl = 0.0, 0.0
    with torch.no_grad():
        for tokens in sentences:
            p, q = _ilm_log_probs_by_hand(model, tokens), _ilm_log_probs_by_hand(reference, tokens)
            want_ce -= sum(float(p[u, t - 1]) for u, t in enumerate(tokens))
            want_kl += float((p.exp() * (p - q)).sum())
    assert count == sum(map(len, sentences))
    assert float(ce) == pytest.approx(want_ce, rel=1e-5)
    assert float(kl) == pytest.approx(want_kl, rel=1e-4, abs=1e-6) and want_kl > 1e-3


def test_teacher_target_is_the_fusion_of_the_unadapted_ilm_and_the_ngram(source: Path) -> None:
    """With teacher rows, the cross-entropy's target at each position is softmax(reference ILM +
    scale * n-gram) over the non-blank tokens, checked token by token."""
    loaded = load_model_dir(source / "model")
    model, reference = loaded.model, load_model_dir(source / "model").model
    with torch.no_grad():
        layer = model.joiner.ilm_output_layer
        layer.weight.add_(0.2 * torch.randn_like(layer.weight))
    sentences = [loaded.tokenizer.encode(t) for t in ("NINE EIGHT", "ONE TWO THREE NINE")]
    vocab = loaded.config.vocab_size
    torch.manual_seed(1)
    teacher = [torch.randn(len(s), vocab).log_softmax(-1) for s in sentences]
    with torch.no_grad():
        ce, _, _ = ilm_terms(model, reference, sentences, teacher=teacher, teacher_scale=0.7)
        want = 0.0
        for tokens, rows in zip(sentences, teacher):
            p, q = _ilm_log_probs_by_hand(model, tokens), _ilm_log_probs_by_hand(reference, tokens)
            target = (q + 0.7 * rows[:, 1:].double()).softmax(-1)  # column v - 1 is token v
            want -= float((target * p).sum())
    assert float(ce) == pytest.approx(want, rel=1e-5)


def test_cross_fitted_teacher_never_scores_a_sentence_with_an_ngram_that_saw_it() -> None:
    """Each sentence's teacher rows come from an n-gram of the other parts: a sentence found once is
    less likely under its teacher than under an n-gram of the whole text, one found in every part
    is as likely."""
    common, rare = [3, 4, 5, 3, 4], [6, 7, 8, 9, 6, 7]
    sentences = [common] * 12 + [rare]
    rows = adapt_module.cross_fitted_teacher(sentences, vocab_size=10, blank_id=0, order=3, folds=3, seed=0)
    assert [r.shape for r in rows] == [(len(s), 10) for s in sentences]
    whole = TokenNgramLM(train_token_ngram(sentences, 10, order=3), 10)
    seen = whole.sentence_log_prob(rare)
    held_out = sum(float(rows[-1][i, t]) for i, t in enumerate(rare))
    assert held_out < seen - 2.0
    common_held_out = sum(float(rows[0][i, t]) for i, t in enumerate(common))
    assert common_held_out == pytest.approx(whole.sentence_log_prob(common), abs=0.3)
    with pytest.raises(ValueError, match="teacher_folds=1"):
        AdaptConfig(teacher_order=6, teacher_folds=1)


@pytest.mark.parametrize("update", ["joiner-output", "joiner", "predictor+joiner", "vocab-predictor"])
def test_only_the_chosen_parameters_change_and_the_encoder_stays_byte_identical(source: Path, tmp_path: Path,
                                                                               update: str) -> None:
    out = tmp_path / "adapted"
    has_vocab_predictor = load_model_dir(source / "model").config.vocab_predictor
    if update == "vocab-predictor" and not has_vocab_predictor:
        with pytest.raises(ModelDirError, match="update=vocab-predictor needs .* vocabulary predictor"):
            adapt_model_dir(source / "model", source / "target.txt", out, AdaptConfig(update=update, progress=False))
        assert not out.exists()
        return
    result = adapt_model_dir(source / "model", source / "target.txt", out,
                             AdaptConfig(update=update, epochs=3, lr=3e-3, batch_size=4, progress=False))
    before, after = _state(source / "model"), _state(out)
    loaded = load_model_dir(source / "model")
    names = {id(p): n for n, p in loaded.model.named_parameters()}
    trained = {names[id(p)] for p in trainable_parameters(loaded.model, update)}
    assert trained and set(before) == set(after)
    for name in before:
        same = before[name].numpy().tobytes() == after[name].numpy().tobytes()
        assert same == (name not in trained), name
    assert any(n.startswith("encoder.") for n in before)
    if update == "vocab-predictor":  # the whole internal LM, nothing that scores blank
        assert trained == {n for n in before if n.startswith(("predictor.vocab.", "joiner.lm_output."))}
    assert result.stats.ilm_ce_after < result.stats.ilm_ce_before - 0.05
    # the adapted dir is a model dir like any other: it loads and decodes
    adapted = load_model_dir(out)
    hyps = decode_waveforms(adapted, [synth_audio(1.0, seed=1)], DecodingOptions(method="modified_beam_search"))
    assert len(hyps) == 1
    assert (out / "adapt.json").is_file() and (out / "tokens.txt").read_bytes() == (source / "model/tokens.txt").read_bytes()


def test_lm_scale_weighs_the_adapted_lm_in_the_token_scores(source: Path, tmp_path: Path) -> None:
    """``lm_scale`` is written into the adapted factorized model's config and multiplies its LM's
    log-probs in the token scores, and nothing else: the blank and the acoustic logits stay."""
    text = source / "target.txt"
    if not load_model_dir(source / "model").config.factorized_joiner:
        with pytest.raises(ModelDirError, match="only a factorized joiner"):
            adapt_model_dir(source / "model", text, tmp_path / "out", AdaptConfig(lm_scale=2.0, progress=False))
        assert not (tmp_path / "out").exists()
        return
    with pytest.raises(ValueError, match="lm_scale=-1"):
        AdaptConfig(lm_scale=-1.0)
    plain = adapt_model_dir(source / "model", text, tmp_path / "s1", AdaptConfig(epochs=1, progress=False)).out_dir
    scaled = adapt_model_dir(source / "model", text, tmp_path / "s2",
                             AdaptConfig(epochs=1, lm_scale=2.5, progress=False)).out_dir
    assert _state(plain).keys() == _state(scaled).keys()
    assert all(torch.equal(v, _state(scaled)[k]) for k, v in _state(plain).items())  # the same adaptation
    one, two = load_model_dir(plain), load_model_dir(scaled)
    assert (one.config.factorized_lm_scale, two.config.factorized_lm_scale) == (1.0, 2.5)
    torch.manual_seed(0)
    enc = torch.randn(1, 5, one.config.encoder_dim)
    with torch.no_grad():
        dec = one.model.predictor(torch.tensor([[0, 3, 4]]))
        raw = [m.model.joiner(m.model.joiner.project_encoder(enc)[:, :, None],
                              m.model.joiner.project_decoder(dec)[:, None]) for m in (one, two)]
        lm = one.model.internal_lm_log_probs(dec)[:, None]  # (1, 1, U, V)
    torch.testing.assert_close(raw[1][..., 0], raw[0][..., 0])  # HAT's blank does not read the LM
    # the tokens' log-odds against token 1 move by 1.5 times the LM's
    odds = [r[..., 1:] - r[..., 1:2] for r in raw]
    torch.testing.assert_close(odds[1] - odds[0], (1.5 * (lm[..., 1:] - lm[..., 1:2])).expand_as(odds[0]))


def test_kl_term_keeps_the_adapted_ilm_near_the_unadapted_one(source: Path, tmp_path: Path) -> None:
    stats = {}
    for kl_scale in (0.0, 5.0):
        result = adapt_model_dir(source / "model", source / "target.txt", tmp_path / f"kl{kl_scale}",
                                 AdaptConfig(kl_scale=kl_scale, epochs=5, lr=3e-2, batch_size=4, progress=False))
        stats[kl_scale] = result.stats
    assert stats[0.0].kl_after > 0.1
    assert stats[5.0].kl_after < 0.5 * stats[0.0].kl_after
    assert stats[0.0].ilm_ce_after < stats[5.0].ilm_ce_after


def test_lines_outside_the_token_set_are_skipped_and_reported(source: Path, tmp_path: Path) -> None:
    text = tmp_path / "mixed.txt"
    text.write_text("NINE EIGHT\nROOM 7 NINE\n\n...\nNINE ZEBRA\nEIGHT NINE 7\n")
    result = adapt_model_dir(source / "model", text, tmp_path / "out", AdaptConfig(epochs=1, progress=False))
    t = result.text
    assert (len(t.sentences), t.num_lines, t.skipped_empty, t.skipped_unknown) == (1, 6, 2, 3)
    assert t.unknown_chars == {"7": 2, "M": 1, "B": 1, "A": 1}
    assert "'7' (2 lines)" in t.summary()
    with pytest.raises(TokenizerError, match=r"mixed.txt:2: characters \['7', 'M'\] of 'ROOM 7 NINE'"):
        adapt_model_dir(source / "model", text, tmp_path / "strict", AdaptConfig(strict=True, progress=False))
    assert not (tmp_path / "strict").exists()


@pytest.mark.parametrize("content, message", [("", "is empty"), ("...\n  \n!!\n", "no line tokenizes"),
                                              ("7 8 9\nMAMA\n", "no line tokenizes.*'7'")])
def test_text_without_usable_lines_is_a_clear_error(source: Path, tmp_path: Path, content: str, message: str) -> None:
    text = tmp_path / "bad.txt"
    text.write_text(content)
    with pytest.raises(TokenizerError, match=message):
        adapt_model_dir(source / "model", text, tmp_path / "out", AdaptConfig(progress=False))
    assert not (tmp_path / "out").exists()


def test_bad_model_dirs_and_options_are_clear_errors(source: Path, tmp_path: Path) -> None:
    text = source / "target.txt"
    with pytest.raises(ModelDirError, match="does not exist"):
        adapt_model_dir(tmp_path / "nope", text, tmp_path / "out")
    with pytest.raises(ModelDirError, match="must not replace its source"):
        adapt_model_dir(source / "model", text, source / "model", overwrite=True)
    (tmp_path / "taken").mkdir()
    with pytest.raises(ModelDirError, match="already exists"):
        adapt_model_dir(source / "model", text, tmp_path / "taken")
    with pytest.raises(ValueError, match="update='encoder'"):
        AdaptConfig(update="encoder")
    with pytest.raises(ModelDirError, match="needs a Transducer"):
        adapt_module.check_ilm_compatible(torch.nn.Linear(2, 2), "joiner")
    model = load_model_dir(source / "model").model
    model.joiner = torch.nn.Linear(2, 2)  # a joiner with no encoder-free output
    with pytest.raises(ModelDirError, match="lacks output_without_encoder"):
        adapt_module.check_ilm_compatible(model, "joiner-output")


def test_a_failed_save_leaves_the_old_output_and_no_temp_dirs(source: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "adapted"
    adapt_model_dir(source / "model", source / "target.txt", out, AdaptConfig(epochs=1, progress=False))
    old = _state(out)

    def broken_save(path, *args, **kwargs):
        (Path(path) / "model.pt").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(adapt_module, "save_model_dir", broken_save)
    with pytest.raises(OSError, match="disk full"):
        adapt_model_dir(source / "model", source / "target.txt", out,
                        AdaptConfig(epochs=2, lr=1e-2, progress=False), overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapted"]
    assert all(torch.equal(old[k], v) for k, v in _state(out).items())


def test_cli_adapts_and_reports_bad_text(source: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli"
    assert cli_main(["adapt", "--model-dir", str(source / "model"), "--text", str(source / "target.txt"),
                     "--out-dir", str(out), "--update", "joiner", "--epochs", "1", "--batch-size", "8"]) == 0
    assert "ILM cross-entropy" in capsys.readouterr().out and load_model_dir(out).config
    taught = tmp_path / "taught"
    assert cli_main(["adapt", "--model-dir", str(source / "model"), "--text", str(source / "target.txt"),
                     "--out-dir", str(taught), "--teacher-order", "3", "--teacher-folds", "2", "--kl-scale", "0",
                     "--epochs", "1", "--batch-size", "8"]) == 0
    import json
    assert json.loads((taught / "adapt.json").read_text())["config"]["teacher_order"] == 3
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert cli_main(["adapt", "--model-dir", str(source / "model"), "--text", str(empty),
                     "--out-dir", str(tmp_path / "never")]) == 1
    assert not (tmp_path / "never").exists()
