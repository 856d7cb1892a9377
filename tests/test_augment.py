"""Augmentation: speed perturbation durations, ids and pitch, additive noise at a measured SNR, word suffixes cut at pauses."""

from __future__ import annotations

import numpy as np
import pytest
from lhotse import CutSet

from asr.audio import save_audio
from asr.augment import NoiseConfig, add_noise, make_noise_cuts, measured_snr, speed_perturb
from asr.augment.noise import colored_noise
from asr.augment.pauses import PauseSplitConfig, speech_segments, split_at_pauses
from asr.corpora.common import make_cut
from conftest import make_tone


@pytest.fixture
def speech_cuts(tmp_path) -> CutSet:
    cuts = []
    for i, seconds in enumerate((1.0, 2.0)):
        path = tmp_path / f"utt{i}.wav"
        save_audio(path, make_tone(300 + 100 * i, seconds, amplitude=0.3), 16000)
        cuts.append(make_cut(f"utt{i}", path, "HELLO", "spk"))
    return CutSet.from_cuts(cuts)


def peak_frequency(samples: np.ndarray, sample_rate: int = 16000) -> float:
    """Frequency (Hz) of the strongest FFT bin; zero-padded 16x so a bin is well under 1 Hz."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)), n=16 * len(samples)))
    return float(np.argmax(spectrum)) * sample_rate / (16 * len(samples))


def test_speed_perturb_durations_and_ids(speech_cuts):
    out = speed_perturb(speech_cuts)
    by_id = {c.id: c for c in out}
    assert set(by_id) == {"utt0", "utt1", "utt0_sp0.9", "utt1_sp0.9", "utt0_sp1.1", "utt1_sp1.1"}
    for base, seconds, tone_hz in (("utt0", 1.0, 300.0), ("utt1", 2.0, 400.0)):
        assert peak_frequency(by_id[base].load_audio()[0]) == pytest.approx(tone_hz, rel=0.005)
        for factor in (0.9, 1.1):
            cut = by_id[f"{base}_sp{factor}"]
            assert cut.duration == pytest.approx(seconds / factor, abs=1e-3)
            audio = cut.load_audio()
            assert audio.shape[1] == pytest.approx(seconds / factor * 16000, abs=2)
            assert cut.supervisions[0].duration == pytest.approx(seconds / factor, abs=1e-3)
            # Speed perturbation is resampling (sox speed): pitch moves by the factor too, unlike
            # a tempo change, which would keep the tone and only shorten the audio.
            assert peak_frequency(audio[0]) == pytest.approx(tone_hz * factor, rel=0.005)
    with pytest.raises(ValueError, match="1.0"):
        speed_perturb(speech_cuts, factors=(1.0,))


@pytest.mark.parametrize("snr", [0.0, 10.0])
def test_add_noise_hits_requested_snr(speech_cuts, tmp_path, snr):
    noise = make_noise_cuts(tmp_path / "noise", num_per_kind=1, seconds=3.0)
    noisy = add_noise(speech_cuts, noise, NoiseConfig(snr=(snr, snr), seed=1))
    assert [c.id for c in noisy] == [c.id for c in speech_cuts]
    for clean, mixed in zip(speech_cuts, noisy):
        assert mixed.supervisions[0].text == "HELLO"
        assert mixed.duration == pytest.approx(clean.duration)
        assert measured_snr(clean.load_audio()[0], mixed.load_audio()[0]) == pytest.approx(snr, abs=0.2)


def test_colored_noise_spectra():
    rng = np.random.default_rng(0)
    n = 1 << 15
    slopes = {}
    for kind in ("white", "pink", "brown"):
        power = np.abs(np.fft.rfft(colored_noise(kind, n, rng))) ** 2
        f = np.fft.rfftfreq(n)[1:]
        slopes[kind] = np.polyfit(np.log(f), np.log(power[1:] + 1e-20), 1)[0]
    assert slopes["white"] == pytest.approx(0.0, abs=0.2)
    assert slopes["pink"] == pytest.approx(-1.0, abs=0.2)
    assert slopes["brown"] == pytest.approx(-2.0, abs=0.2)
    with pytest.raises(ValueError, match="blue"):
        colored_noise("blue", 10, rng)


def test_augment_cli_writes_perturbed_and_noisy_manifests(speech_cuts, tmp_path):
    from asr.augment.__main__ import main
    from asr.data.manifests import read_cuts, write_cuts

    write_cuts(speech_cuts, tmp_path / "in.jsonl.gz")
    main(["speed", str(tmp_path / "in.jsonl.gz"), str(tmp_path / "sp.jsonl.gz")])
    sp = read_cuts(tmp_path / "sp.jsonl.gz").to_eager()
    assert len(sp) == 6 and sp["utt1_sp1.1"].load_audio().shape[1] == pytest.approx(2.0 / 1.1 * 16000, abs=2)
    main(["noise", str(tmp_path / "in.jsonl.gz"), str(tmp_path / "noisy.jsonl.gz"), "--noise-dir", str(tmp_path / "noise"), "--snr", "5", "5"])
    noisy = read_cuts(tmp_path / "noisy.jsonl.gz").to_eager()
    assert measured_snr(speech_cuts["utt0"].load_audio()[0], noisy["utt0"].load_audio()[0]) == pytest.approx(5.0, abs=0.2)


# ---------------------------------------------------------------- sub-utterances cut at pauses

WORD_TIMES = [(0.30, 0.65), (0.80, 1.10), (1.40, 1.90), (2.00, 2.35)]  # seconds; pauses 0.15-0.3 s


def _words_with_pauses(tmp_path, sample_rate: int = 8000):
    """Four tone bursts in low noise, one recording of the words "A B C D"."""
    rng = np.random.default_rng(0)
    audio = 0.002 * rng.standard_normal(int(2.6 * sample_rate)).astype(np.float32)
    for i, (start, end) in enumerate(WORD_TIMES):
        tone = make_tone(300 + 150 * i, end - start, sample_rate=sample_rate, amplitude=0.3)
        audio[int(start * sample_rate):int(start * sample_rate) + len(tone)] += tone
    path = tmp_path / "abcd.wav"
    save_audio(path, audio, sample_rate)
    return path, audio


def test_speech_segments_find_the_bursts(tmp_path):
    _, audio = _words_with_pauses(tmp_path)
    found = speech_segments(audio, 8000, PauseSplitConfig())
    assert len(found) == len(WORD_TIMES)
    for (start, end), (true_start, true_end) in zip(found, WORD_TIMES):
        assert abs(start - true_start) <= 0.03 and abs(end - true_end) <= 0.03


def test_split_at_pauses_adds_word_suffixes_with_the_lead_in_and_prefixes(tmp_path):
    path, audio = _words_with_pauses(tmp_path)
    cuts = CutSet.from_cuts([make_cut("abcd", path, "A B C D", "spk"), make_cut("wrong", path, "A B C", "spk")])
    result = split_at_pauses(cuts, tmp_path / "suffixes")
    assert result.num_split == 1 and result.num_kept_whole == 1  # 3 words cannot match 4 bursts
    by_id = {c.id: c for c in result.cuts}
    assert set(by_id) == {"abcd", "wrong", "abcd_from1", "abcd_from2", "abcd_from3", "abcd_to1", "abcd_to2", "abcd_to3"}
    rate = 8000
    for k, text in ((1, "A"), (2, "A B"), (3, "A B C")):
        prefix = by_id[f"abcd_to{k}"]
        assert prefix.supervisions[0].text == text
        samples = prefix.load_audio()[0]
        pause_middle = (WORD_TIMES[k - 1][1] + WORD_TIMES[k][0]) / 2
        assert abs(len(samples) - pause_middle * rate) <= 0.03 * rate
        np.testing.assert_allclose(samples, audio[:len(samples)], atol=1e-4)
    for k, text in ((1, "B C D"), (2, "C D"), (3, "D")):
        cut = by_id[f"abcd_from{k}"]
        assert cut.supervisions[0].text == text and cut.supervisions[0].speaker == "spk"
        assert (tmp_path / "suffixes" / f"abcd_from{k}.wav").is_file()
        samples = cut.load_audio()[0]
        # the lead-in: the audio before the first word (less the guard), then the recording from
        # the middle of the pause before word k to the end
        lead = (WORD_TIMES[0][0] - PauseSplitConfig().lead_in_guard_s) * rate  # 0.25 s, up to the detector's error
        sure = round(lead - 0.03 * rate)
        np.testing.assert_allclose(samples[:sure], audio[:sure], atol=1e-4)
        pause_middle = (WORD_TIMES[k - 1][1] + WORD_TIMES[k][0]) / 2
        rest = len(audio) - round(pause_middle * rate)
        assert abs(len(samples) - lead - rest) <= 0.06 * rate
        tail = rest - round(0.03 * rate)  # what surely comes from after the cut point
        np.testing.assert_allclose(samples[-tail:], audio[-tail:], atol=1e-4)


@pytest.mark.parametrize("freq,alpha", [(1000.0, 1.1), (2000.0, 0.9), (500.0, 1.15)])
def test_frequency_warp_moves_a_tone_like_a_longer_or_shorter_vocal_tract(freq, alpha):
    """A tone's fbank warped by alpha peaks in the bin of a real tone at alpha * freq (below the knee)."""
    import torch

    from asr.augment import FrequencyWarp, FrequencyWarpConfig
    from asr.features.fbank import compute_fbank

    def fbank(f: float) -> torch.Tensor:
        return torch.from_numpy(compute_fbank(make_tone(f, seconds=0.5), 16000)).unsqueeze(0)

    warp = FrequencyWarp(FrequencyWarpConfig(enabled=True))
    warped = warp.warp(fbank(freq), torch.tensor([alpha]))
    expected_peak = int(fbank(alpha * freq)[0].mean(0).argmax())
    original_peak = int(fbank(freq)[0].mean(0).argmax())
    assert original_peak != expected_peak
    assert abs(int(warped[0].mean(0).argmax()) - expected_peak) <= 1


