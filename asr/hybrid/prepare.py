"""The lang + LM + graph stage of the hybrid system, rebuilding only the pieces whose inputs changed.

Steps, each keyed by a hash of everything it reads (kept in ``LANG_DIR/.build_hashes.json``):

    lexicon  words of the texts + extra words -> lexicon (cmudict, then G2P)    lexicon.txt
    lang     lexicon.txt, sil_prob          -> words/phones/tokens.txt, L.fst, L_disambig.fst
    lm       texts, order, vocabulary       -> G.arpa (modified Kneser-Ney)
    G        G.arpa, words.txt              -> G.fst (kaldilm)
    HLG      L_disambig.fst, G.fst, tokens  -> HLG.fst

With ``tokens_dir`` (a transducer model dir, or a lang dir with ``bpe.model`` and ``tokens.txt``)
the lexicon spells each word in that model's tokens instead (``asr.hybrid.lang.spell_words``) and
the lang step writes a token lang dir, so HLG decodes the model's CTC head; extra words then need
no phones.

Rerunning with the same inputs rebuilds nothing; adding a word reruns the steps it reaches and
never retrains G2P. The config is saved as ``LANG_DIR/config.json`` so ``asr lexicon add`` can
rerun the stage with one more word.

CLI: ``python -m asr.hybrid.prepare LANG_DIR --text TEXT ... [--kaldi-text TEXT ...]
[--extra-words FILE] [--g2p-model MODEL.gz] [--tokens-dir MODEL_DIR]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from asr.errors import AsrError
from asr.hybrid.lang import (LangOptions, Pronouncer, complete_lexicon, read_extra_words, spell_words,
                             write_lang_dir, write_token_lang_dir)
from asr.lm.__main__ import read_sentences
from asr.lm.arpa import write_arpa
from asr.lm.kneser_ney import KneserNeyOptions, estimate_kneser_ney
from asr.text.lexicon import SPECIAL_ENTRIES, load_cmudict, read_lexicon
from asr.utils.io import atomic_write

logger = logging.getLogger(__name__)

Pron = tuple[str, ...]
HASHES = ".build_hashes.json"
_PLAIN_WORD = re.compile(r"[A-Z][A-Z']*")  # cmudict also has "'BOUT", "A.", "ABC'S"-like entries


@dataclass
class HybridLangConfig:
    texts: list[str] = field(default_factory=list)  # one sentence a line: LM text and vocabulary
    kaldi_texts: list[str] = field(default_factory=list)  # Kaldi 'utt-id words...' files, same use
    extra_words: str | None = None  # 'WORD [PHONES]' lines (asr.hybrid.lang.read_extra_words)
    g2p_model: str | None = None  # asr.text.g2p model for words cmudict lacks
    lm_order: int = 3
    sil_prob: float = 0.5
    build_graph: bool = True
    tokens_dir: str | None = None  # spell words in this model's tokens (a token lang dir) instead of phones
    # Every cmudict word joins the vocabulary (phone lang dirs): words the LM text lacks get the
    # LM's unseen-word share of the unigram mass, so they can still be recognized (Kathleen's
    # test words outside the LM text: 10% -> 0.1%).
    cmudict_vocabulary: bool = False

    def save(self, path: Path) -> None:
        with atomic_write(path) as f:
            json.dump(dataclasses.asdict(self), f, indent=2)

    @classmethod
    def load(cls, path: Path) -> HybridLangConfig:
        if not path.is_file():
            raise AsrError(f"{path}: no config.json: make the lang dir with python -m asr.hybrid.prepare first")
        data = json.loads(path.read_text(encoding="utf-8"))
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise AsrError(f"{path}: unknown config keys {sorted(unknown)}")
        return cls(**data)


@dataclass
class BuildReport:
    rebuilt: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    g2p_words: list[str] = field(default_factory=list)


def _hash(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def _file_bytes(path: str | os.PathLike) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise AsrError(f"{path}: file not found")
    return path.read_bytes()


def prepare_hybrid_lang(
    lang_dir: str | os.PathLike,
    config: HybridLangConfig,
    g2p: Pronouncer | None = None,
    dictionary: Mapping[str, Sequence[Pron]] | None = None,
) -> BuildReport:
    """Run the steps of the module docstring in ``lang_dir``; returns which ran and how long they took.

    ``g2p`` overrides ``config.g2p_model`` (anything with ``predict(word)``, e.g. for tests; its
    predictions are cached in the lang dir when it has a ``cache_key``, as a model file always does);
    ``dictionary`` overrides cmudict (``asr.text.lexicon.load_cmudict()`` by default).
    """
    lang_dir = Path(lang_dir)
    lang_dir.mkdir(parents=True, exist_ok=True)
    config.save(lang_dir / "config.json")
    hashes_path = lang_dir / HASHES
    hashes: dict[str, str] = json.loads(hashes_path.read_text()) if hashes_path.is_file() else {}
    report = BuildReport()

    def step(name: str, key: str, outputs: list[str], run: Callable[[], None]) -> None:
        if hashes.get(name) == key and all((lang_dir / o).is_file() for o in outputs):
            report.skipped.append(name)
            return
        start = time.perf_counter()
        run()
        report.seconds[name] = time.perf_counter() - start
        report.rebuilt.append(name)
        hashes[name] = key
        with atomic_write(hashes_path) as f:  # after each step: an interrupted build resumes
            json.dump(hashes, f, indent=2)

    text_bytes = [_file_bytes(p) for p in config.texts]
    kaldi_bytes = [_file_bytes(p) for p in config.kaldi_texts]
    extra_bytes = _file_bytes(config.extra_words) if config.extra_words else b""
    sentences: list[list[str]] | None = None

    def get_sentences() -> list[list[str]]:
        nonlocal sentences
        if sentences is None:
            sentences = read_sentences([Path(p) for p in config.texts]) + read_sentences(
                [Path(p) for p in config.kaldi_texts], kaldi_text=True
            )
            if not sentences:
                raise AsrError(f"{lang_dir}: the LM texts {config.texts + config.kaldi_texts} hold no sentences")
        return sentences

    if config.tokens_dir:
        return _prepare_token_lang(lang_dir, config, step, get_sentences, text_bytes, kaldi_bytes, extra_bytes, report)
    extra = read_extra_words(config.extra_words) if config.extra_words else {}
    if config.cmudict_vocabulary:
        words = dictionary if dictionary is not None else load_cmudict()
        extra = {**{w: None for w in words if _PLAIN_WORD.fullmatch(w)}, **extra}
    if g2p is None and config.g2p_model:
        g2p_key = _hash(_file_bytes(config.g2p_model))
        g2p = _CachedG2P(_load_g2p(config.g2p_model), lang_dir / ".g2p_cache.tsv", g2p_key)
    elif g2p is not None and getattr(g2p, "cache_key", None):
        given = g2p
        g2p_key = str(given.cache_key)
        g2p = _CachedG2P(lambda: given, lang_dir / ".g2p_cache.tsv", g2p_key)
    else:
        g2p_key = repr(type(g2p))
    dictionary_key = importlib.metadata.version("cmudict") if dictionary is None else _hash(repr(sorted(dictionary.items())))

    def make_lexicon() -> None:
        words = {w for s in get_sentences() for w in s}
        lexicon, report.g2p_words = complete_lexicon(words, dictionary=dictionary, extra=extra, g2p=g2p)
        if isinstance(g2p, _CachedG2P):
            g2p.save()
        lexicon.write(lang_dir / "lexicon_words.txt")
        with atomic_write(lang_dir / "g2p_words.txt") as f:
            f.writelines(f"{w} {' '.join(lexicon.entries[w][0])}\n" for w in report.g2p_words)

    step("lexicon", _hash(*text_bytes, b"|", *kaldi_bytes, b"|", extra_bytes, g2p_key, dictionary_key,
                          str(config.cmudict_vocabulary)), ["lexicon_words.txt"], make_lexicon)

    def make_lang() -> None:
        lexicon = read_lexicon(lang_dir / "lexicon_words.txt")
        lexicon.entries = {w: p for w, p in lexicon.entries.items() if w not in SPECIAL_ENTRIES}
        write_lang_dir(lexicon, lang_dir, LangOptions(sil_prob=config.sil_prob))

    lexicon_bytes = _file_bytes(lang_dir / "lexicon_words.txt")
    step("lang", _hash(lexicon_bytes, str(config.sil_prob)), ["words.txt", "L.fst", "L_disambig.fst", "topo"], make_lang)

    def make_lm() -> None:
        model = estimate_kneser_ney(get_sentences(), KneserNeyOptions(order=config.lm_order), extra_vocab=sorted(extra))
        write_arpa(model, lang_dir / "G.arpa")

    step("lm", _hash(*text_bytes, b"|", *kaldi_bytes, str(config.lm_order), " ".join(sorted(extra))), ["G.arpa"], make_lm)
    if not config.build_graph:
        return report

    _graph_steps(lang_dir, config, step)
    return report


def _prepare_token_lang(lang_dir: Path, config: HybridLangConfig, step: Callable, get_sentences: Callable[[], list[list[str]]],
                        text_bytes: list[bytes], kaldi_bytes: list[bytes], extra_bytes: bytes, report: BuildReport) -> BuildReport:
    """The token-lexicon variant of the steps: spell, lang, lm, G, HLG (see the module docstring)."""
    from asr.text.tokenizer import Tokenizer

    tokens_dir = Path(config.tokens_dir)
    tokens_bytes = _file_bytes(tokens_dir / "tokens.txt") + _file_bytes(tokens_dir / "bpe.model")
    extra = read_extra_word_list(config.extra_words) if config.extra_words else []

    def make_lexicon() -> None:
        words = {w for s in get_sentences() for w in s} | set(extra)
        spellings = spell_words(words, Tokenizer.load(tokens_dir))
        with atomic_write(lang_dir / "lexicon_words.txt") as f:
            f.writelines(f"{w} {' '.join(p)}\n" for w, p in sorted(spellings.items()))

    step("lexicon", _hash(*text_bytes, b"|", *kaldi_bytes, b"|", extra_bytes, tokens_bytes), ["lexicon_words.txt"], make_lexicon)

    def make_lang() -> None:
        lines = (lang_dir / "lexicon_words.txt").read_text(encoding="utf-8").splitlines()
        spellings = {line.split()[0]: tuple(line.split()[1:]) for line in lines if line.strip()}
        write_token_lang_dir(spellings, tokens_dir / "tokens.txt", lang_dir)

    step("lang", _hash(_file_bytes(lang_dir / "lexicon_words.txt"), tokens_bytes, "tokens"),
         ["words.txt", "L.fst", "L_disambig.fst", "tokens.txt"], make_lang)

    def make_lm() -> None:
        model = estimate_kneser_ney(get_sentences(), KneserNeyOptions(order=config.lm_order), extra_vocab=sorted(extra))
        write_arpa(model, lang_dir / "G.arpa")

    step("lm", _hash(*text_bytes, b"|", *kaldi_bytes, str(config.lm_order), " ".join(sorted(extra))), ["G.arpa"], make_lm)
    if config.build_graph:
        _graph_steps(lang_dir, config, step)
    return report


def read_extra_word_list(path: str | os.PathLike) -> list[str]:
    """Words (first field a line, upper-cased) of an extra-words file for a token lang dir, which
    spells them itself: a line that also gives phones raises ``AsrError`` naming it."""
    words = []
    for line_no, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith(";"):
            continue
        if len(fields) > 1:
            raise AsrError(f"{path}:{line_no}: {fields[0]}: a token lang dir spells words in the model's tokens; "
                           "give the word without phones")
        words.append(fields[0].upper())
    return words


def _graph_steps(lang_dir: Path, config: HybridLangConfig, step: Callable) -> None:
    from asr.hybrid.fst import load_fst, save_fst
    from asr.hybrid.graph import build_hlg, make_g_fst

    words_bytes = _file_bytes(lang_dir / "words.txt")
    step(
        "G",
        _hash(_file_bytes(lang_dir / "G.arpa"), words_bytes, str(config.lm_order)),
        ["G.fst"],
        lambda: save_fst(make_g_fst(lang_dir / "G.arpa", lang_dir / "words.txt", config.lm_order), lang_dir / "G.fst"),
    )
    step(
        "HLG",
        _hash(_file_bytes(lang_dir / "L_disambig.fst"), _file_bytes(lang_dir / "G.fst"), _file_bytes(lang_dir / "tokens.txt")),
        ["HLG.fst"],
        lambda: save_fst(build_hlg(lang_dir, load_fst(lang_dir / "G.fst")), lang_dir / "HLG.fst"),
    )


def _load_g2p(path: str) -> Callable[[], Pronouncer]:
    def load() -> Pronouncer:
        from asr.text.g2p import G2PModel

        return G2PModel.load(path)

    return load


class _CachedG2P:
    """G2P predictions remembered across builds (keyed by the model's hash); the model itself is
    loaded only when a word is not in the cache, so adding a word with phones never loads it."""

    def __init__(self, load: Callable[[], Pronouncer], path: Path, key: str) -> None:
        self._load, self._model, self.path, self.key = load, None, path, key
        self.cache: dict[str, Pron] = {}
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            if lines and lines[0] == f"# {key}":
                for line in lines[1:]:
                    word, _, phones = line.partition("\t")
                    self.cache[word] = tuple(phones.split())

    def predict(self, word: str) -> Pron:
        if word not in self.cache:
            if self._model is None:
                self._model = self._load()
            self.cache[word] = tuple(self._model.predict(word))
        return self.cache[word]

    def save(self) -> None:
        with atomic_write(self.path) as f:
            f.write(f"# {self.key}\n")
            f.writelines(f"{w}\t{' '.join(p)}\n" for w, p in sorted(self.cache.items()))


def add_words(
    lang_dir: str | os.PathLike,
    lines: list[str],
    g2p: Pronouncer | None = None,
    dictionary: Mapping[str, Sequence[Pron]] | None = None,
) -> BuildReport:
    """Append ``WORD [PHONES]`` lines to the lang dir's extra words and rebuild what they change."""
    lang_dir = Path(lang_dir)
    config = HybridLangConfig.load(lang_dir / "config.json")
    extra_path = Path(config.extra_words) if config.extra_words else lang_dir / "extra_words.txt"
    old = extra_path.read_text(encoding="utf-8") if extra_path.is_file() else ""
    with atomic_write(extra_path) as f:
        f.write(old + ("" if not old or old.endswith("\n") else "\n") + "".join(line.strip() + "\n" for line in lines))
    try:  # a bad line is an error before anything else changes
        read_extra_word_list(extra_path) if config.tokens_dir else read_extra_words(extra_path)
    except AsrError:
        with atomic_write(extra_path) as f:
            f.write(old)
        raise
    config.extra_words = str(extra_path)
    return prepare_hybrid_lang(lang_dir, config, g2p=g2p, dictionary=dictionary)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asr.hybrid.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("lang_dir", type=Path)
    parser.add_argument("--text", nargs="*", default=[], help="sentence-per-line LM text files")
    parser.add_argument("--kaldi-text", nargs="*", default=[], help="Kaldi text files (utt-id words...)")
    parser.add_argument("--extra-words", help="WORD [PHONES] lines; G2P fills words without phones")
    parser.add_argument("--g2p-model", help="asr.text.g2p model for words cmudict lacks")
    parser.add_argument("--lm-order", type=int, default=3)
    parser.add_argument("--sil-prob", type=float, default=0.5)
    parser.add_argument("--no-graph", action="store_true", help="stop after G.arpa")
    parser.add_argument("--tokens-dir", help="spell words in this model dir's tokens (a CTC-head HLG) instead of phones")
    parser.add_argument("--cmudict-vocabulary", action="store_true",
                        help="every cmudict word joins the vocabulary (the LM's unseen-word share), not only the LM text's")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = HybridLangConfig(
        texts=args.text, kaldi_texts=args.kaldi_text, extra_words=args.extra_words, g2p_model=args.g2p_model,
        lm_order=args.lm_order, sil_prob=args.sil_prob, build_graph=not args.no_graph, tokens_dir=args.tokens_dir,
        cmudict_vocabulary=args.cmudict_vocabulary,
    )
    if args.cmudict_vocabulary and args.tokens_dir:
        parser.error("--cmudict-vocabulary is for phone lang dirs, not with --tokens-dir")
    report = prepare_hybrid_lang(args.lang_dir, config)
    print(_summary(args.lang_dir, report))
    return 0


def _summary(lang_dir: Path, report: BuildReport) -> str:
    ran = ", ".join(f"{n} {report.seconds[n]:.1f} s" for n in report.rebuilt) or "nothing"
    return f"{lang_dir}: rebuilt {ran}; up to date: {', '.join(report.skipped) or 'nothing'}"


if __name__ == "__main__":
    sys.exit(main())
