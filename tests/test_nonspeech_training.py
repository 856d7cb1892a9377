"""A model trained with non-speech cuts transcribes digital silence, low-level noise and a DC offset
as nothing, and still transcribes speech (tone words here, as in test_training)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from lhotse import CutSet

from asr.augment import NonspeechConfig, make_nonspeech_cuts
from test_training import _config, _cut, _tone_words


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    from asr.features.compute import compute_features
    from asr.text import train_tokenizer
    from asr.training.loop import train

    root = tmp_path_factory.mktemp("nonspeech_training")
    rng = np.random.default_rng(1)
    cuts, texts = [], []
    for i in range(32):
        words = [str(rng.choice(["YES", "NO"])) for _ in range(3)]
        sf.write(root / f"utt{i}.wav", _tone_words(words, rng), 16000)
        cuts.append(_cut(root / f"utt{i}.wav", " ".join(words), f"utt{i}"))
        texts.append(" ".join(words))
    nonspeech = make_nonspeech_cuts(root / "nonspeech", NonspeechConfig(num_per_kind=4, duration=(0.5, 1.5)))
    all_cuts = compute_features(CutSet.from_cuts(cuts + list(nonspeech)), root / "feats", progress_bar=False)
    all_cuts.to_file(root / "cuts.jsonl.gz")
    train_tokenizer(texts, root / "lang", vocab_size=8, model_type="char")
    corpus = {"cuts": root / "cuts.jsonl.gz", "lang": root / "lang"}
    config = _config(corpus, root / "exp", num_epochs=30, save_every_n=0, data__max_duration=3.0,
                     data__spec_augment={"enabled": False}, optim={"base_lr": 0.005, "warmup_batches": 10, "lr_batches": 1000})
    result = train(config)
    return result.export_dir, rng


def test_silence_noise_and_dc_give_empty_transcripts(trained_dir):
    from asr.decoding import DecodingOptions, decode_waveforms
    from asr.models import load_model_dir

    model_dir, rng = trained_dir
    loaded = load_model_dir(model_dir)
    t = np.arange(16000) / 16000
    inputs = {
        "digital silence": np.zeros(16000, dtype=np.float32),
        "noise at -50 dBFS": (0.00316 * rng.standard_normal(16000)).astype(np.float32),
        "DC offset 0.1": np.full(16000, 0.1, dtype=np.float32),
        "speech": _tone_words(["YES", "NO", "YES"], rng),
        "hum at -40 dBFS": (0.01 * np.sin(2 * np.pi * 50 * t)).astype(np.float32),
    }
    for chunk_ms in (None, 320):
        hyps = decode_waveforms(loaded, list(inputs.values()), DecodingOptions(chunk_ms=chunk_ms))
        texts = {name: loaded.tokenizer.decode(h.tokens) for name, h in zip(inputs, hyps)}
        assert texts["speech"].split() == ["YES", "NO", "YES"], texts
        for name in inputs:
            if name != "speech":
                assert texts[name] == "", f"{name} decoded as {texts[name]!r} ({chunk_ms} ms chunks)"
