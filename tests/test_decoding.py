"""Greedy and modified beam search against brute-force references on tiny random models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from asr.decoding.beam_search import modified_beam_search
from asr.decoding.greedy import greedy_search_batch
from asr.models.config import tiny_config
from asr.models.model import Transducer
from tiny_model import FACTORIZED, single_thread  # noqa: F401 (autouse fixture)

#: "factorized": the searches must pair the FNT joiner's wider projections as they are;
#: "fnt_vocab": and carry FNT's two predictors' states as one, at an LM weight other than 1
VARIANTS = {"factorized": FACTORIZED,
            "fnt_vocab": {**FACTORIZED, "vocab_predictor": True, "factorized_lm_scale": 1.7}}


def random_model(vocab_size: int = 5, predictor: str = "stateless", seed: int = 0) -> Transducer:
    torch.manual_seed(seed)
    overrides = VARIANTS.get(predictor, {"predictor": predictor})
    model = Transducer(tiny_config(vocab_size=vocab_size, **overrides)).eval()
    with torch.no_grad():  # large random weights so that tokens, not only blanks, win
        for p in model.parameters():
            p.normal_(0.0, 0.6)
    return model


def predictor_out(model: Transducer, tokens: list[int]) -> torch.Tensor:
    """Projected predictor output after ``tokens``, from the training-time forward (J,)."""
    y = torch.tensor([[model.blank_id] + tokens])
    return model.joiner.project_decoder(model.predictor(y)[0, -1])


def argmax_walk(model: Transducer, enc: torch.Tensor, max_sym: int,
                blank_penalty: float = 0.0) -> tuple[list[int], list[int]]:
    """Reference greedy search of one utterance, blank's score lowered by ``blank_penalty``. enc: (T, C)."""
    tokens: list[int] = []
    times: list[int] = []
    for t in range(enc.size(0)):
        for _ in range(max_sym):
            logits = model.joiner(model.joiner.project_encoder(enc[t]), predictor_out(model, tokens))
            logits[model.blank_id] -= blank_penalty
            best = int(logits.argmax())
            if best == model.blank_id:
                break
            tokens.append(best)
            times.append(t)
    return tokens, times


def best_sequence_by_enumeration(model: Transducer, enc: torch.Tensor, max_sym: int = 1) -> tuple[tuple[int, ...], float]:
    """Sum over every alignment in which a frame emits at most ``max_sym`` tokens, per token
    sequence; the best. On a frame, blank moves to the next frame; a token stays on it, except
    the ``max_sym``-th, which moves on without a blank (greedy search's rule; with ``max_sym`` 1
    this is the modified topology: one symbol per frame). Depth-first."""
    enc_proj = model.joiner.project_encoder(enc)
    totals: dict[tuple[int, ...], float] = {}

    def walk(t: int, emitted: int, tokens: tuple[int, ...], score: float) -> None:
        if t == enc.size(0):
            totals[tokens] = float(np.logaddexp(totals[tokens], score)) if tokens in totals else score
            return
        logits = model.joiner(enc_proj[t], predictor_out(model, list(tokens)))
        for sym, lp in enumerate(logits.log_softmax(-1).tolist()):
            if sym == model.blank_id:
                walk(t + 1, 0, tokens, score + lp)
            elif emitted + 1 == max_sym:
                walk(t + 1, 0, tokens + (sym,), score + lp)
            else:
                walk(t, emitted + 1, tokens + (sym,), score + lp)

    walk(0, 0, (), 0.0)
    assert float(np.logaddexp.reduce(list(totals.values()))) == pytest.approx(0.0, abs=1e-4)  # all alignments
    best = max(totals, key=totals.__getitem__)
    return best, totals[best]


