"""Validate Kaldi data dirs from the shell (what ``utils/validate_data_dir.sh`` runs).

    python -m asr.data.validate [--no-text] [--no-speaker-order] DIR [DIR ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from asr.data.kaldi import KaldiDataDir
from asr.errors import DataDirError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="validate_data_dir", description=__doc__.split("\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--no-text", action="store_true", help="a data dir without transcripts is fine")
    parser.add_argument("--no-speaker-order", action="store_true",
                        help="skip Kaldi's check that utterance ids sort the same way as their speakers")
    args = parser.parse_args(argv)
    status = 0
    for d in args.dirs:
        try:
            data = KaldiDataDir.read(d)
            data.validate(require_text=not args.no_text, check_speaker_order=not args.no_speaker_order)
        except DataDirError as e:
            print(f"validate_data_dir: {e}", file=sys.stderr)
            status = 1
            continue
        print(f"{d}: OK ({len(data.utterance_ids)} utterances, {len(data.spk2utt)} speakers)")
    return status


if __name__ == "__main__":
    sys.exit(main())
