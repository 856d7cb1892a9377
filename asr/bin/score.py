"""``asr score REF HYP``: WER the way Kaldi prints it, alignments, per-speaker breakdown, cpWER/ORC-WER."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from asr.scoring import compute_wer, multi_talker_wer, per_speaker, read_segments, read_text_file, write_alignments

FORMATS = """\
file formats:
  single-talker (default): Kaldi text files, one utterance a line: `UTT-ID word word ...`.
    A reference utterance with no hypothesis line counts as all deletions (with a warning);
    hypotheses without a reference are ignored (with a warning).
  --alignments FILE: per-utterance alignments in Kaldi's per_utt layout (ref/hyp/op/#csid lines).
  --per-speaker UTT2SPK: a Kaldi utt2spk file; prints a WER table by speaker.
  --multi-talker cp|orc: one segment a line, `SESSION<TAB>SPEAKER<TAB>word word ...` (any white
    space between the first two fields), for reference and hypothesis alike. Reference lines of a
    speaker are that speaker's utterances in time order; hypothesis speakers are output streams
    (e.g. 0 and 1). meeteval's .json (SegLST) and .stm files are accepted too.
    cp = concatenated minimum-permutation WER (speaker-attributed); orc = optimal reference
    combination WER (each reference utterance goes to its best stream).

  --endpoints: REF is a cuts manifest (.jsonl.gz, each supervision an utterance with its times) or
    `SESSION SPEAKER START END` lines; HYP is `asr transcribe --format jsonl` output. Prints EP50 and
    EP90 (median / 90th percentile of endpoint minus end of speech), the early-cutoff rate (endpoint
    more than 200 ms before the end of speech) and missed endpoints (asr/scoring/endpoints.py).

example output:
  %WER 12.50 [ 3 / 24, 1 ins, 1 del, 1 sub ]
  %SER 33.33 [ 1 / 3 ]
  Scored 3 sentences, 0 not present in hyp.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = FORMATS
    parser.add_argument("ref", type=Path, help="reference transcripts")
    parser.add_argument("hyp", type=Path, help="hypothesis transcripts")
    parser.add_argument("--alignments", type=Path, help="write per-utterance alignments here")
    parser.add_argument("--per-speaker", type=Path, metavar="UTT2SPK", help="print a per-speaker breakdown")
    parser.add_argument("--multi-talker", choices=("cp", "orc"), help="score multi-talker output with cpWER or ORC-WER")
    parser.add_argument("--endpoints", action="store_true", help="score segment endpoints (EP50, EP90, early cutoff, missed)")


def _score_multi_talker(args: argparse.Namespace) -> int:
    if args.alignments or args.per_speaker:
        print("asr score: --alignments and --per-speaker apply to single-talker scoring only", file=sys.stderr)
        return 2
    name = "cpWER" if args.multi_talker == "cp" else "ORC-WER"
    total, sessions = multi_talker_wer(read_segments(args.ref), read_segments(args.hyp), args.multi_talker)
    for session, result in sessions.items():
        print(f"{session}\t{result.line(name)}")
    print(total.line(name))
    return 0


def main(args: argparse.Namespace) -> int:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    if args.endpoints:
        from asr.scoring.endpoints import read_hypothesis, read_reference, score_endpoints

        print(score_endpoints(read_reference(args.ref), read_hypothesis(args.hyp)).line())
        return 0
    if args.multi_talker:
        return _score_multi_talker(args)
    result = compute_wer(read_text_file(args.ref, "reference"), read_text_file(args.hyp, "hypothesis"))
    print("\n".join(result.report_lines()))
    if args.alignments:
        write_alignments(result, args.alignments)
    if args.per_speaker:
        utt2spk = read_text_file(args.per_speaker, "utt2spk")
        rows = per_speaker(result, utt2spk)
        width = max([7, *(len(s) for s in rows)])
        print(f"{'SPEAKER':<{width}} {'UTTS':>6} {'WORDS':>7} {'ERR':>6} {'INS':>5} {'DEL':>5} {'SUB':>5} {'%WER':>7}")
        for spk, s in rows.items():
            print(f"{spk:<{width}} {s.sentences:>6} {s.ref_words:>7} {s.errors:>6} {s.insertions:>5} "
                  f"{s.deletions:>5} {s.substitutions:>5} {s.wer:>7.2f}")
    return 0