@pytest.mark.parametrize("predictor", ["stateless", "lstm", "factorized", "fnt_vocab"])
@pytest.mark.parametrize("max_sym", [1, 3])
def test_greedy_equals_argmax_walk(predictor: str, max_sym: int) -> None:
    model = random_model(vocab_size=6, predictor=predictor)
    enc = torch.randn(3, 9, model.config.encoder_dim)
    lens = torch.tensor([9, 4, 7])
    with torch.no_grad():
        hyps = greedy_search_batch(model, enc, lens, max_sym_per_frame=max_sym)
        emitted = 0
        for i, hyp in enumerate(hyps):
            tokens, times = argmax_walk(model, enc[i, : lens[i]], max_sym)
            assert hyp.tokens == tokens
            assert hyp.timestamps == times
            emitted += len(tokens)
    assert emitted > 3  # the check is vacuous if the model only emits blanks
    if max_sym == 3:
        assert any(len(h.timestamps) != len(set(h.timestamps)) for h in hyps), "no frame emitted twice"


def test_greedy_blank_penalty_equals_the_walk_on_lowered_blank_scores() -> None:
    """greedy_search's blank_penalty (icefall's --blank-penalty) subtracts from blank's score before
    each argmax: the registered search equals the reference walk with the lowered score, emits more
    tokens than without it, and a bad value is refused by name."""
    from asr.decoding.greedy import GreedySearch, init_greedy_state
    from asr.decoding.options import DecodingOptions

    model = random_model(vocab_size=6)
    enc = torch.randn(3, 9, model.config.encoder_dim)
    lens = torch.tensor([9, 4, 7])
    counts = []
    for penalty in (0.0, 1.5):
        options = DecodingOptions(method_options=(("blank_penalty", str(penalty)),))
        with torch.no_grad():
            state = GreedySearch().step(model, enc, lens, init_greedy_state(model, 3), options)
        for i, hyp in enumerate(state.hyps):
            assert (hyp.tokens, hyp.timestamps) == argmax_walk(model, enc[i, : lens[i]], options.max_sym_per_frame, penalty)
        counts.append(sum(len(h.tokens) for h in state.hyps))
    assert counts[1] > counts[0]
    with pytest.raises(ValueError, match="blank_penalty='much' is not a float"):
        DecodingOptions(method_options=(("blank_penalty", "much"),))


@pytest.mark.parametrize("predictor", ["stateless", "lstm", "factorized", "fnt_vocab"])
def test_large_beam_finds_exhaustive_best(predictor: str) -> None:
    model = random_model(vocab_size=3, predictor=predictor, seed=1)
    num_frames = 4
    enc = torch.randn(2, num_frames, model.config.encoder_dim)
    lens = torch.tensor([num_frames, num_frames])
    with torch.no_grad():
        # beam >= every (hypothesis, symbol) pair keeps all prefixes: the search is exact
        hyps = modified_beam_search(model, enc, lens, beam=64)
        for i, hyp in enumerate(hyps):
            tokens, score = best_sequence_by_enumeration(model, enc[i])
            assert tuple(hyp.tokens) == tokens
            assert math.isclose(hyp.log_prob, score, abs_tol=1e-4)
            assert len(hyp.timestamps) == len(hyp.tokens)
            assert hyp.timestamps == sorted(set(hyp.timestamps))  # one token per frame at most


@pytest.mark.parametrize("predictor", ["stateless", "lstm", "factorized", "fnt_vocab"])
@pytest.mark.parametrize("max_sym", [2, 3])
def test_large_beam_with_several_symbols_per_frame_finds_exhaustive_best(predictor: str, max_sym: int) -> None:
    """max_sym_per_frame > 1: with a beam that prunes nothing the search is exact over the
    alignments with at most that many tokens a frame, and some frame does emit more than one."""
    # seed 1's factorized models never emit two tokens on a frame here, which would leave the check vacuous
    model = random_model(vocab_size=3, predictor=predictor, seed={"factorized": 3, "fnt_vocab": 2}.get(predictor, 1))
    num_frames = 3
    enc = torch.randn(3, num_frames, model.config.encoder_dim)
    lens = torch.tensor([num_frames] * 3)
    several = False
    with torch.no_grad():
        hyps = modified_beam_search(model, enc, lens, beam=512, max_sym_per_frame=max_sym)
        for i, hyp in enumerate(hyps):
            tokens, score = best_sequence_by_enumeration(model, enc[i], max_sym)
            assert tuple(hyp.tokens) == tokens
            assert math.isclose(hyp.log_prob, score, abs_tol=1e-4)
            assert hyp.timestamps == sorted(hyp.timestamps)
            assert max((hyp.timestamps.count(t) for t in set(hyp.timestamps)), default=0) <= max_sym
            several |= len(set(hyp.timestamps)) < len(hyp.timestamps)
    assert several, "no hypothesis emitted two tokens on one frame: the check is vacuous"


