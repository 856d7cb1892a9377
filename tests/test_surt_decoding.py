"""SURT streaming decoding: per-channel segments split exactly at <eos> of the greedy search over
the masked full forward, the rule fallback against a brute-force replay, one channel for
single-talker models, and bounded state over a long session."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from asr.decoding import DecodingOptions
from asr.decoding.endpoint import EndpointRule
from asr.decoding.greedy import greedy_search_batch
from asr.decoding.surt import ChannelEndpointOptions, MultiChannelRecognizer, transcribe_channels
from asr.decoding.tail_padding import pad_tail, tail_padding_frames
from asr.features import compute_fbank
from asr.models import LoadedModel, build_model, load_model_dir, save_model_dir, tiny_config
from asr.text.tokenizer import train_tokenizer
from tiny_model import DIGIT_TEXT, single_thread, synth_audio  # noqa: F401 (autouse fixture)

CHUNK_MS = 320


def make_surt_dir(path, seed=1, eos_id=10, blank_bias=1.5, **overrides) -> LoadedModel:
    """A tiny random SURT model dir. PyTorch's default init with a sharper joiner output and
    masks gives varied tokens that differ between channels; ``blank_bias`` sets how sparse they
    are. ``eos_id`` is a token this random model emits now and then (10, a letter, stands in
    for ``<eos>``: the decoder treats whatever ``config.eos_id`` names as the end of a
    sentence); -1: no end-of-sentence token."""
    tok = train_tokenizer(DIGIT_TEXT * 5, path / "lang", 19, model_type="char", user_symbols=["<eos>"])
    config = tiny_config(vocab_size=tok.vocab_size, architecture="surt", unmix_dim=16, unmix_blocks=1,
                         unmix_segment_frames=16, eos_id=eos_id, **overrides)
    torch.manual_seed(seed)
    model = build_model(config)
    with torch.no_grad():
        model.joiner.output_linear.weight.mul_(3.0)
        model.unmixer.output.weight.mul_(3.0)
        model.joiner.output_linear.bias[0] += blank_bias
    save_model_dir(path / "model", model, config, path / "lang")
    return load_model_dir(path / "model")


@pytest.fixture(scope="module")
def surt(tmp_path_factory) -> LoadedModel:
    return make_surt_dir(tmp_path_factory.mktemp("surt"))


def reference_channels(loaded: LoadedModel, audio: np.ndarray, options: DecodingOptions):
    """Greedy search over the masked full forward with the streaming chunk mask: per channel
    (tokens, timestamps) of the whole input (tail padding included)."""
    feats = torch.from_numpy(compute_fbank(audio, 16000, loaded.feature_options))[None]
    lens = torch.tensor([feats.size(1)])
    feats, lens = pad_tail(feats, lens, tail_padding_frames(options.tail_padding_ms, 10))
    chunk = options.chunk_frames(40)
    with torch.no_grad():
        out, out_lens = loaded.model.forward_encoder(feats, lens, chunk, loaded.config.left_context_frames)
        hyps = greedy_search_batch(loaded.model, out, out_lens, options.max_sym_per_frame)
    return [(h.tokens, h.timestamps) for h in hyps], int(out_lens[0])


def split_at(tokens, timestamps, eos):
    segs, cur = [], ([], [])
    for t, f in zip(tokens, timestamps):
        if t == eos:
            segs.append((cur, True))
            cur = ([], [])
        else:
            cur[0].append(t)
            cur[1].append(f)
    segs.append((cur, False))
    return [(s, e) for s, e in segs if s[0]]


def test_segments_split_the_reference_at_eos(surt: LoadedModel) -> None:
    options = DecodingOptions(chunk_ms=CHUNK_MS)
    audio = synth_audio(4.0, seed=1)
    recognizer = MultiChannelRecognizer(surt, options, ChannelEndpointOptions(use_eos=True, rule=None))
    (result,) = transcribe_channels(recognizer, [audio])
    reference, _ = reference_channels(surt, audio, options)
    eos = surt.config.eos_id
    assert any(eos in tokens for tokens, _ in reference), "the test model should emit <eos>"
    for c, (tokens, stamps) in enumerate(reference):
        expected = split_at(tokens, stamps, eos)
        got = [s for s in result.segments if s.channel == c]
        got.sort(key=lambda s: s.start)
        assert [(s.token_ids, s.eos) for s in got] == [(seg[0], flag) for seg, flag in expected]
        for s, (seg, _) in zip(got, expected):
            assert s.start == pytest.approx(seg[1][0] * 0.04) and s.end == pytest.approx((seg[1][-1] + 1) * 0.04)
            assert s.end <= s.endpoint + 0.32 + 1e-9  # finalized by the end of the chunk it ended in
            assert s.text == surt.tokenizer.decode(seg[0])
        assert result.channels[c] == " ".join(s.text for s in got)
    assert sum(s.eos for s in result.segments) >= 4 and {s.channel for s in result.segments} == {0, 1}
    assert [s.endpoint for s in result.segments] == sorted(s.endpoint for s in result.segments)
    assert max(s.endpoint for s in result.segments) <= 4.0
    line = json.loads(result.to_json("mix1"))
    assert set(line) == {"id", "channels", "segments"} and len(line["channels"]) == 2
    assert set(line["segments"][0]) == {"channel", "text", "start", "end", "endpoint", "eos"}


def test_rule_fallback_matches_a_replay_of_the_rule(tmp_path) -> None:
    loaded = make_surt_dir(tmp_path, eos_id=-1, blank_bias=2.0)
    options = DecodingOptions(chunk_ms=CHUNK_MS)
    rule = EndpointRule(True, 0.2, 0.0)  # 5 trailing blank frames
    audio = synth_audio(5.0, seed=2)
    (result,) = transcribe_channels(MultiChannelRecognizer(loaded, options, ChannelEndpointOptions(rule=rule)), [audio])
    reference, total = reference_channels(loaded, audio, options)
    assert all(not s.eos for s in result.segments)
    for c, (tokens, stamps) in enumerate(reference):
        # replay: at the end of each 8-frame chunk, finalize when the last token is 5+ frames back
        expected, cur, i = [], [], 0
        for end in list(range(8, total, 8)) + [total]:
            while i < len(tokens) and stamps[i] < end:
                cur.append(tokens[i])
                i += 1
            if cur and end - (stamps[i - 1] + 1) >= 5:
                expected.append(cur)
                cur = []
        if cur:
            expected.append(cur)
        got = sorted((s for s in result.segments if s.channel == c), key=lambda s: s.start)
        assert [s.token_ids for s in got] == expected
    assert len(result.segments) > 2


def test_single_talker_model_gives_one_channel(tmp_path) -> None:
    from tiny_model import make_tiny_model_dir

    loaded = make_tiny_model_dir(tmp_path)
    options = DecodingOptions(chunk_ms=CHUNK_MS)
    audio = synth_audio(2.0, seed=4)
    (result,) = transcribe_channels(MultiChannelRecognizer(loaded, options, ChannelEndpointOptions(rule=None)), [audio])
    from asr.bin.transcribe import transcribe

    (text,) = transcribe(loaded, [audio], options)
    assert len(result.channels) == 1 and result.channels[0] == text
    assert all(s.channel == 0 and not s.eos for s in result.segments)


def confirmed_split(tokens, timestamps, eos, min_frames):
    """``split_at`` with ``eos_min_silence``: an <eos> ends the segment only when the next token
    (if any) comes ``min_frames`` or more after the frame following the token before it."""
    segs, cur = [], ([], [])
    for i, (t, f) in enumerate(zip(tokens, timestamps)):
        if t != eos:
            cur[0].append(t)
            cur[1].append(f)
        elif cur[0] and (i + 1 == len(tokens) or timestamps[i + 1] >= cur[1][-1] + 1 + min_frames):
            segs.append((cur, True))
            cur = ([], [])
    segs.append((cur, False))
    return [(s, e) for s, e in segs if s[0]]


@pytest.mark.parametrize("min_silence", [0.12, 0.4, 30.0])
def test_eos_min_silence_cancels_an_eos_the_talker_goes_on_after(surt: LoadedModel, min_silence: float) -> None:
    """An <eos> counts once its channel was silent ``eos_min_silence`` after the token before it:
    the segments equal a brute-force split of the full-forward tokens by that rule, the cancelled
    <eos> leave no trace in the text, and a confirmed one ends no sooner than that silence."""
    options = DecodingOptions(chunk_ms=CHUNK_MS)
    audio = synth_audio(4.0, seed=1)
    recognizer = MultiChannelRecognizer(surt, options, ChannelEndpointOptions(rule=None, eos_min_silence=min_silence))
    (result,) = transcribe_channels(recognizer, [audio])
    reference, _ = reference_channels(surt, audio, options)
    eos, min_frames = surt.config.eos_id, round(min_silence / 0.04)
    cancelled = 0
    for c, (tokens, stamps) in enumerate(reference):
        expected = confirmed_split(tokens, stamps, eos, min_frames)
        cancelled += len(split_at(tokens, stamps, eos)) - len(expected)
        got = sorted((s for s in result.segments if s.channel == c), key=lambda s: s.start)
        assert [(s.token_ids, s.eos) for s in got] == [(seg[0], flag) for seg, flag in expected]
        for s in got:
            assert eos not in s.token_ids
            if s.eos and s.endpoint < 4.0:  # confirmed while the input went on, not at its end
                assert s.endpoint >= s.end + min_silence - 1e-9
    if min_silence == 30.0:  # every <eos> but a channel's last is followed by a token sooner
        assert all(len([s for s in result.segments if s.channel == c]) <= 2 for c in range(2))
    assert cancelled > 0, "the test model should emit an <eos> the rule cancels"


def unfed_eos_greedy(loaded: LoadedModel, audio: np.ndarray, options: DecodingOptions):
    """One channel at a time, frame by frame: greedy search in which an emitted <eos> reaches
    neither the predictor nor the rest of its frame. Per channel (tokens, timestamps)."""
    from asr.decoding.greedy import init_greedy_state

    model, eos = loaded.model, loaded.config.eos_id
    feats = torch.from_numpy(compute_fbank(audio, 16000, loaded.feature_options))[None]
    feats, lens = pad_tail(feats, torch.tensor([feats.size(1)]), tail_padding_frames(options.tail_padding_ms, 10))
    result = []
    with torch.no_grad():
        out, out_lens = model.forward_encoder(feats, lens, options.chunk_frames(40), loaded.config.left_context_frames)
        for c in range(out.size(0)):
            start = init_greedy_state(model, 1)
            predictor_state, decoder_out = start.predictor_state, start.decoder_out
            enc = model.joiner.project_encoder(out[c:c + 1])
            tokens, stamps = [], []
            for t in range(int(out_lens[c])):
                for _ in range(options.max_sym_per_frame):
                    token = int(model.joiner(enc[:, t], decoder_out).argmax(dim=-1))
                    if token == model.blank_id:
                        break
                    tokens.append(token)
                    stamps.append(t)
                    if token == eos:
                        break
                    step_out, predictor_state = model.predictor.step(torch.tensor([token]), predictor_state)
                    decoder_out = model.joiner.project_decoder(step_out)
            result.append((tokens, stamps))
    return result


def without_repeats(tokens, stamps, eos):
    kept = [i for i in range(len(tokens)) if not (tokens[i] == eos and i > 0 and tokens[i - 1] == eos)]
    return [tokens[i] for i in kept], [stamps[i] for i in kept]


@pytest.mark.parametrize("min_silence", [0.0, 0.4])
def test_eos_not_fed_to_the_predictor(surt: LoadedModel, tmp_path, min_silence: float) -> None:
    """greedy_search's eos_to_predictor=false: the streamed segments equal a frame-by-frame greedy
    search in which <eos> never reaches the predictor, split at its <eos> (each run of them counted
    once; with eos_min_silence, by that rule); a model without <eos> refuses the option."""
    options = DecodingOptions(chunk_ms=CHUNK_MS, method_options=(("eos_bias", "1.5"), ("eos_to_predictor", "false")))
    audio = synth_audio(4.0, seed=1)
    recognizer = MultiChannelRecognizer(surt, options, ChannelEndpointOptions(rule=None, eos_min_silence=min_silence))
    (result,) = transcribe_channels(recognizer, [audio])
    eos = surt.config.eos_id
    original = surt.model.joiner.output_linear.bias.clone()
    with torch.no_grad():
        surt.model.joiner.output_linear.bias[eos] += 1.5  # the eos_bias, in the brute force's scores
    try:
        reference = unfed_eos_greedy(surt, audio, options)
    finally:
        with torch.no_grad():
            surt.model.joiner.output_linear.bias.copy_(original)
    fed = reference_channels(surt, audio, options.replace(method_options=(("eos_bias", "1.5"),)))[0]
    assert fed != reference  # the option changes what follows an <eos>
    assert any(tokens.count(eos) > 1 for tokens, _ in reference)
    for c, (tokens, stamps) in enumerate(reference):
        expected = confirmed_split(*without_repeats(tokens, stamps, eos), eos, round(min_silence / 0.04))
        got = sorted((s for s in result.segments if s.channel == c), key=lambda s: s.start)
        assert [(s.token_ids, s.eos) for s in got] == [(seg[0], flag) for seg, flag in expected]
    no_eos = make_surt_dir(tmp_path, eos_id=-1)
    with pytest.raises(ValueError, match="eos_to_predictor=false: the model has no <eos> token"):
        transcribe_channels(MultiChannelRecognizer(no_eos, options.replace(method_options=(
            ("eos_to_predictor", "false"),))), [audio])


def test_eos_decision() -> None:
    from asr.decoding.surt import eos_decision

    eos = 1
    assert eos_decision([5, 6], [3, 4], eos, 10, 5) == ("none", -1)
    assert eos_decision([5, eos], [3, 4], eos, 5, 0) == ("finalize", 1)  # no minimum: at once
    assert eos_decision([eos, 5], [3, 4], eos, 5, 5) == ("finalize", 0)  # nothing before it to wait on
    # token 5 at frame 3: silence from frame 4; 5 frames of it are there once frame 8 was decoded
    assert eos_decision([5, eos], [3, 6], eos, 8, 5) == ("wait", 1)
    assert eos_decision([5, eos], [3, 6], eos, 9, 5) == ("finalize", 1)
    assert eos_decision([5, eos], [3, 6], eos, 8, 5, final=True) == ("finalize", 1)
    assert eos_decision([5, eos, 7], [3, 6, 8], eos, 12, 5) == ("cancel", 1)  # the talker went on
    assert eos_decision([5, eos, 7], [3, 6, 9], eos, 12, 5) == ("finalize", 1)  # after the silence
    assert eos_decision([5, eos, eos, 7], [3, 6, 7, 8], eos, 12, 5) == ("duplicate", 2)  # a repeat adds nothing
    with pytest.raises(ValueError, match="eos_min_silence"):
        ChannelEndpointOptions(eos_min_silence=-0.1)


def test_chunk_must_hold_whole_mask_segments(surt: LoadedModel) -> None:
    with pytest.raises(ValueError, match="segment"):
        MultiChannelRecognizer(surt, DecodingOptions(chunk_ms=120))
    from asr.decoding.greedy import GreedySearch
    from asr.decoding.search import register_search, unregister_search

    register_search("surt_test_other_search")(type("OtherSearch", (GreedySearch,), {}))
    try:
        with pytest.raises(ValueError, match="greedy_search and modified_beam_search"):
            MultiChannelRecognizer(surt, DecodingOptions(chunk_ms=320, method="surt_test_other_search"))
    finally:
        unregister_search("surt_test_other_search")


def test_modified_beam_search_per_channel(surt: LoadedModel) -> None:
    from asr.decoding.beam_search import modified_beam_search

    options = DecodingOptions(chunk_ms=CHUNK_MS, method="modified_beam_search", beam=3)
    audio = synth_audio(3.0, seed=6)
    # without endpoints the stream's channels are the offline beam search over the chunked masked forward
    plain = MultiChannelRecognizer(surt, options, ChannelEndpointOptions(use_eos=False, rule=None))
    (result,) = transcribe_channels(plain, [audio])
    feats = torch.from_numpy(compute_fbank(audio, 16000, surt.feature_options))[None]
    feats, lens = pad_tail(feats, torch.tensor([feats.size(1)]), tail_padding_frames(options.tail_padding_ms, 10))
    with torch.no_grad():
        out, out_lens = surt.model.forward_encoder(feats, lens, 8, surt.config.left_context_frames)
        hyps = modified_beam_search(surt.model, out, out_lens, beam=3)
    assert [s.token_ids for s in sorted(result.segments, key=lambda s: s.channel)] == [h.tokens for h in hyps if h.tokens]
    # with <eos>: segments hold no <eos>, and the beam keeps going after each one
    (ended,) = transcribe_channels(MultiChannelRecognizer(surt, options, ChannelEndpointOptions(rule=None)), [audio])
    eos = surt.config.eos_id
    assert sum(s.eos for s in ended.segments) >= 2
    assert all(eos not in s.token_ids and s.token_ids for s in ended.segments)
    # a pending <eos> that the talker's next token cancels leaves every hypothesis of the beam
    (held,) = transcribe_channels(MultiChannelRecognizer(surt, options, ChannelEndpointOptions(
        rule=None, eos_min_silence=30.0)), [audio])
    assert all(eos not in s.token_ids and s.token_ids for s in held.segments)
    assert sum(s.eos for s in held.segments) < sum(s.eos for s in ended.segments)


def test_long_session_keeps_bounded_state(surt: LoadedModel) -> None:
    recognizer = MultiChannelRecognizer(surt, DecodingOptions(chunk_ms=CHUNK_MS))
    stream = recognizer.create_stream()
    sizes = []
    piece = synth_audio(2.0, seed=5)
    for k in range(30):  # 60 s, fed 2 s at a time, segments popped as a server would
        stream.accept_waveform(16000, piece)
        while recognizer.is_ready(stream):
            recognizer.decode_streams([stream])
        stream.pop_segments()
        sizes.append((sum(t.numel() for t in stream.encoder_state.flatten()), stream.fbank.num_frames_ready
                      - stream.num_feature_frames_consumed,
                      max(len(stream.channel_hypothesis(c).tokens) for c in range(2))))
    assert len({s[0] for s in sizes[2:]}) == 1  # state tensors do not grow
    assert max(s[1] for s in sizes) < 32  # undecoded frames stay under one chunk
    assert max(s[2] for s in sizes) < 200  # segments end, the current one stays short


def test_single_output_paths_refuse_surt(surt: LoadedModel) -> None:
    from asr.decoding import OnlineRecognizer, decode_waveforms
    from asr.errors import ModelDirError
    from asr.export.onnx import check_exportable

    with pytest.raises(ValueError, match="MultiChannelRecognizer"):
        OnlineRecognizer(surt, DecodingOptions(chunk_ms=320))
    with pytest.raises(ValueError, match="MultiChannelRecognizer"):
        decode_waveforms(surt, [synth_audio(0.5, seed=1)])
    with pytest.raises(ModelDirError, match="architecture='surt'"):
        check_exportable(surt)


def test_a_channel_that_only_says_eos_gives_no_segment(tmp_path) -> None:
    """After silence a trained SURT emits nothing, or at most <eos>: no empty segments come out."""
    loaded = make_surt_dir(tmp_path, blank_bias=0.0)
    with torch.no_grad():
        loaded.model.joiner.output_linear.bias[loaded.config.eos_id] += 50.0  # every emission is <eos>
    (result,) = transcribe_channels(MultiChannelRecognizer(loaded, DecodingOptions(chunk_ms=CHUNK_MS)),
                                    [synth_audio(2.0, seed=3)])
    assert result.segments == [] and result.channels == ["", ""]


def test_tokens_that_spell_nothing_give_no_segment(tmp_path) -> None:
    """A trained SURT on digital silence emitted only the word-boundary token, which the fallback
    rule then finalized as a segment with empty text; such a segment is not given."""
    loaded = make_surt_dir(tmp_path, blank_bias=0.0)
    boundary = loaded.tokenizer.token_to_id("\u2581")
    with torch.no_grad():
        loaded.model.joiner.output_linear.bias[boundary] += 50.0  # every emission is the boundary
    (result,) = transcribe_channels(MultiChannelRecognizer(loaded, DecodingOptions(chunk_ms=CHUNK_MS)),
                                    [synth_audio(2.0, seed=3)])
    assert result.segments == [] and result.channels == ["", ""]


def test_eos_bias_equals_greedy_search_on_biased_scores_and_needs_an_eos_model(surt: LoadedModel, tmp_path) -> None:
    """greedy_search's eos_bias adds to the <eos> score before each argmax: the streaming result
    equals a brute-force greedy search whose joiner output carries the bias, a bias emits <eos>
    more often than none, and a model without <eos> refuses it."""
    bias = 1.5
    options = DecodingOptions(chunk_ms=CHUNK_MS, method_options=(("eos_bias", str(bias)),))
    audio = synth_audio(4.0, seed=1)
    recognizer = MultiChannelRecognizer(surt, options, ChannelEndpointOptions(use_eos=True, rule=None))
    (biased,) = transcribe_channels(recognizer, [audio])
    (plain,) = transcribe_channels(MultiChannelRecognizer(surt, DecodingOptions(chunk_ms=CHUNK_MS),
                                                          ChannelEndpointOptions(use_eos=True, rule=None)), [audio])
    eos = surt.config.eos_id

    class BiasedJoiner(torch.nn.Module):
        def __init__(self, joiner):
            super().__init__()
            self.inner = joiner

        def forward(self, enc, dec, project_input=False):
            out = self.inner(enc, dec, project_input)
            return out + torch.nn.functional.one_hot(torch.tensor(eos), out.size(-1)) * bias

        def __getattr__(self, name):
            try:
                return super().__getattr__(name)
            except AttributeError:
                return getattr(self.inner, name)

    original = surt.model.joiner
    surt.model.joiner = BiasedJoiner(original)
    try:
        reference, _ = reference_channels(surt, audio, DecodingOptions(chunk_ms=CHUNK_MS))
    finally:
        surt.model.joiner = original
    for c, (tokens, stamps) in enumerate(reference):
        got = sorted((s for s in biased.segments if s.channel == c), key=lambda s: s.start)
        assert [(s.token_ids, s.eos) for s in got] == [(seg[0], flag) for seg, flag in split_at(tokens, stamps, eos)]
    plain_reference, _ = reference_channels(surt, audio, DecodingOptions(chunk_ms=CHUNK_MS))
    for c, (tokens, stamps) in enumerate(plain_reference):
        got = sorted((s for s in plain.segments if s.channel == c), key=lambda s: s.start)
        assert [(s.token_ids, s.eos) for s in got] == [(seg[0], flag) for seg, flag in split_at(tokens, stamps, eos)]
    assert sum(t.count(eos) for t, _ in reference) > sum(t.count(eos) for t, _ in plain_reference)
    no_eos = make_surt_dir(tmp_path, eos_id=-1)
    with pytest.raises(ValueError, match="eos_bias=1.5: the model has no <eos> token"):
        transcribe_channels(MultiChannelRecognizer(no_eos, options), [audio])
