"""ONNX export for sherpa-onnx: the graphs equal our modules, sherpa-onnx decodes them as we do.

The model is tiny and trained for a few seconds at test time on tone "words" (a random model's
encoder hardly depends on the audio, so its tokens would test the predictor only).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from asr.decoding.online import OnlineRecognizer  # noqa: E402
from asr.errors import ModelDirError  # noqa: E402
from asr.export.onnx import (OnnxExportOptions, SherpaStateAdapter, export_onnx,  # noqa: E402
                             load_onnx_dir)
from asr.features import compute_fbank  # noqa: E402
from asr.models import LoadedModel, Transducer, load_model_dir, save_model_dir, tiny_config  # noqa: E402
from asr.text.tokenizer import train_tokenizer  # noqa: E402
from tiny_model import single_thread  # noqa: E402,F401 (autouse fixture)

CHUNK_MS = 160
WORDS = {"YES": 300.0, "NO": 1200.0, "ON": 700.0}


def tone_words(words: list[str], rng: np.random.Generator) -> np.ndarray:
    parts = [np.zeros(int(rng.uniform(0.05, 0.2) * 16000))]
    for w in words:
        t = np.arange(int(rng.uniform(0.25, 0.35) * 16000)) / 16000
        parts += [0.3 * np.sin(2 * np.pi * WORDS[w] * t), np.zeros(int(rng.uniform(0.05, 0.15) * 16000))]
    audio = np.concatenate(parts).astype(np.float32)
    return audio + 0.005 * rng.standard_normal(len(audio)).astype(np.float32)


def train_tiny(path: Path, steps: int = 160) -> LoadedModel:
    """A tiny model trained with chunked attention (chunk = CHUNK_MS) on random tone-word strings."""
    tokenizer = train_tokenizer([" ".join(WORDS)] * 5, path / "lang", 10, model_type="char")
    config = tiny_config(vocab_size=tokenizer.vocab_size, chunk_sizes=(CHUNK_MS // 40,))
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = Transducer(config).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        texts = [list(rng.choice(list(WORDS), size=rng.integers(1, 4))) for _ in range(4)]
        feats = [torch.from_numpy(compute_fbank(tone_words(t, rng), 16000)) for t in texts]
        lens = torch.tensor([f.size(0) for f in feats])
        batch = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
        targets = [tokenizer.encode(" ".join(t)) for t in texts]
        losses = model(batch, lens, targets, chunk_size=CHUNK_MS // 40, left_context=config.left_context_frames)
        loss = (0.5 * losses["simple"] + losses["pruned"]) / losses["num_frames"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    save_model_dir(path / "model", model.eval(), config, path / "lang")
    return load_model_dir(path / "model")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[LoadedModel, Path]:
    root = tmp_path_factory.mktemp("onnx")
    loaded = train_tiny(root)
    result = export_onnx(loaded.path, root / "exported", OnnxExportOptions(chunk_ms=CHUNK_MS, int8=True))
    return loaded, result.path


def test_graphs_equal_encoder_infer_predictor_and_joiner(exported) -> None:
    loaded, out = exported
    model, onnx_model = loaded.model, load_onnx_dir(out)
    adapter = SherpaStateAdapter(loaded.config, loaded.config.left_context_frames)
    rng = np.random.default_rng(1)
    batch, frames = 2, CHUNK_MS // 10
    ours = model.encoder.init_states(batch)
    theirs = [s.numpy() for s in adapter.init_states(batch)]
    audio = [tone_words(["YES", "NO", "ON", "YES"], rng), tone_words(["NO", "NO", "ON", "YES"], rng)]
    feats = [compute_fbank(a, 16000) for a in audio]
    with torch.no_grad():
        for k in range(6):  # more chunks than the left context holds, so the caches roll over
            x = np.stack([f[k * frames:(k + 1) * frames] for f in feats]).astype(np.float32)
            out_t, _, ours = model.encoder.infer(torch.from_numpy(x), torch.full((batch,), frames), ours)
            out_o, theirs = onnx_model.run_encoder(x, theirs)
            np.testing.assert_allclose(out_o, model.joiner.project_encoder(out_t).numpy(), atol=1e-4)
            back = adapter.to_ours([torch.from_numpy(s) for s in theirs])
            assert back.names() == ours.names()
            for a, b in zip(ours.flatten(), back.flatten()):
                np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-4)
        # the decoder takes sherpa-onnx's start context [-1, 0] and any two tokens
        y = np.array([[-1, 0], [3, 5], [-1, 4], [2, 2]], dtype=np.int64)
        dec_o = onnx_model.run_decoder(y)
        _, start = model.predictor.step(torch.tensor([0]), model.predictor.init_state(1))
        assert start.context.tolist() == [y[0].tolist()], "our search starts from the context sherpa-onnx starts from"
        dec_t = model.joiner.project_decoder(model.predictor(torch.from_numpy(y), need_pad=False)[:, -1])
        np.testing.assert_allclose(dec_o, dec_t.numpy(), atol=1e-4)
        enc = out_o[:, 0].copy()
        logits = onnx_model.run_joiner(np.repeat(enc, 2, axis=0), dec_o)
        np.testing.assert_allclose(logits, model.joiner(torch.from_numpy(np.repeat(enc, 2, axis=0)),
                                                        torch.from_numpy(dec_o)).numpy(), atol=1e-4)


@pytest.mark.parametrize("kernel", [3, 4])  # odd: the conv cache fills zipformer2's; even: one zero column pads it
def test_state_adapter_maps_every_encoder_state_tensor_both_ways(kernel: int) -> None:
    config = tiny_config(vocab_size=10, conv_kernel_size=kernel)
    encoder = Transducer(config).encoder
    adapter = SherpaStateAdapter(config, config.left_context_frames)
    zeros = encoder.init_states(3)
    start = adapter.to_ours(adapter.init_states(3))
    assert start.names() == zeros.names()
    assert all(torch.equal(a, b) for a, b in zip(start.flatten(), zeros.flatten())), "sherpa-onnx's zeros are ours"
    torch.manual_seed(0)
    state = zeros.with_tensors([torch.randn(t.shape) if t.is_floating_point() else torch.randint(0, 99, t.shape)
                                for t in zeros.flatten()])
    passthrough = [torch.randn(t.shape) if t.is_floating_point() else t for t in adapter.init_states(3)]
    contract = adapter.to_contract(state, passthrough)
    assert [tuple(t.shape) for t in contract] == [tuple(t.shape) for t in adapter.init_states(3)]
    assert len(contract) == len(adapter.names()) == len(adapter.batch_axes())
    back = adapter.to_ours(contract)
    assert all(torch.equal(a, b) for a, b in zip(back.flatten(), state.flatten()))
    for i in range(config.num_encoder_layers):  # the slots we do not use come back unchanged
        for slot in (1, 3):
            assert contract[6 * i + slot] is passthrough[6 * i + slot]


def sherpa_decode(out: Path, audios: list[np.ndarray], int8: bool = False) -> list[tuple[list[str], list[float]]]:
    """sherpa-onnx's greedy search over all ``audios`` as one batch of streams (its StackStates
    concatenates our state tensors on the batch axes we declare)."""
    sherpa_onnx = pytest.importorskip("sherpa_onnx")
    suffix = ".int8.onnx" if int8 else ".onnx"
    recognizer = sherpa_onnx.OnlineRecognizer.from_transducer(
        tokens=str(out / "tokens.txt"), encoder=str(out / f"encoder{suffix}"), decoder=str(out / f"decoder{suffix}"),
        joiner=str(out / f"joiner{suffix}"), num_threads=1, decoding_method="greedy_search")
    streams = [recognizer.create_stream() for _ in audios]
    for stream, audio in zip(streams, audios):
        stream.accept_waveform(16000, audio)
        stream.input_finished()
    while ready := [s for s in streams if recognizer.is_ready(s)]:
        recognizer.decode_streams(ready)
    results = [recognizer.get_result_all(s) for s in streams]
    return [(list(r.tokens), list(r.timestamps)) for r in results]


def test_sherpa_onnx_decodes_the_export_like_our_streaming_greedy_search(exported) -> None:
    loaded, out = exported
    # sherpa-onnx's greedy search: one symbol a frame, and no tail padding
    options = OnnxExportOptions(chunk_ms=CHUNK_MS).decoding.replace(tail_padding_ms=0)
    recognizer = OnlineRecognizer(loaded, options)
    rng = np.random.default_rng(7)
    chunk_frames = CHUNK_MS // 40
    audios = [tone_words(words, rng) for words in (["YES", "NO", "ON"], ["ON", "ON"], ["NO", "YES", "YES", "NO"])]
    total = 0
    for audio, (tokens, times) in zip(audios, sherpa_decode(out, audios)):
        stream = recognizer.create_stream()
        stream.accept_waveform(16000, audio)
        stream.input_finished()
        recognizer.decode_until_done([stream])
        ours = recognizer.get_result(stream)
        # sherpa-onnx decodes a window only while a frame beyond it is ready, and pads no tail:
        # it sees the first (F - 1) // T chunks; greedy search is causal, so compare on those frames
        num_chunks = (compute_fbank(audio, 16000).shape[0] - 1) // (4 * chunk_frames)
        decoded = [(tok, t) for tok, t in zip(ours.tokens, ours.timestamps)
                   if round(t / 0.04) < num_chunks * chunk_frames]
        assert tokens == [tok.replace("\u2581", " ") for tok, _ in decoded]  # sherpa-onnx shows '▁' as ' '
        assert times == pytest.approx([t for _, t in decoded], abs=1e-3)
        assert "<unk>" not in ours.tokens  # sherpa-onnx treats <unk> as blank; a trained model never emits it
        total += len(tokens)
    assert total >= 6, "a model that emits (almost) nothing makes this comparison vacuous"


def test_int8_export_is_smaller_and_decodes(exported) -> None:
    loaded, out = exported
    # the tiny joiner's and decoder's matrices are too small for int8 to pay off; the encoder's are not
    assert (out / "encoder.int8.onnx").stat().st_size < 0.8 * (out / "encoder.onnx").stat().st_size
    int8 = load_onnx_dir(out, int8=True)
    assert int8.metadata["model_type"] == "zipformer2"
    [(tokens, _)] = sherpa_decode(out, [tone_words(["YES", "NO"], np.random.default_rng(3))], int8=True)
    assert "".join(tokens).strip(), "sherpa-onnx runs the int8 graphs and they still emit tokens"


def test_cli_export_writes_the_sherpa_files_and_refuses_to_overwrite(exported, tmp_path) -> None:
    from asr.cli import main

    loaded, _ = exported
    out = tmp_path / "cli"
    assert main(["export", "onnx", "--model-dir", str(loaded.path), "--out", str(out), "--chunk-ms", "320"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["decoder.onnx", "encoder.onnx", "joiner.onnx", "tokens.txt"]
    assert load_onnx_dir(out).metadata["T"] == "32"
    before = (out / "encoder.onnx").read_bytes()
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_onnx(loaded.path, out)
    assert (out / "encoder.onnx").read_bytes() == before
    assert main(["export", "onnx", "--model-dir", str(loaded.path), "--out", str(out), "--overwrite"]) == 0
    assert load_onnx_dir(out).metadata["T"] == "32"  # the default chunk is 320 ms too
    assert main(["export", "onnx", "--model-dir", str(loaded.path), "--out", str(out), "--overwrite",
                 "--left-context-ms", "0"]) == 1  # a clear error, and the old export stays
    assert load_onnx_dir(out).metadata["left_context_len"] == str(loaded.config.left_context_frames)
    assert [p.name for p in tmp_path.iterdir()] == ["cli"], "no temp dir is left behind"


def test_bad_model_dirs_are_refused_with_the_problem_named(exported, tmp_path) -> None:
    loaded, _ = exported
    no_tokens = tmp_path / "no_tokens"
    shutil.copytree(loaded.path, no_tokens)
    (no_tokens / "tokens.txt").unlink()
    with pytest.raises(ModelDirError, match="tokens.txt"):
        export_onnx(no_tokens, tmp_path / "out1")
    extra = tmp_path / "extra_token"
    shutil.copytree(loaded.path, extra)
    with (extra / "tokens.txt").open("a") as f:
        f.write(f"EXTRA {loaded.config.vocab_size}\n")
    with pytest.raises(ModelDirError, match="tokens.txt: does not match"):
        export_onnx(extra, tmp_path / "out2")
    bad_config = tmp_path / "bad_config"
    shutil.copytree(loaded.path, bad_config)
    payload = json.loads((bad_config / "config.json").read_text())
    payload["model"]["vocab_size"] += 1
    (bad_config / "config.json").write_text(json.dumps(payload))
    with pytest.raises(ModelDirError, match="do not match the model config"):
        export_onnx(bad_config, tmp_path / "out4")
    lstm_root = tmp_path / "lstm"
    config = tiny_config(vocab_size=loaded.config.vocab_size, predictor="lstm")
    save_model_dir(lstm_root, Transducer(config), config, loaded.path)
    with pytest.raises(ModelDirError, match="stateless"):
        export_onnx(lstm_root, tmp_path / "out3")
    fnt_root = tmp_path / "fnt"
    config = tiny_config(vocab_size=loaded.config.vocab_size, factorized_joiner=True)
    save_model_dir(fnt_root, Transducer(config), config, loaded.path)
    with pytest.raises(ModelDirError, match="factorized_joiner: sherpa-onnx's joiner"):
        export_onnx(fnt_root, tmp_path / "out5")
    assert not any(p.name.startswith("out") or p.name.startswith(".out") for p in tmp_path.iterdir())


def test_export_failing_midway_leaves_nothing(exported, tmp_path, monkeypatch) -> None:
    import asr.export.onnx as onnx_export

    loaded, _ = exported

    def broken(out: Path) -> dict:
        raise RuntimeError("quantizer crashed")

    monkeypatch.setattr(onnx_export, "quantize_int8", broken)
    with pytest.raises(RuntimeError, match="quantizer"):
        export_onnx(loaded.path, tmp_path / "out", OnnxExportOptions(int8=True))
    assert list(tmp_path.iterdir()) == []


def test_loading_an_export_whose_tokens_disagree_is_refused(exported, tmp_path) -> None:
    _, out = exported
    swapped = tmp_path / "swapped"
    shutil.copytree(out, swapped)
    lines = (swapped / "tokens.txt").read_text().splitlines()
    a, b = lines[2].split()[0], lines[3].split()[0]
    lines[2], lines[3] = f"{b} 2", f"{a} 3"
    (swapped / "tokens.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(ModelDirError, match="another tokens.txt"):
        load_onnx_dir(swapped)
    (swapped / "tokens.txt").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ModelDirError, match="vocab_size"):
        load_onnx_dir(swapped)


def test_hat_joiner_exports_its_normalised_output(tmp_path) -> None:
    """A HAT joiner's graph gives HAT's log-probs (already normalised, so sherpa-onnx's log_softmax
    leaves them as they are), equal to ours."""
    tokenizer = train_tokenizer([" ".join(WORDS)] * 5, tmp_path / "lang", 10, model_type="char")
    config = tiny_config(vocab_size=tokenizer.vocab_size, chunk_sizes=(CHUNK_MS // 40,), hat_joiner=True)
    torch.manual_seed(0)
    save_model_dir(tmp_path / "model", Transducer(config).eval(), config, tmp_path / "lang")
    loaded = load_model_dir(tmp_path / "model")
    onnx_model = load_onnx_dir(export_onnx(loaded.path, tmp_path / "exported", OnnxExportOptions(chunk_ms=CHUNK_MS)).path)
    rng = np.random.default_rng(0)
    enc = rng.standard_normal((3, config.joiner_dim)).astype(np.float32)
    dec = rng.standard_normal((3, config.joiner_dim)).astype(np.float32)
    logits = onnx_model.run_joiner(enc, dec)
    with torch.no_grad():
        expected = loaded.model.joiner(torch.from_numpy(enc), torch.from_numpy(dec)).numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    np.testing.assert_allclose(np.exp(logits).sum(-1), 1.0, atol=1e-5)