@pytest.mark.parametrize("max_sym", [1, 2, 3])
def test_beam_one_equals_greedy_with_as_many_symbols_per_frame(max_sym: int) -> None:
    model = random_model(vocab_size=7, seed=2)
    enc = torch.randn(4, 12, model.config.encoder_dim)
    lens = torch.tensor([12, 3, 8, 11])
    with torch.no_grad():
        greedy = greedy_search_batch(model, enc, lens, max_sym_per_frame=max_sym)
        beam = modified_beam_search(model, enc, lens, beam=1, max_sym_per_frame=max_sym)
    assert [h.tokens for h in beam] == [h.tokens for h in greedy]
    assert [h.timestamps for h in beam] == [h.timestamps for h in greedy]


def test_beam_search_option_reaches_the_search_and_is_checked() -> None:
    """``--method-option max_sym_per_frame=N`` of the registered beam search is the function's
    argument; 0 and a non-integer are refused by name."""
    from asr.decoding.search import get_search
    from asr.decoding.options import DecodingOptions

    model = random_model(vocab_size=7, seed=4)
    enc = torch.randn(3, 10, model.config.encoder_dim)
    lens = torch.tensor([10, 6, 9])
    for max_sym in (1, 3):
        options = DecodingOptions(method="modified_beam_search", beam=4,
                                  method_options=(("max_sym_per_frame", str(max_sym)),))
        with torch.no_grad():
            registered = get_search("modified_beam_search").search(model, enc, lens, options)
            direct = modified_beam_search(model, enc, lens, beam=4, max_sym_per_frame=max_sym)
        assert [(h.tokens, h.timestamps) for h in registered] == [(h.tokens, h.timestamps) for h in direct]
    with pytest.raises(ValueError, match="max_sym_per_frame=0 must be >= 1"):
        DecodingOptions(method="modified_beam_search", method_options=(("max_sym_per_frame", "0"),))
    with pytest.raises(ValueError, match="max_sym_per_frame='two' is not a int"):
        DecodingOptions(method="modified_beam_search", method_options=(("max_sym_per_frame", "two"),))


def test_beam_four_batched_equals_one_by_one() -> None:
    model = random_model(vocab_size=7, seed=3)
    enc = torch.randn(3, 10, model.config.encoder_dim)
    lens = torch.tensor([10, 5, 8])
    with torch.no_grad():
        batched = modified_beam_search(model, enc, lens, beam=4)
        single = [modified_beam_search(model, enc[i:i + 1, : lens[i]], lens[i:i + 1], beam=4)[0] for i in range(3)]
    for b, s in zip(batched, single):
        assert b.tokens == s.tokens
        assert math.isclose(b.log_prob, s.log_prob, abs_tol=1e-4)


def test_zero_length_utterance_gives_empty_hypothesis() -> None:
    model = random_model()
    enc = torch.randn(2, 5, model.config.encoder_dim)
    lens = torch.tensor([5, 0])
    with torch.no_grad():
        assert greedy_search_batch(model, enc, lens)[1].tokens == []
        assert modified_beam_search(model, enc, lens)[1].tokens == []


# ---------------------------------------------------------------------------------------------
# the search registry, decoding options and typed streaming state


