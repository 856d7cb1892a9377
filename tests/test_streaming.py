"""OnlineRecognizer: batched chunk-by-chunk decoding equals offline chunk-masked decoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asr.decoding.offline import decode_waveforms
from asr.decoding.online import OnlineRecognizer
from asr.decoding.options import DecodingOptions
from asr.decoding.tail_padding import DEFAULT_TAIL_PADDING_MS
from asr.errors import AudioError
from asr.features import compute_fbank
from asr.models import LoadedModel
from tiny_model import make_tiny_model_dir, single_thread, synth_audio  # noqa: F401 (autouse fixture)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> LoadedModel:
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny"))


def offline(loaded: LoadedModel, audios: list[np.ndarray], chunk_frames: int, left: int, method: str, **options):
    """Reference: whole utterances through the chunk-masked encoder, then the same search.
    Returns the hypotheses and the encoder frames (tail padding included)."""
    hyps = decode_waveforms(loaded, audios, DecodingOptions(method=method, chunk_ms=chunk_frames * 40,
                                                            left_context_ms=left * 40, **options))
    tail = options.get("tail_padding_ms", DEFAULT_TAIL_PADDING_MS) // 10
    num_frames = [-(-(compute_fbank(a, 16000).shape[0] + tail) // 4) for a in audios]
    return hyps, torch.tensor(num_frames)


def stream_all(recognizer: OnlineRecognizer, audios: list[np.ndarray], seed: int):
    """Feed all streams in random-sized pieces, decoding whatever is ready between pieces."""
    rng = np.random.default_rng(seed)
    streams = [recognizer.create_stream() for _ in audios]
    offsets = [0] * len(audios)
    while any(o < len(a) for o, a in zip(offsets, audios)):
        for i, (s, a) in enumerate(zip(streams, audios)):
            if offsets[i] < len(a):
                n = int(rng.integers(1, 6000))
                s.accept_waveform(16000, a[offsets[i]:offsets[i] + n])
                offsets[i] += n
                if offsets[i] >= len(a):
                    s.input_finished()
        recognizer.decode_streams(streams)
    recognizer.decode_until_done(streams)
    return streams


@pytest.mark.parametrize("method,chunk_ms,left_ms,options", [
    ("greedy_search", 320, 160, {}), ("greedy_search", 160, 320, {}), ("modified_beam_search", 320, 320, {}),
    ("greedy_search", 160, 320, {"max_sym_per_frame": 1, "tail_padding_ms": 0}),  # the former defaults
    ("greedy_search", 320, 160, {"tail_padding_ms": 250}),  # 25 frames: not a whole encoder frame
])
def test_streaming_equals_offline_chunked(loaded: LoadedModel, method: str, chunk_ms: int, left_ms: int,
                                          options: dict[str, int]) -> None:
    audios = [synth_audio(s, seed=i) for i, s in enumerate([1.53, 0.95, 1.21])]
    recognizer = OnlineRecognizer(loaded, DecodingOptions(chunk_ms=chunk_ms, left_context_ms=left_ms,
                                                          method=method, **options))
    streams = stream_all(recognizer, audios, seed=chunk_ms)
    hyps, enc_lens = offline(loaded, audios, chunk_ms // 40, left_ms // 40, method, **options)
    total = 0
    for s, hyp, n in zip(streams, hyps, enc_lens.tolist()):
        result = recognizer.get_result(s)
        assert result.token_ids == hyp.tokens
        assert result.timestamps == pytest.approx([0.04 * t for t in hyp.timestamps])
        assert result.text == loaded.tokenizer.decode(hyp.tokens)
        assert s.num_processed_frames == n
        total += len(hyp.tokens)
    assert total > 5, "a model that emits nothing makes this test vacuous"


def test_reset_keeps_context_and_starts_new_segment(loaded: LoadedModel) -> None:
    audio = synth_audio(2.0, seed=7)
    recognizer = OnlineRecognizer(loaded, DecodingOptions(chunk_ms=320, left_context_ms=320))
    stream = recognizer.create_stream()
    stream.accept_waveform(16000, audio)
    stream.input_finished()
    segments = []
    for k in range(100):
        if not recognizer.is_ready(stream):
            break
        recognizer.decode_stream(stream)
        if k == 2:  # an "endpoint" after 3 chunks
            segments.append(recognizer.get_result(stream))
            recognizer.reset(stream)
            assert recognizer.get_result(stream).text == ""
            assert stream.num_trailing_blank_frames == 0
    segments.append(recognizer.get_result(stream))
    assert segments[1].start_time == pytest.approx(3 * 8 * 0.04) and segments[1].segment == 1
    hyps, _ = offline(loaded, [audio], 8, 8, "greedy_search")
    # the predictor context carried over: the two segments together are the unsegmented result
    assert segments[0].token_ids + segments[1].token_ids == hyps[0].tokens
    absolute = [t + seg.start_time for seg in segments for t in seg.timestamps]
    assert absolute == pytest.approx([0.04 * t for t in hyps[0].timestamps])


def test_trailing_blank_frames_count_after_last_token(loaded: LoadedModel) -> None:
    recognizer = OnlineRecognizer(loaded, DecodingOptions(chunk_ms=160))
    stream = recognizer.create_stream()
    stream.accept_waveform(16000, synth_audio(1.0, seed=3))
    stream.input_finished()
    recognizer.decode_until_done([stream])
    hyp = stream.best_hypothesis()
    expected = stream.num_processed_frames - (hyp.timestamps[-1] + 1 if hyp.timestamps else 0)
    assert stream.num_trailing_blank_frames == expected


def test_short_audio_is_padded_and_empty_audio_raises(loaded: LoadedModel) -> None:
    recognizer = OnlineRecognizer(loaded, DecodingOptions(chunk_ms=320))
    stream = recognizer.create_stream()
    stream.accept_waveform(16000, synth_audio(0.1, seed=1))  # 10 feature frames < one 32-frame chunk
    assert not recognizer.is_ready(stream)
    stream.input_finished()
    assert recognizer.is_ready(stream)
    recognizer.decode_stream(stream)
    assert stream.num_processed_frames == 3 + 4 and not recognizer.is_ready(stream)  # + 160 ms tail padding
    assert isinstance(recognizer.get_result(stream).text, str)

    empty = recognizer.create_stream()
    with pytest.raises(AudioError, match="empty audio"):
        empty.input_finished()
    bad = recognizer.create_stream()
    with pytest.raises(AudioError, match="NaN"):
        bad.accept_waveform(16000, np.array([0.0, np.nan], dtype=np.float32))
    with pytest.raises(AudioError, match="after input_finished"):
        stream.accept_waveform(16000, np.zeros(10, dtype=np.float32))


def test_other_sample_rate_is_resampled(loaded: LoadedModel) -> None:
    """8 kHz audio fed in pieces is resampled inside the stream: the tokens (and timestamps) are
    those of the same audio resampled to 16 kHz beforehand, streamed or decoded offline."""
    import soxr

    audio16 = synth_audio(1.2, seed=5)
    audio8 = soxr.resample(audio16, 16000, 8000).astype(np.float32)
    audio8_at_16k = soxr.resample(audio8, 8000, 16000).astype(np.float32)
    recognizer = OnlineRecognizer(loaded, DecodingOptions(chunk_ms=320))
    stream = recognizer.create_stream()
    for start in range(0, len(audio8), 1000):
        stream.accept_waveform(8000, audio8[start:start + 1000])
    stream.input_finished()
    recognizer.decode_until_done([stream])
    reference = recognizer.create_stream()
    reference.accept_waveform(16000, audio8_at_16k)
    reference.input_finished()
    recognizer.decode_until_done([reference])
    got, expected = recognizer.get_result(stream), recognizer.get_result(reference)
    assert len(expected.token_ids) > 3, "a model that emits nothing makes this test vacuous"
    assert got.token_ids == expected.token_ids and got.timestamps == expected.timestamps
    offline_hyp = decode_waveforms(loaded, [audio8_at_16k], DecodingOptions(chunk_ms=320))[0]
    assert got.token_ids == offline_hyp.tokens
    assert stream.num_processed_frames == reference.num_processed_frames
    with pytest.raises(AudioError, match="sample rate changed"):
        other = recognizer.create_stream()
        other.accept_waveform(8000, audio8[:100])
        other.accept_waveform(16000, audio16[:100])


def test_options_validation(loaded: LoadedModel) -> None:
    with pytest.raises(ValueError, match="chunk_ms=300 must be a positive multiple of 40 ms"):
        OnlineRecognizer(loaded, DecodingOptions(chunk_ms=300))
    with pytest.raises(ValueError, match="left_context_ms=100 must be a non-negative multiple of 40 ms"):
        OnlineRecognizer(loaded, DecodingOptions(chunk_ms=320, left_context_ms=100))
    with pytest.raises(ValueError, match="multiple of 40"):  # offline decoding validates in the same place
        decode_waveforms(loaded, [synth_audio(0.2, seed=0)], DecodingOptions(chunk_ms=100))
    with pytest.raises(ValueError, match="streaming needs a chunk"):
        OnlineRecognizer(loaded, DecodingOptions(chunk_ms=None))
    with pytest.raises(ValueError, match="unknown decoding method 'beam': choose one of greedy_search, modified_beam"):
        DecodingOptions(method="beam")
    for bad, field in (({"chunk_ms": 0}, "chunk_ms=0"), ({"beam": 0}, "beam=0"), ({"max_sym_per_frame": 0}, "max_sym"),
                       ({"left_context_ms": -40}, "left_context_ms=-40")):
        with pytest.raises(ValueError, match=field):
            DecodingOptions(**bad)


def test_lstm_predictor_streams_like_offline(tmp_path) -> None:
    loaded = make_tiny_model_dir(tmp_path, seed=2, predictor="lstm")
    audios = [synth_audio(s, seed=20 + i) for i, s in enumerate([1.1, 0.6])]
    for method in ("greedy_search", "modified_beam_search"):
        recognizer = OnlineRecognizer(loaded, DecodingOptions(chunk_ms=320, left_context_ms=160,
                                                                     method=method))
        streams = stream_all(recognizer, audios, seed=5)
        hyps, _ = offline(loaded, audios, 8, 4, method)
        assert [recognizer.get_result(s).token_ids for s in streams] == [h.tokens for h in hyps]
        assert sum(len(h.tokens) for h in hyps) > 0


@pytest.mark.parametrize("chunk_ms", [160, 320])
def test_tail_padding_changes_only_the_end(loaded: LoadedModel, chunk_ms: int) -> None:
    """Tail padding appends 4 encoder frames after the input ends: the tokens before the chunk
    that holds the last audio frame are those without padding; ``tail_padding_ms=0`` gives the
    unpadded decode back; the padding is not decoded before the input finishes."""
    audios = [synth_audio(s, seed=30 + i) for i, s in enumerate([0.64, 0.47, 1.0, 1.29])]
    results = {}
    for tail_ms in (0, 160):
        config = DecodingOptions(chunk_ms=chunk_ms, tail_padding_ms=tail_ms)
        recognizer = OnlineRecognizer(loaded, config)
        streams = stream_all(recognizer, audios, seed=1)
        results[tail_ms] = [(recognizer.get_result(s), s.num_processed_frames) for s in streams]
        hyps, enc_lens = offline(loaded, audios, chunk_ms // 40, loaded.config.left_context_frames, "greedy_search",
                                 tail_padding_ms=tail_ms)
        assert [r.token_ids for r, _ in results[tail_ms]] == [h.tokens for h in hyps]
        assert [n for _, n in results[tail_ms]] == enc_lens.tolist()
    chunk = chunk_ms // 40
    changed = 0
    for (plain, plain_frames), (padded, padded_frames) in zip(results[0], results[160]):
        assert padded_frames == plain_frames + 4
        last_chunk_start = round((plain_frames - 1) // chunk * chunk * 0.04, 3)  # seconds
        before = [(i, t) for i, t in zip(plain.token_ids, plain.timestamps) if t < last_chunk_start]
        assert [(i, t) for i, t in zip(padded.token_ids, padded.timestamps) if t < last_chunk_start] == before
        assert padded.token_ids[:len(before)] == plain.token_ids[:len(before)]
        changed += padded.token_ids != plain.token_ids
    assert changed, "tail padding should change the end of some hypothesis"

    recognizer = OnlineRecognizer(loaded, DecodingOptions(chunk_ms=chunk_ms))
    stream = recognizer.create_stream()
    stream.accept_waveform(16000, audios[0])  # 64 feature frames: whole chunks
    recognizer.decode_until_done([stream])
    consumed = stream.num_processed_frames * 4
    assert stream.num_pending_feature_frames < 64 - consumed  # the last frames wait for the end
    stream.input_finished()
    assert stream.num_pending_feature_frames == 64 - consumed + 16 and recognizer.is_ready(stream)
    recognizer.decode_until_done([stream])
    assert stream.num_processed_frames == 16 + 4 and stream.num_pending_feature_frames == 0
    with pytest.raises(ValueError, match="tail_padding_ms"):
        DecodingOptions(tail_padding_ms=-40)
