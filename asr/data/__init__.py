"""Kaldi data dirs <-> lhotse CutSets, validation, and manifest I/O."""

from asr.data.kaldi import KaldiDataDir, Segment, cuts_to_datadir, datadir_to_cuts, spk2utt_from_utt2spk
from asr.data.manifests import read_cuts, write_cuts

__all__ = [
    "KaldiDataDir",
    "Segment",
    "cuts_to_datadir",
    "datadir_to_cuts",
    "read_cuts",
    "spk2utt_from_utt2spk",
    "write_cuts",
]
