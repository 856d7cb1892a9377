"""Kaldi-style ``lang`` dirs: phone-level (``utils/prepare_lang.sh``) or spelled in a CTC model's tokens.

Two kinds share the layout and the graph building (``asr.hybrid.graph.build_hlg``):

- phone lang dir (``write_lang_dir``): the ARPAbet lexicon below, for a phone acoustic model;
- token lang dir (``write_token_lang_dir``, icefall's ``prepare_lang_bpe.py``): each word spelled
  in the sentencepiece tokens of a transducer's CTC head, so HLG decodes that head's posteriors.
  ``phones.txt`` then lists the model's tokens with their ids (blank excepted: ``<eps>`` is 0),
  ``tokens.txt`` is the model's own, and L has no optional silence (blank covers it).

Files written into LANG_DIR:

- ``lexicon.txt``, ``lexicon_disambig.txt`` (homophones and prefixes get ``#1``, ``#2``, ...);
- ``phones.txt``: ``<eps> 0``, ``SIL``, ``SPN``, the ARPAbet phones, then ``#0 .. #K``;
- ``words.txt``: ``<eps> 0``, the words, ``#0``, ``<s>``, ``</s>``;
- ``tokens.txt``: the CTC output units, ``<blk> 0`` then every non-disambiguation phone with its
  ``phones.txt`` id, so an HLG input label is ``token id + 1`` (0 is epsilon);
- ``L.fst``, ``L_disambig.fst``: phones -> words with optional silence between words (cost
  ``-ln sil_prob`` / ``-ln (1 - sil_prob)``), the second with the disambiguation symbols and a
  ``#0:#0`` self-loop so G's back-off symbol passes through;
- ``g2p_words.txt``: the words whose pronunciation came from G2P (also logged);
- ``topo`` (phone lang dirs only): Kaldi's HMM topology for a GMM-HMM (``asr.hybrid.gmm``), three
  left-to-right states for each ARPAbet phone, five for ``SIL`` and ``SPN`` (``hmm_topology``).

The stage that makes it from texts (with G, HLG and rebuild-what-changed) is ``asr.hybrid.prepare``.
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tqdm import tqdm

from asr.errors import AsrError
from asr.text.lexicon import SPECIAL_ENTRIES, Lexicon, load_cmudict
from asr.utils.io import atomic_write

if TYPE_CHECKING:
    import kaldifst

logger = logging.getLogger(__name__)

Pron = tuple[str, ...]
EPS = "<eps>"
BLANK = "<blk>"
SIL_WORD, SIL_PHONE = "!SIL", "SIL"
OOV_WORD, OOV_PHONE = "<UNK>", "SPN"
# The 39 ARPAbet phones of cmudict without stress.
ARPABET = (
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH"
).split()


class Pronouncer(Protocol):
    """A G2P model: ``asr.text.g2p.G2PModel`` or anything with the same ``predict``."""

    def predict(self, word: str) -> tuple[str, ...]: ...


class LexiconError(AsrError):
    """A word nobody can pronounce, or a pronunciation with phones outside the phone set."""


@dataclass
class LangOptions:
    sil_prob: float = 0.5  # probability of optional silence after each word (Kaldi's default)


@dataclass
class LangDir:
    """Paths and symbol tables of a written lang dir."""

    path: Path
    words: dict[str, int] = field(default_factory=dict)
    phones: dict[str, int] = field(default_factory=dict)

    @property
    def disambig_phone_ids(self) -> set[int]:
        return {i for p, i in self.phones.items() if p.startswith("#")}

    @property
    def disambig_word_ids(self) -> set[int]:
        return {i for w, i in self.words.items() if w.startswith("#")}

    @property
    def max_token_id(self) -> int:
        """Largest CTC token id (a phone id); 0 is blank."""
        return max(i for p, i in self.phones.items() if not p.startswith("#"))


def read_extra_words(path: str | os.PathLike) -> dict[str, list[Pron] | None]:
    """``WORD [P1 P2 ...]`` lines; a word without phones gets None (G2P fills it in).

    Words are upper-cased like our transcripts. A phone outside ARPAbet raises ``LexiconError``
    naming the file, line and phone.
    """
    path = Path(path)
    if not path.is_file():
        raise LexiconError(f"{path}: extra-words file not found")
    known = set(ARPABET) | {SIL_PHONE, OOV_PHONE}
    out: dict[str, list[Pron] | None] = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            fields = line.split()
            if not fields or fields[0].startswith(";"):
                continue
            word = fields[0].upper()
            phones = tuple(p.upper().rstrip("012") for p in fields[1:])
            bad = [p for p in phones if p not in known]
            if bad:
                raise LexiconError(f"{path}:{line_no}: word {word}: phones {bad} are not ARPAbet (known: {' '.join(ARPABET)})")
            if not phones:
                out.setdefault(word, None)
            else:
                prons = out.get(word) or []
                if phones not in prons:
                    prons.append(phones)
                out[word] = prons
    return out


def complete_lexicon(
    words: Iterable[str],
    dictionary: Mapping[str, Sequence[Pron]] | None = None,
    extra: Mapping[str, Sequence[Pron] | None] | None = None,
    g2p: Pronouncer | None = None,
    progress: bool = True,
) -> tuple[Lexicon, list[str]]:
    """Pronunciations for ``words`` plus the ``extra`` words: given ones first, then cmudict, then G2P.

    Returns the lexicon and the words G2P pronounced (sorted, also logged). Words nobody can
    pronounce raise ``LexiconError`` naming them: they are never dropped silently.
    """
    dictionary = load_cmudict() if dictionary is None else dictionary
    extra = dict(extra or {})
    wanted = sorted((set(words) | set(extra)) - set(SPECIAL_ENTRIES))
    lexicon = Lexicon()
    by_g2p: list[str] = []
    failed: list[str] = []
    for word in tqdm(wanted, desc="lexicon", disable=not progress, leave=False, mininterval=2):
        given = extra.get(word)
        prons = list(given) if given else list(dictionary.get(word.upper(), ()))
        if not prons and g2p is not None:
            try:
                prons = [tuple(g2p.predict(word))]
                by_g2p.append(word)
            except AsrError as e:
                logger.warning("%s", e)
        if prons:
            lexicon.entries[word] = prons
        else:
            failed.append(word)
    if failed:
        shown = " ".join(failed[:20]) + (" ..." if len(failed) > 20 else "")
        hint = "" if g2p is not None else " (no G2P model given)"
        raise LexiconError(f"{len(failed)} words have no pronunciation in cmudict or the extra words and none from G2P{hint}: {shown}")
    if by_g2p:
        shown = " ".join(by_g2p[:30]) + (" ..." if len(by_g2p) > 30 else "")
        logger.info("%d words not in cmudict, pronounced by G2P: %s", len(by_g2p), shown)
    return lexicon, by_g2p


def add_disambig_symbols(entries: Sequence[tuple[str, Pron]]) -> tuple[list[tuple[str, Pron]], int]:
    """Kaldi's ``add_lex_disambig.pl``: a pronunciation shared by several words, or that is a proper
    prefix of another one, gets ``#1``, ``#2``, ... appended (numbered per pronunciation).
    Returns the entries and the largest number used (0 when none)."""
    count = Counter(pron for _, pron in entries)
    prefixes = {pron[:i] for _, pron in entries for i in range(1, len(pron))}
    used: dict[Pron, int] = defaultdict(int)
    out: list[tuple[str, Pron]] = []
    for word, pron in entries:
        if count[pron] > 1 or pron in prefixes:
            used[pron] += 1
            out.append((word, pron + (f"#{used[pron]}",)))
        else:
            out.append((word, pron))
    return out, max(used.values(), default=0)


def make_lexicon_fst(
    entries: Sequence[tuple[str, Pron]],
    phones: Mapping[str, int],
    words: Mapping[str, int],
    sil_prob: float = 0.5,
    sil_disambig: str | None = None,
    word_disambig: str | None = None,
) -> kaldifst.StdVectorFst:
    """L as Kaldi's ``make_lexicon_fst.py --sil-prob``: states start(0), loop(1, final), sil(2).

    Each word leaves the loop state with its first phone (output: the word) and returns to it,
    or to the silence state, with its last phone; the silence state reads ``SIL`` (then
    ``sil_disambig``, if given) back to the loop. ``word_disambig`` adds the ``#0:#0`` self-loop.
    """
    from asr.hybrid.fst import fst_from_arcs

    if sil_prob == 0.0:
        return _make_lexicon_fst_without_silence(entries, phones, words, word_disambig)
    if not 0.0 < sil_prob < 1.0:
        raise LexiconError(f"sil_prob must be in [0, 1) (0: no optional silence), got {sil_prob}")
    sil_cost, no_sil_cost = -math.log(sil_prob), -math.log(1.0 - sil_prob)
    start, loop, sil = 0, 1, 2
    arcs = [(start, loop, 0, 0, no_sil_cost), (start, sil, 0, 0, sil_cost)]
    next_state = 3
    if sil_disambig is None:
        arcs.append((sil, loop, phones[SIL_PHONE], 0, 0.0))
    else:
        arcs += [(sil, next_state, phones[SIL_PHONE], 0, 0.0), (next_state, loop, phones[sil_disambig], 0, 0.0)]
        next_state += 1
    for word, pron in entries:
        if not pron:
            raise LexiconError(f"word {word} has an empty pronunciation")
        ids = [phones[p] for p in pron]
        state = loop
        for i, phone in enumerate(ids[:-1]):
            arcs.append((state, next_state, phone, words[word] if i == 0 else 0, 0.0))
            state = next_state
            next_state += 1
        olabel = words[word] if len(ids) == 1 else 0
        arcs.append((state, loop, ids[-1], olabel, no_sil_cost))
        arcs.append((state, sil, ids[-1], olabel, sil_cost))
    if word_disambig is not None:
        arcs.append((loop, loop, phones[word_disambig], words[word_disambig], 0.0))
    return fst_from_arcs(arcs, {loop: 0.0}, start=start)


def _make_lexicon_fst_without_silence(
    entries: Sequence[tuple[str, Pron]], phones: Mapping[str, int], words: Mapping[str, int], word_disambig: str | None
) -> kaldifst.StdVectorFst:
    """L for CTC tokens (icefall's ``lexicon_to_fst_no_sil``): one loop state, start and final,
    each word a path from it back to it with the word on its first arc."""
    from asr.hybrid.fst import fst_from_arcs

    loop, next_state, arcs = 0, 1, []
    for word, pron in entries:
        if not pron:
            raise LexiconError(f"word {word} has an empty spelling")
        ids = [phones[p] for p in pron]
        state = loop
        for i, phone in enumerate(ids):
            dst = loop if i == len(ids) - 1 else next_state
            arcs.append((state, dst, phone, words[word] if i == 0 else 0, 0.0))
            if dst != loop:
                state, next_state = dst, next_state + 1
    if word_disambig is not None:
        arcs.append((loop, loop, phones[word_disambig], words[word_disambig], 0.0))
    return fst_from_arcs(arcs, {loop: 0.0}, start=loop)


def hmm_topology(nonsilence: Sequence[int], silence: Sequence[int], num_states: int = 3,
                 num_silence_states: int = 5, self_loop_prob: float = 0.75) -> str:
    """Kaldi's ``topo`` text: left-to-right HMMs, ``num_states`` emitting states for the
    ``nonsilence`` phone ids and ``num_silence_states`` for the ``silence`` ones, each state its
    own pdf class, a self-loop of ``self_loop_prob`` (training re-estimates it), then a final
    non-emitting state."""
    if num_states < 1 or num_silence_states < 1 or not 0.0 < self_loop_prob < 1.0:
        raise LexiconError(f"hmm_topology: need >= 1 states and a self-loop probability in (0, 1), got "
                           f"{num_states}, {num_silence_states}, {self_loop_prob}")
    forward = 1.0 - self_loop_prob

    def entry(phones: Sequence[int], n: int) -> str:
        states = "".join(f"<State> {k} <PdfClass> {k} <Transition> {k} {self_loop_prob} <Transition> {k + 1} {forward} </State>\n"
                         for k in range(n))
        ids = " ".join(str(p) for p in phones)
        return f"<TopologyEntry>\n<ForPhones> {ids} </ForPhones>\n{states}<State> {n} </State>\n</TopologyEntry>\n"

    # Left-to-right silence too: Kaldi's fully connected first silence states measured worse
    # here (yesno 1.72% WER against 0.86%).
    entries = [entry(ids, n) for ids, n in ((nonsilence, num_states), (silence, num_silence_states)) if ids]
    return "<Topology>\n" + "".join(entries) + "</Topology>\n"


def write_symbols(table: Mapping[str, int], path: str | os.PathLike) -> None:
    with atomic_write(path) as f:
        for sym, i in sorted(table.items(), key=lambda kv: kv[1]):
            f.write(f"{sym} {i}\n")


def read_symbols(path: str | os.PathLike) -> dict[str, int]:
    """A ``symbol id`` table; a malformed line or a repeated symbol/id raises ``LexiconError``."""
    table: dict[str, int] = {}
    seen: set[int] = set()
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or not fields[1].isdigit():
                raise LexiconError(f"{path}:{line_no}: expected 'symbol id', got {line.strip()!r}")
            sym, i = fields[0], int(fields[1])
            if sym in table or i in seen:
                raise LexiconError(f"{path}:{line_no}: symbol {sym} or id {i} listed twice")
            table[sym] = i
            seen.add(i)
    return table


def write_lang_dir(lexicon: Lexicon, lang_dir: str | os.PathLike, options: LangOptions | None = None) -> LangDir:
    """Write the lang dir files (see the module docstring) for ``lexicon`` plus !SIL and <UNK>."""
    from asr.hybrid.fst import save_fst

    options = options or LangOptions()
    lang_dir = Path(lang_dir)
    entries_map = {**SPECIAL_ENTRIES, **lexicon.entries}
    entries = [(w, pron) for w in sorted(entries_map) for pron in entries_map[w]]
    known = set(ARPABET) | {SIL_PHONE, OOV_PHONE}
    for word, pron in entries:
        bad = [p for p in pron if p not in known]
        if bad:
            raise LexiconError(f"word {word}: phones {bad} are not in the phone set")
    disambig_entries, max_disambig = add_disambig_symbols(entries)
    sil_disambig = f"#{max_disambig + 1}"

    # Every ARPAbet phone, used or not: token ids must not move when words are added.
    phone_list = [EPS, SIL_PHONE, OOV_PHONE] + ARPABET
    phone_list += [f"#{k}" for k in range(max_disambig + 2)]
    phones = {p: i for i, p in enumerate(phone_list)}
    word_list = [EPS] + sorted(entries_map) + ["#0", "<s>", "</s>"]
    words = {w: i for i, w in enumerate(word_list)}

    lang_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(lang_dir / "lexicon.txt") as f:
        f.writelines(f"{w} {' '.join(p)}\n" for w, p in entries)
    with atomic_write(lang_dir / "lexicon_disambig.txt") as f:
        f.writelines(f"{w} {' '.join(p)}\n" for w, p in disambig_entries)
    write_symbols(phones, lang_dir / "phones.txt")
    write_symbols(words, lang_dir / "words.txt")
    tokens = {BLANK: 0, **{p: i for p, i in phones.items() if p != EPS and not p.startswith("#")}}
    write_symbols(tokens, lang_dir / "tokens.txt")
    with atomic_write(lang_dir / "oov.txt") as f:
        f.write(f"{OOV_WORD}\n")

    save_fst(make_lexicon_fst(entries, phones, words, options.sil_prob), lang_dir / "L.fst")
    save_fst(
        make_lexicon_fst(disambig_entries, phones, words, options.sil_prob, sil_disambig=sil_disambig, word_disambig="#0"),
        lang_dir / "L_disambig.fst",
    )
    with atomic_write(lang_dir / "topo") as f:
        f.write(hmm_topology([phones[p] for p in ARPABET], [phones[SIL_PHONE], phones[OOV_PHONE]]))
    return LangDir(path=lang_dir, words=words, phones=phones)


def read_lang_dir(lang_dir: str | os.PathLike) -> LangDir:
    lang_dir = Path(lang_dir)
    for name in ("words.txt", "phones.txt", "L_disambig.fst"):
        if not (lang_dir / name).is_file():
            raise LexiconError(f"{lang_dir}: no {name}: not a lang dir (make it with python -m asr.hybrid.lang)")
    return LangDir(path=lang_dir, words=read_symbols(lang_dir / "words.txt"), phones=read_symbols(lang_dir / "phones.txt"))


class TokenSpeller(Protocol):
    """What spells words in a model's tokens: ``asr.text.tokenizer.Tokenizer`` (``encode``, ``id_to_token``)."""

    def encode(self, text: str) -> list[int]: ...

    def id_to_token(self, token_id: int) -> str: ...


def spell_words(words: Iterable[str], tokenizer: TokenSpeller) -> dict[str, Pron]:
    """Each word as the token pieces the tokenizer encodes it to (icefall's ``prepare_lang_bpe.py``).

    A word the tokenizer cannot represent (a character outside its vocabulary), or spells with a
    piece that looks like a disambiguation symbol, raises ``LexiconError`` naming the words.
    """
    out: dict[str, Pron] = {}
    bad: list[str] = []
    for word in sorted(set(words) - set(SPECIAL_ENTRIES)):
        try:
            pieces = tuple(tokenizer.id_to_token(i) for i in tokenizer.encode(word))
        except AsrError:
            bad.append(word)
            continue
        if not pieces or any(p.startswith("#") or p == EPS for p in pieces):
            bad.append(word)
            continue
        out[word] = pieces
    if bad:
        raise LexiconError(f"{len(bad)} words cannot be spelled in the model's tokens (characters outside its "
                           f"vocabulary): {' '.join(bad[:20])}{' ...' if len(bad) > 20 else ''}")
    return out


def read_token_table(path: str | os.PathLike) -> dict[str, int]:
    """A model's ``tokens.txt`` (``<blk> 0`` first); anything else raises ``LexiconError``."""
    tokens = read_symbols(path)
    if tokens.get(BLANK) != 0:
        raise LexiconError(f"{path}: token 0 must be {BLANK} (a CTC model's tokens.txt)")
    return tokens


def write_token_lang_dir(spellings: Mapping[str, Pron], tokens_txt: str | os.PathLike,
                         lang_dir: str | os.PathLike) -> LangDir:
    """A lang dir whose "phones" are the CTC tokens of ``tokens_txt`` (see the module docstring).

    ``spellings`` maps each word to its token pieces (``spell_words``). ``phones.txt`` keeps every
    token's id (``<eps>`` takes blank's 0; ``#0..#K`` follow the last token), so an HLG input label
    is again ``token id + 1``; ``tokens.txt`` is copied. Returns the lang dir.
    """
    from asr.hybrid.fst import save_fst

    lang_dir = Path(lang_dir)
    tokens = read_token_table(tokens_txt)
    entries = [(w, tuple(p)) for w, p in sorted(spellings.items())]
    unknown = sorted({p for _, pron in entries for p in pron if p not in tokens or p == BLANK})
    if unknown:
        raise LexiconError(f"spellings use pieces {unknown[:10]} that are not in {tokens_txt}")
    clash = [t for t in tokens if t.startswith("#") or t == EPS]
    if clash:
        raise LexiconError(f"{tokens_txt}: tokens {clash} clash with the lang dir's reserved symbols")
    disambig_entries, max_disambig = add_disambig_symbols(entries)
    phones = {EPS: 0, **{t: i for t, i in tokens.items() if t != BLANK}}
    first = max(tokens.values()) + 1
    phones.update({f"#{k}": first + k for k in range(max_disambig + 1)})
    words = {w: i for i, w in enumerate([EPS] + [w for w, _ in entries] + ["#0", "<s>", "</s>"])}

    lang_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(lang_dir / "lexicon.txt") as f:
        f.writelines(f"{w} {' '.join(p)}\n" for w, p in entries)
    with atomic_write(lang_dir / "lexicon_disambig.txt") as f:
        f.writelines(f"{w} {' '.join(p)}\n" for w, p in disambig_entries)
    write_symbols(phones, lang_dir / "phones.txt")
    write_symbols(words, lang_dir / "words.txt")
    write_symbols(tokens, lang_dir / "tokens.txt")
    save_fst(make_lexicon_fst(entries, phones, words, sil_prob=0.0), lang_dir / "L.fst")
    save_fst(make_lexicon_fst(disambig_entries, phones, words, sil_prob=0.0, word_disambig="#0"), lang_dir / "L_disambig.fst")
    return LangDir(path=lang_dir, words=words, phones=phones)
