"""Lang + LM + HLG build for the Kathleen vocabulary: sizes and times of each step, G2P use,
OOV rate, and the cost of adding one word afterwards (issue 11: build <= 2 minutes).

LM text and vocabulary: the Kathleen *training* prompts (prompt-disjoint split of
``asr.corpora.kathleen``, default seed) plus ``../shared/data/text/*.txt``; never the test prompts.
Words cmudict lacks are pronounced by the G2P model (``--g2p-model``; trained there first, about
2 minutes, when the file does not exist).

    python bench/hybrid_graph.py [--data-dir ../shared/data] [--work-dir DIR] [--g2p-model MODEL.gz]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from asr.corpora.kathleen import KathleenConfig, locate, prompt_of, read_transcripts, split_prompts
from asr.hybrid.fst import load_fst, num_arcs
from asr.hybrid.prepare import HybridLangConfig, add_words, prepare_hybrid_lang
from asr.text import normalize_transcript
from asr.text.g2p import G2POptions, evaluate_g2p, split_dictionary, train_g2p
from asr.text.lexicon import load_cmudict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--work-dir", type=Path, default=Path("egs/kathleen/exp/bench_hybrid_graph"))
    parser.add_argument("--g2p-model", type=Path, default=Path("egs/kathleen/exp/g2p/g2p.arpa.gz"))
    args = parser.parse_args(argv)

    corpus = locate(args.data_dir / "kathleen")
    transcripts = read_transcripts(corpus)
    side = split_prompts([prompt_of(u) for u in transcripts], KathleenConfig())
    by_split: dict[str, dict[str, str]] = {"train": {}, "dev": {}, "test": {}}
    for utt, text in transcripts.items():
        by_split[side[prompt_of(utt)]][prompt_of(utt)] = normalize_transcript(text)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    train_text = args.work_dir / "kathleen_train_prompts.txt"
    train_text.write_text("".join(f"{t}\n" for t in sorted(by_split["train"].values())))

    rows: list[tuple[str, str]] = []
    if not args.g2p_model.is_file():
        start = time.perf_counter()
        train_pairs, held_out = split_dictionary(load_cmudict(), 2000)
        model = train_g2p(train_pairs, G2POptions())
        rows.append(("G2P training (cmudict minus 2000 words)", f"{time.perf_counter() - start:.0f} s"))
        score = evaluate_g2p(model, held_out)
        rows.append(("G2P held-out word accuracy / PER", f"{score.word_accuracy:.1%} / {score.phone_error_rate:.1%}"))
        model.save(args.g2p_model)

    lang_dir = args.work_dir / "lang"
    shutil.rmtree(lang_dir, ignore_errors=True)
    texts = [str(train_text), *sorted(str(p) for p in (args.data_dir / "text").glob("*.txt"))]
    config = HybridLangConfig(texts=texts, g2p_model=str(args.g2p_model))
    start = time.perf_counter()
    report = prepare_hybrid_lang(lang_dir, config)
    total = time.perf_counter() - start

    vocab = {line.split()[0] for line in (lang_dir / "words.txt").read_text().splitlines()}
    test_words = [w for t in by_split["test"].values() for w in t.split()]
    oov = sum(w not in vocab for w in test_words)
    hlg = load_fst(lang_dir / "HLG.fst")
    g = load_fst(lang_dir / "G.fst")
    rows += [
        ("LM text", f"{len(by_split['train'])} Kathleen train prompts + {', '.join(Path(t).name for t in texts[1:])}"),
        ("vocabulary (words.txt minus specials)", f"{len(vocab) - 6}"),
        ("words pronounced by G2P", f"{len(report.g2p_words)}: {' '.join(report.g2p_words[:8])} ..."),
        ("Kathleen test-prompt OOV rate vs LM vocabulary", f"{oov / max(len(test_words), 1):.2%} ({oov}/{len(test_words)})"),
        ("G.fst states / arcs", f"{g.num_states} / {num_arcs(g)}"),
        ("HLG.fst states / arcs / file size", f"{hlg.num_states} / {num_arcs(hlg)} / {(lang_dir / 'HLG.fst').stat().st_size / 2**20:.1f} MiB"),
    ]
    rows += [(f"build step {name}", f"{seconds:.1f} s") for name, seconds in report.seconds.items()]
    rows.append(("lang + LM + G + HLG build, total", f"{total:.1f} s"))
    start = time.perf_counter()
    again = prepare_hybrid_lang(lang_dir, config)
    rows.append(("rerun with nothing changed", f"{time.perf_counter() - start:.1f} s (rebuilt: {', '.join(again.rebuilt) or 'nothing'})"))
    start = time.perf_counter()
    added = add_words(lang_dir, ["ZORBLAX Z AO R B L AE K S"])
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in added.seconds.items())
    rows.append(("asr lexicon add ZORBLAX (with phones)", f"{time.perf_counter() - start:.1f} s ({steps})"))

    width = max(len(k) for k, _ in rows)
    print(f"| {'measure'.ljust(width)} | value |\n|{'-' * (width + 2)}|-------|")
    for key, value in rows:
        print(f"| {key.ljust(width)} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
