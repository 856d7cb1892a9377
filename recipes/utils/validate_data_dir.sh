#!/usr/bin/env bash
# Check a Kaldi data dir the way Kaldi's validate_data_dir.sh does (sorted and unique ids, every
# utterance with audio, text and speaker, spk2utt consistent with utt2spk, segments end > start >= 0).
#
#   utils/validate_data_dir.sh [--no-text] [--no-speaker-order] <data-dir> [<data-dir> ...]
#
# Prints "<dir>: OK (...)" or every problem, naming the ids; exits 1 on any problem.
# Runs `python -m asr.data.validate` (path.sh puts the project's .venv first on PATH).
exec python -m asr.data.validate "$@"
