"""Sentencepiece tokenizers and lang dirs.

A lang dir (``data/lang_bpe_500/``) holds ``bpe.model`` (sentencepiece), ``tokens.txt``
(``<blk> 0`` first, then ``piece id`` a line) and ``transcript_words.txt`` (the training text).
Sentencepiece is trained with ``<blk>`` as a user-defined symbol and ``--unk_id 1`` (no bos/eos),
so its piece ids are the model's token ids: blank = 0, ``<unk>`` = 1, as in icefall.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import sentencepiece as spm

from asr.errors import TokenizerError
from asr.utils.io import atomic_write

logger = logging.getLogger(__name__)

BLANK = "<blk>"
UNK = "<unk>"
MODEL_TYPES = ("bpe", "unigram", "char")


def train_tokenizer(
    texts: Iterable[str],
    lang_dir: str | os.PathLike,
    vocab_size: int,
    model_type: str = "bpe",
    user_symbols: Sequence[str] = (),
    num_threads: int = 2,
) -> "Tokenizer":
    """Train sentencepiece on normalized transcripts and write a lang dir.

    ``vocab_size`` counts every token including ``<blk>`` and ``<unk>``. When the text is too small
    for it (yesno has 2 words) the vocabulary is capped at what the text supports instead of
    failing, with a warning. ``user_symbols`` (e.g. ``["<eos>"]``) get the ids right after ``<unk>``
    and are never split. Returns the loaded tokenizer.
    """
    if model_type not in MODEL_TYPES:
        raise TokenizerError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
    lang_dir = Path(lang_dir)
    lang_dir.mkdir(parents=True, exist_ok=True)
    lines = [" ".join(t.split()) for t in texts]
    lines = [t for t in lines if t]
    if not lines:
        raise TokenizerError(f"{lang_dir}: no non-empty transcripts to train a tokenizer on")
    with atomic_write(lang_dir / "transcript_words.txt") as f:
        f.write("\n".join(lines) + "\n")

    with tempfile.TemporaryDirectory(dir=lang_dir, prefix=".spm.") as tmp:
        prefix = str(Path(tmp) / "bpe")
        args = dict(
            input=str(lang_dir / "transcript_words.txt"),
            model_prefix=prefix,
            model_type=model_type,
            vocab_size=vocab_size,
            character_coverage=1.0,
            user_defined_symbols=[BLANK, *user_symbols],
            unk_id=1 + len(user_symbols),
            bos_id=-1,
            eos_id=-1,
            pad_id=-1,
            input_sentence_size=10_000_000,
            num_threads=num_threads,
            minloglevel=2,
        )
        try:
            spm.SentencePieceTrainer.train(**args)
        except RuntimeError as e:
            if "Vocabulary size" not in str(e) and "vocab_size" not in str(e):
                raise TokenizerError(f"{lang_dir}: sentencepiece training failed: {e}") from e
            # Tiny text: let sentencepiece stop at the largest vocabulary it can build.
            spm.SentencePieceTrainer.train(**args, hard_vocab_limit=False)
        sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
        if sp.get_piece_size() != vocab_size:
            logger.warning("%s: text supports only %d tokens; vocab_size %d capped", lang_dir, sp.get_piece_size(), vocab_size)
        _fix_special_ids(sp, lang_dir, user_symbols)
        os.replace(prefix + ".model", lang_dir / "bpe.model")
    with atomic_write(lang_dir / "tokens.txt") as f:
        for i in range(sp.get_piece_size()):
            f.write(f"{sp.id_to_piece(i)} {i}\n")
    return Tokenizer.load(lang_dir)


def _fix_special_ids(sp: spm.SentencePieceProcessor, where: Path, user_symbols: Sequence[str]) -> None:
    expected = [BLANK, *user_symbols]
    got = [sp.id_to_piece(i) for i in range(len(expected))]
    if got != expected or sp.unk_id() != len(expected):
        raise TokenizerError(f"{where}: sentencepiece placed special symbols at unexpected ids: {got}, unk={sp.unk_id()}")


class Tokenizer:
    """Text <-> token ids for a lang dir; blank_id == 0."""

    blank_id = 0

    def __init__(self, sp: spm.SentencePieceProcessor, source: str = "<memory>") -> None:
        self.sp = sp
        self.source = source
        if sp.id_to_piece(0) != BLANK:
            raise TokenizerError(f"{source}: token 0 is {sp.id_to_piece(0)!r}, expected {BLANK}")

    @classmethod
    def load(cls, lang_dir: str | os.PathLike) -> "Tokenizer":
        """Load ``bpe.model`` and check that ``tokens.txt`` agrees with it."""
        lang_dir = Path(lang_dir)
        model, tokens = lang_dir / "bpe.model", lang_dir / "tokens.txt"
        for p in (model, tokens):
            if not p.is_file():
                raise TokenizerError(f"{p}: missing from lang dir {lang_dir}")
        sp = spm.SentencePieceProcessor()
        try:
            sp.load(str(model))
        except (OSError, RuntimeError) as e:
            raise TokenizerError(f"{model}: not a sentencepiece model: {e}") from e
        tok = cls(sp, str(lang_dir))
        table = read_tokens(tokens)
        pieces = {i: sp.id_to_piece(i) for i in range(sp.get_piece_size())}
        if table != pieces:
            bad = sorted(set(table.items()) ^ set(pieces.items()), key=lambda kv: kv[0])[:3]
            raise TokenizerError(f"{tokens}: does not match {model} (first differences: {bad})")
        return tok

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    @property
    def unk_id(self) -> int:
        return self.sp.unk_id()

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; raises TokenizerError naming the characters the model cannot represent."""
        proto = self.sp.encode(text, return_type="proto")
        unknown = [p.surface for p in proto.pieces if p.id == self.sp.unk_id()]
        if unknown:
            chars = ", ".join(repr(u) for u in unknown)
            raise TokenizerError(f"{self.source}: cannot encode {chars} in {text!r}: not in the vocabulary (maps to {UNK})")
        return [p.id for p in proto.pieces]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of token ids; blanks are skipped, out-of-range ids raise TokenizerError."""
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise TokenizerError(f"{self.source}: token ids {bad[:5]} outside the vocabulary of {self.vocab_size}")
        return self.sp.decode([int(i) for i in ids if i != self.blank_id])

    def id_to_token(self, token_id: int) -> str:
        if not 0 <= token_id < self.vocab_size:
            raise TokenizerError(f"{self.source}: token id {token_id} outside the vocabulary of {self.vocab_size}")
        return self.sp.id_to_piece(token_id)

    def token_to_id(self, token: str) -> int:
        token_id = self.sp.piece_to_id(token)
        if token_id == self.sp.unk_id() and token != UNK:
            raise TokenizerError(f"{self.source}: token {token!r} is not in the vocabulary")
        return token_id


def read_tokens(path: str | os.PathLike) -> dict[int, str]:
    """Read a ``tokens.txt`` (``token id`` a line) into {id: token}; bad lines raise TokenizerError."""
    table: dict[int, str] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            fields = line.split()
            if len(fields) != 2 or not fields[1].isdigit():
                raise TokenizerError(f"{path}:{n}: expected 'token id', got {line.rstrip()!r}")
            token, token_id = fields[0], int(fields[1])
            if token_id in table:
                raise TokenizerError(f"{path}:{n}: id {token_id} appears twice")
            table[token_id] = token
    if table.get(0) != BLANK:
        raise TokenizerError(f"{path}: the first token must be '{BLANK} 0'")
    return table