from dataclasses import dataclass  # noqa: E402

from asr.decoding.beam_search import BeamSearchState  # noqa: E402
from asr.decoding.greedy import GreedySearchState, init_greedy_state  # noqa: E402
from asr.decoding.hypothesis import Hypothesis  # noqa: E402
from asr.decoding.options import DecodingOptions, add_decoding_arguments  # noqa: E402
from asr.decoding.search import (SEARCH_METHODS, SearchMethod, SearchState, register_search,  # noqa: E402
                                 search_method_names, unregister_search)


@dataclass
class FrameArgmaxState(SearchState):
    """Toy search state: one hypothesis per utterance, frames consumed so far."""

    hyps: list[Hypothesis]
    frame_offset: list[int]

    @classmethod
    def stack(cls, states):
        return cls([h for s in states for h in s.hyps], [o for s in states for o in s.frame_offset])

    def unstack(self):
        return [FrameArgmaxState([h], [o]) for h, o in zip(self.hyps, self.frame_offset)]

    def best_hypotheses(self):
        return self.hyps

    def new_segment(self):
        return FrameArgmaxState([Hypothesis() for _ in self.hyps], list(self.frame_offset))


class FrameArgmax(SearchMethod):
    """Toy method: every frame emits its best non-blank token, the predictor never moves."""

    def init_state(self, model, batch_size, device="cpu"):
        return FrameArgmaxState([Hypothesis() for _ in range(batch_size)], [0] * batch_size)

    def step(self, model, encoder_out, encoder_out_lens, state, options):
        dec = init_greedy_state(model, 1, encoder_out.device).decoder_out  # (1, J)
        logits = model.joiner(model.joiner.project_encoder(encoder_out), dec[:, None])  # (N, T, V)
        logits[..., model.blank_id] = -math.inf
        best = logits.argmax(-1).tolist()
        for i, n in enumerate(encoder_out_lens.tolist()):
            state.hyps[i].tokens += best[i][:n]
            state.hyps[i].timestamps += [state.frame_offset[i] + t for t in range(n)]
            state.frame_offset[i] += n
        return state


@pytest.fixture()
def toy_method():
    register_search("toy_frame_argmax")(FrameArgmax)
    yield SEARCH_METHODS["toy_frame_argmax"]
    unregister_search("toy_frame_argmax")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from tiny_model import make_tiny_model_dir

    return make_tiny_model_dir(tmp_path_factory.mktemp("registry"), seed=1)


def test_registered_method_works_offline_streaming_and_in_cli_choices(toy_method, tiny_dir) -> None:
    """One registration makes a method usable by decode_waveforms, OnlineRecognizer and the flags."""
    import argparse

    from asr.decoding.offline import decode_waveforms
    from asr.decoding.online import OnlineRecognizer
    from tiny_model import synth_audio

    assert toy_method.name == "toy_frame_argmax" and "toy_frame_argmax" in search_method_names()
    parser = argparse.ArgumentParser()
    add_decoding_arguments(parser)
    args = parser.parse_args(["--method", "toy_frame_argmax", "--chunk-ms", "160"])
    options = DecodingOptions.from_args(args)
    audios = [synth_audio(s, seed=50 + i) for i, s in enumerate([0.9, 0.5])]
    offline = decode_waveforms(tiny_dir, audios, options)
    recognizer = OnlineRecognizer(tiny_dir, options)
    streams = [recognizer.create_stream() for _ in audios]
    for s, a in zip(streams, audios):
        s.accept_waveform(16000, a)
        s.input_finished()
    recognizer.decode_until_done(streams)
    for hyp, stream in zip(offline, streams):
        assert hyp.timestamps == list(range(stream.num_processed_frames))  # one token a frame: the toy ran
        assert recognizer.get_result(stream).token_ids == hyp.tokens
    with pytest.raises(ValueError, match="already registered"):
        register_search("toy_frame_argmax")(FrameArgmax)


@dataclass
class ToyOptions:
    skip_first: int = 0
    label: str = "x"


