"""CTC-HLG first pass over a token lexicon: best path and n-best against a brute-force search,
chunked = offline, word times and pause segmentation, the hybrid model dir, the cascade's rescoring.

The lexicon spells words in a char sentencepiece model's tokens (icefall's prepare_lang_bpe.py);
the brute force scores every word sequence of up to 3 words by its spelling's CTC Viterbi cost
plus the ARPA model's back-off cost computed from the n-gram table (helpers of test_hybrid_graph).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

kaldifst = pytest.importorskip("kaldifst")
pytest.importorskip("kaldi_decoder")
pytest.importorskip("kaldilm")

from test_hybrid_graph import _ctc_viterbi_cost, _lm_tropical_cost, _posteriors  # noqa: E402
from tiny_model import single_thread  # noqa: E402,F401 (autouse fixture)

from asr.errors import ModelDirError  # noqa: E402
from asr.hybrid.decode import (HlgGraph, HlgHypothesis, HlgOptions, HlgStream, nbest_from_log_probs,  # noqa: E402
                               split_at_pauses)
from asr.hybrid.lang import LexiconError, read_symbols, spell_words  # noqa: E402
from asr.hybrid.prepare import HybridLangConfig, prepare_hybrid_lang  # noqa: E402
from asr.lm import read_arpa  # noqa: E402
from asr.text.tokenizer import Tokenizer, train_tokenizer  # noqa: E402

LM_TEXT = ["A NO", "ANNE ON A", "KNOW ANN", "AN ON", "NO NO A", "ANNE KNOW", "ON A"]
WORDS = sorted({w for s in LM_TEXT for w in s.split()})


@pytest.fixture(scope="module")
def token_lang(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("token_lang")
    tokenizer = train_tokenizer(LM_TEXT * 3, root / "tokens", 40, model_type="char")
    (root / "text.txt").write_text("\n".join(LM_TEXT) + "\n")
    lang_dir = root / "lang"
    report = prepare_hybrid_lang(lang_dir, HybridLangConfig(texts=[str(root / "text.txt")], tokens_dir=str(root / "tokens")))
    assert report.rebuilt == ["lexicon", "lang", "lm", "G", "HLG"]
    return tokenizer, lang_dir, read_arpa(lang_dir / "G.arpa"), HlgGraph.load(lang_dir)


def _spelling(tokenizer: Tokenizer, words: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(t for w in words for t in tokenizer.encode(w))


def _brute_force(tokenizer: Tokenizer, lm, log_probs: np.ndarray) -> list[tuple[float, list[str], float, float]]:
    """(total cost, words, AM log-likelihood, LM log-prob) of every sequence of 1-3 words, best first."""
    out = []
    for n in (1, 2, 3):
        for words in itertools.product(WORDS, repeat=n):
            am = -_ctc_viterbi_cost(log_probs, _spelling(tokenizer, words))
            lm_score = -_lm_tropical_cost(lm, list(words))
            out.append((-(am + lm_score), list(words), am, lm_score))
    return sorted(out, key=lambda x: x[0])


def _log_probs(tokenizer: Tokenizer, words: list[str], seed: int, sharp: float) -> np.ndarray:
    tokens = [t for w in words for t in tokenizer.encode(w)]
    return _posteriors(np.random.default_rng(seed), tokens, tokenizer.vocab_size, sharp).astype(np.float32)


def test_token_lexicon_spells_words_in_the_model_tokens(token_lang) -> None:
    tokenizer, lang_dir, _, _ = token_lang
    lexicon = dict(line.split(maxsplit=1) for line in (lang_dir / "lexicon.txt").read_text().splitlines())
    assert set(lexicon) == set(WORDS)
    assert lexicon["ANNE"].split() == [tokenizer.id_to_token(i) for i in tokenizer.encode("ANNE")]
    tokens, phones = read_symbols(lang_dir / "tokens.txt"), read_symbols(lang_dir / "phones.txt")
    assert tokens == read_symbols(Path(tokenizer.source) / "tokens.txt")
    assert phones["<eps>"] == 0 and all(phones[t] == i for t, i in tokens.items() if i > 0)
    assert min(i for p, i in phones.items() if p.startswith("#")) == max(tokens.values()) + 1
    # A is a prefix of AN, ANN of ANNE: they get disambiguation symbols.
    assert any(line.startswith("A ") and "#1" in line for line in (lang_dir / "lexicon_disambig.txt").read_text().splitlines())
    with pytest.raises(LexiconError, match="cannot be spelled.*ZED"):
        spell_words(["ZED"], tokenizer)


@pytest.mark.parametrize("seed", range(3))
def test_best_path_and_nbest_equal_brute_force(token_lang, seed: int) -> None:
    tokenizer, _, lm, graph = token_lang
    words = [["ANNE", "ON"], ["NO", "A"], ["KNOW", "ANN", "A"]][seed]
    log_probs = _log_probs(tokenizer, words, seed, sharp=2.0)
    expected = _brute_force(tokenizer, lm, log_probs)
    options = HlgOptions(beam=1000.0, max_active=100000, nbest_beam=1000.0, lattice_beam=8.0, nbest=5)
    stream = HlgStream(graph, options)
    stream.accept(log_probs)
    best = stream.best()
    assert best.words == expected[0][1]
    assert best.am_score == pytest.approx(expected[0][2], abs=2e-3)
    assert best.lm_score == pytest.approx(expected[0][3], abs=2e-3)
    nbest = nbest_from_log_probs(graph, log_probs, options)
    assert [h.words for h in nbest] == [e[1] for e in expected[:5]]
    for hyp, (_, _, am, lm_score) in zip(nbest, expected):
        # costs pass through the lattice's text form (7 significant digits) and float32 sums
        assert hyp.am_score == pytest.approx(am, abs=1e-2) and hyp.lm_score == pytest.approx(lm_score, abs=1e-2)


@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_chunked_decoding_equals_offline(token_lang, chunk: int) -> None:
    tokenizer, _, _, graph = token_lang
    log_probs = _log_probs(tokenizer, ["ANNE", "KNOW", "ANN", "ON", "A"], 5, sharp=2.5)
    offline = HlgStream(graph, HlgOptions())
    offline.accept(log_probs)
    streamed = HlgStream(graph, HlgOptions())
    partials = []
    for start in range(0, len(log_probs), chunk):
        streamed.accept(log_probs[start:start + chunk])
        partials.append(streamed.best(final=False).words)
    assert streamed.best() == offline.best()
    assert partials[-1] and all(len(p) <= len(offline.best().words) + 1 for p in partials)


def test_word_times_and_segments_at_pauses(token_lang) -> None:
    tokenizer, _, _, graph = token_lang
    frames, expected = [0, 0], []
    for k, word in enumerate(["ANNE", "ON", "A"]):
        start = len(frames)
        for t in tokenizer.encode(word):
            frames += [t, t, 0]
        expected.append((start, len(frames) - 1))
        frames += [0] * (15 if k == 1 else 1)  # a long pause after ON
    logits = np.full((len(frames), tokenizer.vocab_size), -10.0, dtype=np.float32)
    logits[np.arange(len(frames)), frames] = 0.0
    stream = HlgStream(graph, HlgOptions(), frame_offset=100)
    stream.accept(logits)
    best = stream.best()
    assert best.words == ["ANNE", "ON", "A"]
    assert list(zip(best.word_starts, best.word_ends)) == [(s + 100, e + 100) for s, e in expected]
    shifted = HlgHypothesis(best.words, [s - 100 for s in best.word_starts], [e - 100 for e in best.word_ends])
    segments = split_at_pauses(shifted, len(frames), pause_frames=10)
    assert [s.words for s in segments] == [["ANNE", "ON"], ["A"]]
    assert segments[0].cut_start == 0 and segments[-1].cut_end == len(frames)
    assert segments[0].end <= segments[0].cut_end == segments[1].cut_start <= segments[1].start
    assert split_at_pauses(shifted, len(frames), pause_frames=20)[0].words == ["ANNE", "ON", "A"]
    assert split_at_pauses(HlgHypothesis(), 10, 5) == []


def test_empty_input_gives_an_empty_hypothesis(token_lang) -> None:
    _, _, _, graph = token_lang
    stream = HlgStream(graph, HlgOptions())
    stream.accept(np.zeros((0, 5), dtype=np.float32))
    assert stream.best().words == [] and nbest_from_log_probs(graph, np.zeros((0, 5), np.float32), HlgOptions())[0].words == []


# ---------------------------------------------------------------------------------------------
# With a tiny transducer that has a CTC head (random weights: it emits tokens, not sense)

DIGIT_WORDS = ["ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE", "ZERO", "OH"]


@pytest.fixture(scope="module")
def hybrid_dir(tmp_path_factory: pytest.TempPathFactory):
    from tiny_model import make_tiny_model_dir

    from asr.hybrid.decode import save_hybrid_model_dir

    root = tmp_path_factory.mktemp("hybrid")
    make_tiny_model_dir(root, seed=3, use_ctc=True)
    rng = np.random.default_rng(0)
    (root / "lm.txt").write_text("\n".join(" ".join(rng.choice(DIGIT_WORDS, size=4)) for _ in range(30)) + "\n")
    prepare_hybrid_lang(root / "lang_hybrid", HybridLangConfig(texts=[str(root / "lm.txt")], tokens_dir=str(root / "model")))
    save_hybrid_model_dir(root / "hybrid", root / "model", root / "lang_hybrid")
    return root


def _sharpen_ctc(hybrid, scale: float = 8.0) -> None:
    """Random weights give flat CTC posteriors; scaling the head makes the best path emit words."""
    with torch.no_grad():
        hybrid.loaded.model.ctc.output.weight.mul_(scale)


def test_hybrid_model_dir_refuses_a_graph_for_other_words_or_tokens(hybrid_dir: Path, tmp_path: Path) -> None:
    import shutil

    from asr.hybrid.decode import load_hybrid_model_dir, save_hybrid_model_dir

    hybrid = load_hybrid_model_dir(hybrid_dir / "hybrid")
    assert hybrid.loaded.model.ctc is not None and "SEVEN" in hybrid.graph.spellings
    copy = tmp_path / "copy"
    shutil.copytree(hybrid_dir / "hybrid", copy)
    words = (copy / "words.txt").read_text().splitlines()
    words[1], words[2] = words[2].split()[0] + " 1", words[1].split()[0] + " 2"  # two ids swapped
    (copy / "words.txt").write_text("\n".join(words) + "\n")
    with pytest.raises(ModelDirError, match="words.txt: not the words.txt HLG.fst was built"):
        load_hybrid_model_dir(copy)
    with pytest.raises(ModelDirError, match="not a hybrid model dir"):
        load_hybrid_model_dir(hybrid_dir / "model")
    # a lang dir spelled in another model's tokens is refused when the hybrid dir is made
    from tiny_model import make_tiny_model_dir

    other = tmp_path / "other"
    other_tokens = train_tokenizer(["ABC DEF"], other / "lang", 20, model_type="char")
    assert other_tokens.vocab_size > 0
    shutil.copyfile(other / "lang" / "tokens.txt", tmp_path / "tokens.txt")
    lang = tmp_path / "lang"
    shutil.copytree(hybrid_dir / "lang_hybrid", lang)
    shutil.copyfile(other / "lang" / "tokens.txt", lang / "tokens.txt")
    with pytest.raises(ModelDirError, match="tokens.txt differs"):
        save_hybrid_model_dir(tmp_path / "bad", hybrid_dir / "model", lang)
    make_tiny_model_dir(tmp_path / "noctc")
    with pytest.raises(ModelDirError, match="no CTC head"):
        save_hybrid_model_dir(tmp_path / "bad2", tmp_path / "noctc" / "model", hybrid_dir / "lang_hybrid")


def test_streaming_hybrid_equals_offline_with_the_same_chunk(hybrid_dir: Path) -> None:
    from tiny_model import synth_audio

    from asr.decoding import DecodingOptions
    from asr.hybrid.decode import HybridRecognizer, decode_hybrid, load_hybrid_model_dir

    hybrid = load_hybrid_model_dir(hybrid_dir / "hybrid")
    _sharpen_ctc(hybrid)
    options = DecodingOptions(chunk_ms=160)
    audio = [synth_audio(1.6, seed=1), synth_audio(0.9, seed=2)]
    offline = decode_hybrid(hybrid, audio, options)
    assert any(h.words for h in offline)
    recognizer = HybridRecognizer(hybrid, options)
    streams = [recognizer.create_stream() for _ in audio]
    for stream, samples in zip(streams, audio):
        for start in range(0, len(samples), 1234):  # arbitrary packet sizes
            stream.accept_waveform(16000, samples[start:start + 1234])
        stream.input_finished()
    recognizer.decode_until_done(streams)
    for stream, hyp in zip(streams, offline):
        result = recognizer.get_result(stream)
        assert result.text == hyp.text
        assert recognizer.first_pass(stream).word_starts == hyp.word_starts
    assert all(w in hybrid.graph.spellings for h in offline for w in h.words)


def test_transducer_log_likelihoods_batched_equal_one_by_one(hybrid_dir: Path) -> None:
    from asr.hybrid.cascade import transducer_log_likelihoods
    from asr.models import load_model_dir

    loaded = load_model_dir(hybrid_dir / "model")
    enc = torch.randn(9, loaded.config.encoder_dim)
    seqs = [loaded.tokenizer.encode(t) for t in ["ONE", "SEVEN TWO", "OH"]] + [[]]
    batched = transducer_log_likelihoods(loaded.model, enc, seqs)
    single = [transducer_log_likelihoods(loaded.model, enc, [s])[0] for s in seqs]
    assert batched == pytest.approx(single, abs=1e-4)
    assert all(x < 0 for x in batched)
    # log p(y|x) over every y of up to 1 token with T = 1 sums to 1: blank, or one token then blank
    one = enc[:1]
    everything = [[]] + [[t] for t in range(1, loaded.config.vocab_size)]
    assert math.fsum(math.exp(x) for x in transducer_log_likelihoods(loaded.model, one, everything)) < 1.0 + 1e-5


def test_cascade_keeps_an_added_word_and_only_outputs_lexicon_words(hybrid_dir: Path, tmp_path: Path) -> None:
    import shutil

    from tiny_model import synth_audio

    from asr.hybrid.cascade import Cascade, RescoreOptions
    from asr.hybrid.decode import load_hybrid_model_dir, save_hybrid_model_dir
    from asr.hybrid.prepare import add_words
    from asr.models import load_model_dir

    e2e = load_model_dir(hybrid_dir / "model")
    lang = tmp_path / "lang"
    shutil.copytree(hybrid_dir / "lang_hybrid", lang)
    tokenizer = e2e.tokenizer
    frames = [0] * 3
    for word in ["NINER", "TWO"]:
        for t in tokenizer.encode(word):
            frames += [t, 0]
    log_probs = np.full((len(frames), tokenizer.vocab_size), -12.0, dtype=np.float32)
    log_probs[np.arange(len(frames)), frames] = 0.0
    enc = torch.randn(len(frames), e2e.config.encoder_dim)
    e2e_only = RescoreOptions(am_weight=0.0, lm_weight=0.0, e2e_weight=1.0)

    before = Cascade(e2e, load_hybrid_model_dir(hybrid_dir / "hybrid"), rescore_options=e2e_only)
    assert "NINER" not in before.second_pass(log_probs, enc).split()
    report = add_words(lang, ["NINER"])
    assert report.rebuilt == ["lexicon", "lang", "lm", "G", "HLG"]
    save_hybrid_model_dir(tmp_path / "hybrid", hybrid_dir / "model", lang)
    after = Cascade(e2e, load_hybrid_model_dir(tmp_path / "hybrid"), rescore_options=e2e_only)
    assert after.shared_encoder
    assert after.second_pass(log_probs, enc).split()[0] == "NINER"

    # Whole files: segments with times inside the audio, every word from the lexicon.
    audio = synth_audio(2.5, seed=4)
    _sharpen_ctc(after.hybrid)
    (result,) = after.decode([audio])
    lexicon = set(after.hybrid.graph.spellings)
    assert result.segments and set(result.text.split()) <= lexicon
    assert all(0 <= s.start < s.end <= 2.5 + 0.2 for s in result.segments)
    assert [s.start for s in result.segments] == sorted(s.start for s in result.segments)


def test_transcribe_cli_runs_the_hybrid_alone_and_the_cascade(hybrid_dir: Path, tmp_path: Path, capsys) -> None:
    import json

    import soundfile as sf
    from tiny_model import synth_audio

    from asr.cli import main

    wav = tmp_path / "utt.wav"
    sf.write(wav, synth_audio(1.2, seed=7), 16000)
    assert main(["transcribe", "--model-dir", str(hybrid_dir / "hybrid"), "--no-itn", "--format", "jsonl", str(wav)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["name"] == "utt" and all(w["start"] <= w["end"] for w in record["words"])
    assert main(["transcribe", "--model-dir", str(hybrid_dir / "model"), "--first-pass", str(hybrid_dir / "hybrid"),
                 "--no-itn", "--format", "jsonl", "--chunk-ms", "160", str(wav)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert set(record) == {"name", "text", "first_pass", "segments"}
    assert main(["transcribe", "--model-dir", str(hybrid_dir / "model"), "--first-pass", str(hybrid_dir / "hybrid"),
                 "--no-itn", "--second-pass", "biased_search", "--bias-bonus", "2", str(wav)]) == 0
    assert capsys.readouterr().out.startswith("utt\t")
    assert main(["transcribe", "--model-dir", str(hybrid_dir / "model"), "--first-pass", str(hybrid_dir / "model"),
                 "--no-itn", str(wav)]) == 2
    assert "not a hybrid model dir" in capsys.readouterr().err


def test_evaluate_scores_hybrid_and_cascade_on_cuts(hybrid_dir: Path, tmp_path: Path) -> None:
    import json

    import soundfile as sf
    from lhotse import CutSet, MonoCut, Recording, SupervisionSegment
    from tiny_model import synth_audio

    from asr.decoding import DecodingOptions
    from asr.features.compute import compute_features
    from asr.hybrid.cascade import RescoreOptions
    from asr.hybrid.evaluate import evaluate

    cuts = []
    for i, text in enumerate(["ONE TWO", "SEVEN NINER"]):
        sf.write(tmp_path / f"u{i}.wav", synth_audio(1.0, seed=i), 16000)
        rec = Recording.from_file(tmp_path / f"u{i}.wav", recording_id=f"u{i}")
        sup = SupervisionSegment(id=f"u{i}", recording_id=f"u{i}", start=0.0, duration=rec.duration, text=text)
        cuts.append(MonoCut(id=f"u{i}", start=0.0, duration=rec.duration, channel=0, recording=rec, supervisions=[sup]))
    compute_features(CutSet.from_cuts(cuts), tmp_path / "feats", progress_bar=False).to_file(tmp_path / "cuts.jsonl.gz")
    options, hlg = DecodingOptions(chunk_ms=160), HlgOptions()
    hybrid = evaluate(str(hybrid_dir / "hybrid"), str(tmp_path / "cuts.jsonl.gz"), str(tmp_path / "out"), options, hlg,
                      RescoreOptions())
    assert hybrid.record["oov_rate"] == pytest.approx(0.25)  # NINER is not in the lexicon
    cascade = evaluate(str(hybrid_dir / "model"), str(tmp_path / "cuts.jsonl.gz"), str(tmp_path / "out"), options, hlg,
                       RescoreOptions(), first_pass=str(hybrid_dir / "hybrid"))
    assert cascade.record["method"] == "cascade" and "first_pass_wer" in cascade.record
    assert json.loads((tmp_path / "out" / "wer_hybrid_160ms.json").read_text())["num_utterances"] == 2
    assert (tmp_path / "out" / "cascade_160ms" / "segments.jsonl").read_text().count("\n") == 2


def test_biased_beam_search_without_bonus_is_modified_beam_search_and_the_bonus_pulls_to_first_pass_words(hybrid_dir: Path) -> None:
    from asr.decoding.beam_search import modified_beam_search
    from asr.decoding.text import Detokenizer
    from asr.hybrid.biased_search import biased_beam_search
    from asr.models import load_model_dir

    loaded = load_model_dir(hybrid_dir / "model")
    pieces = [loaded.tokenizer.id_to_token(i) for i in range(loaded.tokenizer.vocab_size)]
    detok = Detokenizer(loaded.tokenizer)
    torch.manual_seed(0)
    for seed in range(3):
        enc = torch.randn(1, 12, loaded.config.encoder_dim) * 2
        (reference,) = modified_beam_search(loaded.model, enc, torch.tensor([12]), beam=4)
        plain = biased_beam_search(loaded.model, enc[0], pieces, {"SEVEN"}, beam=4, bonus=0.0)
        assert plain.tokens == reference.tokens and plain.log_prob == pytest.approx(reference.log_prob, abs=1e-5)
        biased = biased_beam_search(loaded.model, enc[0], pieces, {"SEVEN", "ONE"}, beam=4, bonus=20.0)
        words = detok.text(biased.tokens).split()
        # a huge bonus leaves only first-pass words (the last may be cut off by the end of the frames)
        assert set(words[:-1]) <= {"SEVEN", "ONE"}
        first_pass_words = sum(w in {"SEVEN", "ONE"} for w in words)
        assert first_pass_words > sum(w in {"SEVEN", "ONE"} for w in detok.text(plain.tokens).split())


def test_streaming_cascade_final_is_the_second_pass_over_the_streamed_frames(hybrid_dir: Path) -> None:
    from tiny_model import synth_audio

    from asr.decoding import DecodingOptions
    from asr.hybrid.cascade import Cascade, CascadeRecognizer
    from asr.hybrid.decode import ctc_log_probs, encode_waveforms, load_hybrid_model_dir
    from asr.models import load_model_dir

    hybrid = load_hybrid_model_dir(hybrid_dir / "hybrid")
    _sharpen_ctc(hybrid)
    options = DecodingOptions(chunk_ms=160)
    cascade = Cascade(load_model_dir(hybrid_dir / "model"), hybrid, options)
    recognizer = CascadeRecognizer(cascade, options)
    audio = synth_audio(1.5, seed=9)
    stream = recognizer.create_stream()
    stream.accept_waveform(16000, audio)
    recognizer.decode_streams([stream])
    partial = recognizer.get_result(stream).text
    assert partial == recognizer.first_pass(stream).text  # before the end: the first pass
    stream.input_finished()
    recognizer.decode_until_done([stream])
    (enc,) = encode_waveforms(hybrid.loaded, [audio], options)
    expected = cascade.second_pass(ctc_log_probs(hybrid.loaded.model, enc), enc)
    assert expected and recognizer.get_result(stream).text == expected
    other = Cascade(load_model_dir(hybrid_dir / "model"), hybrid, options)
    other.shared_encoder = False
    with pytest.raises(ModelDirError, match="streaming needs one encoder"):
        CascadeRecognizer(other, options)


def test_serve_with_first_pass_sends_second_pass_finals(hybrid_dir: Path, tmp_path: Path, capsys) -> None:
    """``asr serve --model-dir E2E --first-pass HYBRID``: a client's final is the cascade's second
    pass over the streamed frames; a hybrid dir alone serves the first pass."""
    import argparse

    import soundfile as sf
    from tiny_model import synth_audio

    from asr.bin.serve import add_arguments, build_recognizer
    from asr.cli import main as cli_main
    from asr.decoding.options import DecodingOptions
    from asr.hybrid.cascade import CascadeRecognizer
    from asr.hybrid.decode import HybridRecognizer, ctc_log_probs, encode_waveforms
    from asr.server import BackgroundServer, ServerConfig, WorkerConfig

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--model-dir", str(hybrid_dir / "model"), "--first-pass", str(hybrid_dir / "hybrid"),
                              "--chunk-ms", "160", "--no-endpoint"])
    recognizer, _ = build_recognizer(args.model_dir, DecodingOptions.from_args(args), args)
    assert isinstance(recognizer, CascadeRecognizer)
    hybrid = recognizer.cascade.hybrid
    _sharpen_ctc(hybrid)
    audio = synth_audio(1.5, seed=11)
    sf.write(tmp_path / "a.wav", audio, 16000)
    (enc,) = encode_waveforms(hybrid.loaded, [audio], recognizer.options)
    expected = recognizer.cascade.second_pass(ctc_log_probs(hybrid.loaded.model, enc), enc)
    worker = WorkerConfig(max_batch_size=4, endpoint=None, num_threads=1)
    with BackgroundServer(recognizer, ServerConfig(port=0, itn=False, worker=worker)) as srv:
        assert cli_main(["client", "--url", srv.url, str(tmp_path / "a.wav")]) == 0
        got = capsys.readouterr().out.strip()
    assert expected and got.split("\t")[-1] == expected
    args = parser.parse_args(["--model-dir", str(hybrid_dir / "hybrid")])
    assert isinstance(build_recognizer(args.model_dir, DecodingOptions.from_args(args), args)[0], HybridRecognizer)


def test_audio_shorter_than_a_chunk_and_empty_audio_behave_like_the_transducer_path(hybrid_dir: Path) -> None:
    from asr.decoding import DecodingOptions
    from asr.errors import AudioError
    from asr.hybrid.cascade import Cascade
    from asr.hybrid.decode import HybridRecognizer, decode_hybrid, load_hybrid_model_dir
    from asr.models import load_model_dir

    hybrid = load_hybrid_model_dir(hybrid_dir / "hybrid")
    short = np.zeros(800, dtype=np.float32)  # 50 ms: less than one 160 ms chunk
    options = DecodingOptions(chunk_ms=160)
    assert isinstance(decode_hybrid(hybrid, [short], options)[0].words, list)
    assert isinstance(Cascade(load_model_dir(hybrid_dir / "model"), hybrid, options).decode([short])[0].text, str)
    recognizer = HybridRecognizer(hybrid, options)
    stream = recognizer.create_stream()
    stream.accept_waveform(16000, short)
    stream.input_finished()
    recognizer.decode_until_done([stream])
    assert recognizer.get_result(stream).text == decode_hybrid(hybrid, [short], options)[0].text
    with pytest.raises(AudioError, match="empty audio"):
        recognizer.create_stream().input_finished()


def test_a_segment_longer_than_max_frames_is_split_at_its_longest_gaps() -> None:
    """Words with short gaps (never a pause): one segment, unless it is longer than max_frames;
    then the longest gaps split it, each part within max_frames, word order and cuts kept."""
    words = [f"W{k}" for k in range(8)]
    gaps = [3, 1, 6, 2, 1, 5, 1]  # after each word but the last; all below the pause of 10
    starts, ends, t = [], [], 2
    for k in range(8):
        starts.append(t)
        ends.append(t + 10)
        t += 10 + (gaps[k] if k < 7 else 0)
    hyp = HlgHypothesis(words, starts, ends)
    assert [s.words for s in split_at_pauses(hyp, t + 3, pause_frames=10)] == [words]
    segments = split_at_pauses(hyp, t + 3, pause_frames=10, max_frames=40)
    assert [w for s in segments for w in s.words] == words
    assert all(s.end - s.start <= 40 for s in segments)
    # the 6-frame gap after W2 splits first, then the 5 after W5: [W0-W2] [W3-W5] [W6-W7]
    assert [s.words for s in segments] == [words[:3], words[3:6], words[6:]]
    assert segments[0].cut_start == 0 and segments[-1].cut_end == t + 3
    assert all(a.cut_end == b.cut_start for a, b in zip(segments, segments[1:]))
    one_long_word = HlgHypothesis(["W"], [0], [100])
    assert [s.words for s in split_at_pauses(one_long_word, 100, 10, max_frames=40)] == [["W"]]
