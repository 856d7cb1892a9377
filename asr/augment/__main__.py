"""``python -m asr.augment speed|noise|pauses CUTS_IN CUTS_OUT ...``: augmented manifests for the feature stage.
``python -m asr.augment nonspeech CUTS_OUT --audio-dir D``: silence/noise/DC/hum cuts with empty transcripts.

    python -m asr.augment speed data/manifests/synth_cuts_train.jsonl.gz data/manifests/synth_cuts_train_sp.jsonl.gz
    python -m asr.augment noise IN OUT --noise-dir data/noise --snr 10 20 --seed 0
    python -m asr.augment pauses data/manifests/yesno_cuts_train.jsonl.gz data/manifests/yesno_cuts_train_pauses.jsonl.gz \\
        --audio-dir data/yesno_pauses

The speed and noise cuts are lazy (lhotse keeps the speed transform / the mix in the manifest);
the feature stage renders the audio. The pause sub-utterances are written as wav files to --audio-dir.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from asr.augment.noise import NoiseConfig, add_noise, make_noise_cuts
from asr.augment.nonspeech import NonspeechConfig, make_nonspeech_cuts
from asr.augment.pauses import PauseSplitConfig, split_at_pauses
from asr.augment.speed import speed_perturb
from asr.data.manifests import read_cuts, write_cuts


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m asr.augment", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_speed = sub.add_parser("speed", help="add speed-perturbed copies (ids _sp<factor>)")
    p_speed.add_argument("--factors", type=float, nargs="+", default=[0.9, 1.1])
    p_noise = sub.add_parser("noise", help="mix every cut with noise at a random SNR (ids kept)")
    p_noise.add_argument("--noise-dir", type=Path, required=True, help="synthesized noise wavs go here")
    p_noise.add_argument("--snr", type=float, nargs=2, default=[10.0, 20.0], metavar=("LOW", "HIGH"))
    p_noise.add_argument("--seed", type=int, default=0)
    p_pauses = sub.add_parser("pauses", help="add the word suffixes and prefixes of cuts whose pauses match their words "
                                                 "(ids _from<k>, _to<k>)")
    p_pauses.add_argument("--audio-dir", type=Path, required=True, help="the sub-utterances' wav files go here")
    p_pauses.add_argument("--threshold", type=float, default=PauseSplitConfig.threshold,
                          help="speech threshold between the noise floor (0) and the speech level (1)")
    p_pauses.add_argument("--min-pause", type=float, default=PauseSplitConfig.min_pause_s, help="seconds")
    p_pauses.add_argument("--min-speech", type=float, default=PauseSplitConfig.min_speech_s, help="seconds")
    p_nonspeech = sub.add_parser("nonspeech", help="synthesize silence, low-level noise, DC offset and hum cuts "
                                                   "with empty transcripts")
    p_nonspeech.add_argument("--audio-dir", type=Path, required=True, help="their wav files go here")
    p_nonspeech.add_argument("--num-per-kind", type=int, default=NonspeechConfig.num_per_kind)
    p_nonspeech.add_argument("--seed", type=int, default=0)
    for p in (p_speed, p_noise, p_pauses):
        p.add_argument("cuts_in", type=Path)
    for p in (p_speed, p_noise, p_pauses, p_nonspeech):
        p.add_argument("cuts_out", type=Path)
    args = parser.parse_args(argv)
    if args.command == "nonspeech":
        out = make_nonspeech_cuts(args.audio_dir, NonspeechConfig(num_per_kind=args.num_per_kind, seed=args.seed))
        write_cuts(out, args.cuts_out)
        print(f"{len(out)} non-speech cuts, {sum(c.duration for c in out) / 3600:.3f} h -> {args.cuts_out}")
        return
    cuts = read_cuts(args.cuts_in)
    if args.command == "speed":
        out = speed_perturb(cuts, tuple(args.factors))
    elif args.command == "pauses":
        config = PauseSplitConfig(threshold=args.threshold, min_pause_s=args.min_pause, min_speech_s=args.min_speech)
        result = split_at_pauses(cuts, args.audio_dir, config)
        out = result.cuts
        print(f"{result.num_split} cuts split at their pauses, {result.num_kept_whole} kept whole "
              "(pauses found do not match the words)")
    else:
        noise = make_noise_cuts(args.noise_dir, sample_rate=cuts[0].sampling_rate, seed=args.seed)
        out = add_noise(cuts, noise, NoiseConfig(snr=tuple(args.snr), seed=args.seed))
    write_cuts(out, args.cuts_out)
    print(f"{len(cuts)} cuts -> {len(out)} cuts, {sum(c.duration for c in out) / 3600:.3f} h -> {args.cuts_out}")


if __name__ == "__main__":
    main()