def test_method_options_reach_the_search_and_are_checked(tiny_dir) -> None:
    """A method's own settings come from --method-option, typed by its options dataclass."""
    import argparse

    from asr.decoding.offline import decode_waveforms
    from tiny_model import synth_audio

    class SkippingArgmax(FrameArgmax):
        options_type = ToyOptions

        def step(self, model, encoder_out, encoder_out_lens, state, options):
            skip = options.method_config.skip_first
            state = super().step(model, encoder_out, encoder_out_lens, state, options)
            for hyp in state.hyps:
                del hyp.tokens[:skip], hyp.timestamps[:skip]
            return state

    register_search("toy_skipping")(SkippingArgmax)
    try:
        parser = argparse.ArgumentParser()
        add_decoding_arguments(parser)
        args = parser.parse_args(["--method", "toy_skipping", "--method-option", "skip_first=3"])
        options = DecodingOptions.from_args(args)
        assert options.method_config == ToyOptions(skip_first=3) and options.tag == "toy_skipping_skip_first3_full"
        audio = synth_audio(0.9, seed=50)
        skipped = decode_waveforms(tiny_dir, [audio], options)[0]
        plain = decode_waveforms(tiny_dir, [audio], options.replace(method_options=()))[0]
        assert skipped.timestamps == plain.timestamps[3:] and len(plain.timestamps) > 3
        with pytest.raises(ValueError, match="no option 'skip'; its options are label, skip_first"):
            DecodingOptions(method="toy_skipping", method_options=(("skip", "1"),))
        with pytest.raises(ValueError, match="skip_first='two' is not a int"):
            DecodingOptions(method="toy_skipping", method_options=(("skip_first", "two"),))
        with pytest.raises(ValueError, match="'greedy_search' has no option 'skip_first'; its options are blank_penalty, eos_bias, eos_to_predictor"):
            DecodingOptions(method_options=(("skip_first", "1"),))
        with pytest.raises(SystemExit):
            parser.parse_args(["--method-option", "no_equals_sign"])
    finally:
        unregister_search("toy_skipping")


def test_unregistered_method_is_refused_everywhere() -> None:
    import argparse

    assert "toy_frame_argmax" not in search_method_names()
    with pytest.raises(ValueError, match="unknown decoding method 'toy_frame_argmax'"):
        DecodingOptions(method="toy_frame_argmax")
    parser = argparse.ArgumentParser()
    add_decoding_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--method", "toy_frame_argmax"])
    with pytest.raises(TypeError, match="SearchMethod subclass"):
        register_search("not_a_method")(dict)  # type: ignore[arg-type]


def test_decoding_flags_and_their_old_spellings() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_decoding_arguments(parser, default_chunk_ms=320)
    assert DecodingOptions.from_args(parser.parse_args([])) == DecodingOptions(chunk_ms=320)
    args = parser.parse_args(["--decoding-method", "modified_beam_search", "--num-active-paths", "6",
                              "--chunk-ms", "full", "--tail-pad-ms", "80", "--left-context-ms", "640"])
    assert DecodingOptions.from_args(args) == DecodingOptions("modified_beam_search", 6, None, 640, 3, 80)
    assert DecodingOptions.from_args(args).tag == "modified_beam_search_full"
    with pytest.raises(SystemExit):
        parser.parse_args(["--chunk-ms", "fast"])


def _assert_same_state(a, b) -> None:
    assert type(a) is type(b) and a.names() == b.names() and len(a.flatten()) == len(b.flatten())
    for x, y in zip(a.flatten(), b.flatten()):
        assert torch.equal(x, y)