def test_frequency_warp_identity_edges_and_random_factors():
    import torch

    from asr.augment import FrequencyWarp, FrequencyWarpConfig

    features = torch.randn(3, 20, 80)
    warp = FrequencyWarp(FrequencyWarpConfig(enabled=True, max_warp=0.2))
    assert torch.allclose(warp.warp(features, torch.ones(3)), features, atol=1e-5)
    warped = warp.warp(features, torch.tensor([0.85, 1.0, 1.2]))
    # the top edge stays put (the last bin reads within a bin of itself) and the map keeps bin order
    source = warp.source_bins(torch.tensor([0.85, 1.2]), 80)
    assert ((source[:, -1] - 79).abs() < 1).all() and (source.diff(dim=1) >= 0).all()
    assert source[0, 40] > 40 > source[1, 40]  # a shorter tract (alpha < 1) reads from higher up
    assert not torch.allclose(warped[0], features[0])
    torch.manual_seed(0)
    drawn = warp(features)
    assert drawn.shape == features.shape and not torch.allclose(drawn, features)
    assert FrequencyWarpConfig().build() is None  # off unless a recipe asks for it
    with pytest.raises(ValueError, match="max_warp"):
        FrequencyWarp(FrequencyWarpConfig(max_warp=0.7))
    with pytest.raises(ValueError, match=r"\(N, T, F\)"):
        warp.warp(features[0], torch.ones(1))