@pytest.mark.parametrize("predictor", ["stateless", "lstm", "fnt_vocab"])
def test_model_states_stack_unstack_select_scatter(predictor: str) -> None:
    """Encoder and predictor states: unstack then stack is the identity, select picks rows,
    scatter writes them back, and a stream's state is the same alone or inside a batch."""
    model = random_model(vocab_size=7, predictor=predictor, seed=3)
    enc = model.encoder
    x, lens = torch.randn(3, 32, 80), torch.tensor([32, 20, 32])
    with torch.no_grad():
        _, _, batched = enc.infer(x, lens, enc.init_states(3, 4))
        _, _, alone = enc.infer(x[1:2], lens[1:2], enc.init_states(1, 4))
    names = batched.names()
    assert names[:3] == ["input_cache", "conv1_cache", "processed_frames"]
    assert names[3:6] == ["layer0_key", "layer0_value", "layer0_conv"] and len(names) == 3 + 3 * len(enc.layers)
    parts = batched.unstack()
    assert [p.batch_size for p in parts] == [1, 1, 1]
    _assert_same_state(type(batched).stack(parts), batched)
    for a, b in zip(alone.flatten(), parts[1].flatten()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    assert parts[1].flatten()[0].data_ptr() != batched.flatten()[0].data_ptr()  # copies, not views
    idx = torch.tensor([2, 0])
    picked = batched.select(idx)
    _assert_same_state(picked, type(batched).stack([parts[2], parts[0]]))
    zeroed = enc.init_states(3, 4)
    _assert_same_state(zeroed.scatter(idx, picked).select(idx), picked)
    assert torch.equal(zeroed.scatter(idx, picked).processed_frames, torch.tensor([8, 0, 8]))  # encoder frames

    pred = model.predictor
    with torch.no_grad():
        _, pstate = pred.step(torch.tensor([1, 2, 3]), pred.init_state(3))
    ppart = pstate.unstack()
    _assert_same_state(type(pstate).stack(ppart), pstate)
    _assert_same_state(pstate.select(torch.tensor([1])), ppart[1])
    _assert_same_state(pred.init_state(3).scatter(torch.tensor([1]), ppart[1]).select(torch.tensor([1])), ppart[1])
    with pytest.raises(ValueError, match="different types"):
        type(pstate).stack([pstate, batched])


def test_search_states_round_trip() -> None:
    model = random_model(seed=4)
    enc = torch.randn(2, 6, model.config.encoder_dim)
    lens = torch.tensor([6, 3])
    greedy = get_method_state(model, "greedy_search", enc, lens)
    beam = get_method_state(model, "modified_beam_search", enc, lens)
    for state in (greedy, beam):
        parts = state.unstack()
        restacked = type(state).stack(parts)
        assert [h.tokens for h in restacked.best_hypotheses()] == [h.tokens for h in state.best_hypotheses()]
        assert [p.best_hypotheses()[0].tokens for p in parts] == [h.tokens for h in state.best_hypotheses()]
        fresh = state.new_segment()
        assert all(h.tokens == [] for h in fresh.best_hypotheses())
    assert isinstance(greedy, GreedySearchState) and isinstance(beam, BeamSearchState)
    _assert_same_state(GreedySearchState.stack(greedy.unstack()).predictor_state, greedy.predictor_state)
    # a new segment keeps the predictor context: continuing it equals continuing the old state
    more = torch.randn(2, 4, model.config.encoder_dim)
    method = SEARCH_METHODS["greedy_search"]
    options = DecodingOptions()
    before = [len(h.tokens) for h in greedy.hyps]
    cont = method.step(model, more, torch.tensor([4, 4]), GreedySearchState.stack(greedy.unstack()), options)
    fresh = method.step(model, more, torch.tensor([4, 4]), greedy.new_segment(), options)
    for a, b, n in zip(cont.hyps, fresh.hyps, before):
        assert a.tokens[n:] == b.tokens
    assert sum(len(h.tokens) for h in fresh.hyps) > 0


def get_method_state(model: Transducer, name: str, enc: torch.Tensor, lens: torch.Tensor) -> SearchState:
    method = SEARCH_METHODS[name]
    state = method.init_state(model, enc.size(0))
    return method.step(model, enc, lens, state, DecodingOptions(method=name))
