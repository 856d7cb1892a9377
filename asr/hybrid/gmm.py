"""A monophone GMM-HMM over a phone lang dir: training, alignment, HCLG and decoding (issue 11).

Kaldi's ``steps/train_mono.sh`` and ``utils/mkgraph.sh`` with kaldi-hmm-gmm for the HMM/GMM
bookkeeping (``HmmTopology``, ``TransitionModel``, ``AmDiagGmm``, the ML updates and the Gaussian
splitting) and kaldifst + kaldi-decoder for every FST and search:

- features: 13 MFCCs, per-utterance CMVN, deltas and delta-deltas (``asr.features.mfcc``);
- the lang dir's ``topo`` (``asr.hybrid.lang.hmm_topology``): 3 left-to-right states a phone, 5 for
  SIL/SPN, one pdf per state (a monophone tree, context width 1);
- training: every pdf starts as the global mean and variance; each utterance's training graph is
  ``H o (L o words)`` (optional silence between words), aligned equally first
  (``kaldifst.equal_align``), then ``num_iters`` EM passes (ML update of means, variances, weights
  and transition probabilities), re-aligning with Viterbi on ``realign_iters`` and splitting
  Gaussians by occupancy up to ``target_gaussians`` (``AmDiagGmm.split_by_count``);
- HCLG = ``H o min(det(L_disambig o G))``, where H maps transition ids to phones: an epsilon arc
  outputs the phone and enters its HMM, one arc a transition, weighted as Kaldi's
  ``add-self-loops`` with ``transition_scale`` / ``self_loop_scale``, and ``<eps>:#k`` loops
  that let L's disambiguation symbols through (context width 1, so C is the identity);
- decoding: ``kaldi_decoder.FasterDecoder`` over HCLG with the acoustic scores of
  ``DecodableAmDiagGmmScaled`` (``acoustic_scale`` times the pdf log-likelihood of each transition
  id) in a ``DecodableCtc`` matrix; words and word times come from the frame-level alignment
  (phone boundaries matched to the lexicon).

Why not kaldi-hmm-gmm's own ``get_h_transducer``/``add_self_loops``/``TrainingGraphCompiler`` and
decoders, as the issue suggests: kaldi-hmm-gmm 1.1.4 is built on kaldifst 1.7's OpenFst, the rest of
the package on kaldifst 1.8, and the two FST types cannot cross between them (a kaldifst FST is an
"incompatible argument" to kaldi-hmm-gmm, and its FSTs are unusable objects to kaldifst). So H is
built here, and the graphs and searches are kaldifst's and kaldi-decoder's.

Training is not bit-reproducible: kaldi-hmm-gmm perturbs split Gaussians with its own unseeded C++
random numbers. yesno (Kaldi's split, yes/no loop) gave 0.00, 0.86, 0.86 and 1.29% WER in four runs.

The model dir (``save_model_dir``/``load_model_dir``): ``model.pkl`` (transition model, GMMs,
tree), ``HCLG.fst``, ``words.txt``, ``phones.txt``, ``lexicon.txt``, ``topo`` and ``gmm.json``
(options, features, sha256 of the model, words and graph: a graph built against another words.txt
or model is refused at load). CLI::

    python -m asr.hybrid.gmm train --lang-dir data/lang_phone --data-dir data/train --out-dir exp/mono \\
        (--arpa data/lang_phone/G.arpa | --loop-of YES NO | --one-of ...)
    python -m asr.hybrid.gmm decode --model-dir exp/mono --data-dir data/test --out-dir exp/mono/decode_test
    python -m asr.hybrid.gmm decode --model-dir exp/mono --data-dir data/dev --out-dir exp/mono/cascade_dev \\
        --second-pass exp/transducer/model --chunk-ms 320 --nbest 30   # the cascade; nbest.jsonl for:
    python -m asr.hybrid.gmm tune --nbest-jsonl exp/mono/cascade_dev/nbest.jsonl --ref exp/mono/cascade_dev/ref
    python -m asr.hybrid.gmm mkgraph --model-dir exp/mono/model --lang-dir data/lang_big --arpa data/lang_big/G.arpa \
        --out-dir exp/mono/model_big   # utils/mkgraph.sh: the same model over another vocabulary or LM
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import pickle
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from asr.hybrid.fst import (GraphError, best_path_with_output, fst_from_arcs, lattice_to_fst, linear_path,  # loads kaldi-hmm-gmm first
                            load_fst, nbest_word_sequences, num_arcs, parse_lattice, save_fst)

if "_kaldi_hmm_gmm" not in sys.modules and any(m in sys.modules for m in ("kaldifst", "kaldi_decoder", "kaldilm", "pynini")):
    # Loading it now would hang (see asr.hybrid.fst); say so instead.
    loaded = [m for m in ("kaldifst", "kaldi_decoder", "kaldilm", "pynini") if m in sys.modules]
    raise ImportError(f"asr.hybrid.gmm: kaldi_hmm_gmm must be imported before {', '.join(loaded)} (its OpenFst "
                      "hangs when loaded after another one): import asr.hybrid.gmm or asr.hybrid.fst first")
try:
    import kaldi_hmm_gmm as khg
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("the GMM-HMM needs kaldi-hmm-gmm: pip install -c constraints.txt '.[hybrid]'") from e

import kaldi_decoder  # noqa: E402
import kaldifst  # noqa: E402

from asr.audio.io import resample  # noqa: E402
from asr.errors import AsrError, ModelDirError  # noqa: E402
from asr.features.mfcc import MfccOptions, compute_mfcc  # noqa: E402
from asr.hybrid.lang import OOV_PHONE, SIL_PHONE, SIL_WORD, LangDir, LexiconError, read_lang_dir, read_symbols  # noqa: E402
from asr.text.lexicon import read_lexicon  # noqa: E402
from asr.utils.io import atomic_write, check_recorded_sha256, read_dir_config, sha256_file  # noqa: E402
from asr.utils import fields_below  # noqa: E402

logger = logging.getLogger(__name__)

GMM_CONFIG = "gmm.json"
MODEL_FILE = "model.pkl"
COPIED_LANG_FILES = ("words.txt", "phones.txt", "lexicon.txt", "topo")


@dataclass(frozen=True)
class GmmTrainOptions:
    """``steps/train_mono.sh``'s settings.

    num_iters: EM passes after the one on the equal alignment; realign_iters: the passes that
    Viterbi-align first; target_gaussians: the total the Gaussians are split up to, in equal
    steps over the first ``mixup_iters`` passes; align_beam / retry_beam: alignment search
    (an utterance that fails at both is left out of that pass); acoustic_scale,
    transition_scale, self_loop_scale: of the alignment search, as Kaldi's training graphs;
    min_gaussian_occupancy: a Gaussian with fewer frames is not updated (3 in the first pass);
    seed: of the equal alignment's random path choice.
    """

    num_iters: int = 40
    realign_iters: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 23, 26, 29, 32, 35, 38)
    target_gaussians: int = 1000
    mixup_iters: int = 30
    align_beam: float = 10.0
    retry_beam: float = 40.0
    acoustic_scale: float = 0.1
    transition_scale: float = 1.0
    self_loop_scale: float = 0.1
    min_gaussian_occupancy: float = 10.0
    perturb_factor: float = 0.01
    power: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        bad = fields_below(self, ("align_beam", "retry_beam", "acoustic_scale", "transition_scale", "self_loop_scale"),
                           0, or_equal=True)
        bad += fields_below(self, ("num_iters", "target_gaussians", "mixup_iters"), 0)
        if bad:
            raise ValueError(f"GmmTrainOptions: {', '.join(bad)} must be positive")


@dataclass(frozen=True)
class GmmDecodeOptions:
    """Search settings: beam / max_active of ``FasterDecoder`` (``beam`` also the search beam of
    the n-best pass, ``LatticeSimpleDecoder``, which has no max_active); lattice_beam: its lattice
    pruning; nbest: distinct word sequences ``nbest`` returns; acoustic_scale multiplies the
    log-likelihoods (the LM weight is its inverse); transition_scale / self_loop_scale weight the
    HMM transitions in HCLG (fixed when the graph is built)."""

    beam: float = 13.0
    max_active: int = 7000
    lattice_beam: float = 6.0
    nbest: int = 10
    acoustic_scale: float = 0.1
    transition_scale: float = 1.0
    self_loop_scale: float = 0.1

    def __post_init__(self) -> None:
        bad = fields_below(self, ("beam", "lattice_beam", "acoustic_scale", "transition_scale", "self_loop_scale",
                                  "max_active", "nbest"), 0, or_equal=True)
        if bad:
            raise ValueError(f"GmmDecodeOptions: {', '.join(bad)} must be positive")


@dataclass
class Utterance:
    """An utterance to train on or decode: its id, features (T, dim) and words (may be empty)."""

    id: str
    features: np.ndarray
    words: list[str] = field(default_factory=list)


@dataclass
class GmmHypothesis:
    """A decoding result: words with their (start, exclusive end) frames, the frame-level
    alignment (transition ids, one a frame) and the path's total cost (scaled acoustic + graph).

    The cost split as the cascade's first-pass scores (``cost == -(am_score + lm_score)``):
    ``am_score`` the acoustic model's, acoustic_scale times the alignment's pdf log-likelihoods
    plus the HMM transitions' log-probabilities as HCLG weights them; ``lm_score`` the rest of the
    graph's, the n-gram LM's log-probability and the lexicon's optional-silence probabilities.
    """

    words: list[str] = field(default_factory=list)
    word_starts: list[int] = field(default_factory=list)
    word_ends: list[int] = field(default_factory=list)
    alignment: list[int] = field(default_factory=list)
    cost: float = math.inf
    am_score: float = -math.inf
    lm_score: float = 0.0

    @property
    def text(self) -> str:
        return " ".join(self.words)


class GmmHmm:
    """A monophone GMM-HMM: the transition model (topology), the GMMs (one a pdf), the tree, the
    lang dir's phone table and the feature options; per-transition-id tables for the searches."""

    kind = "gmm_hmm_monophone"  # gmm.json's "kind" of a dir holding this acoustic model

    def __init__(self, trans_model: khg.TransitionModel, am: khg.AmDiagGmm, ctx_dep: khg.ContextDependency,
                 phones: dict[str, int], features: MfccOptions) -> None:
        self.trans_model, self.am, self.ctx_dep = trans_model, am, ctx_dep
        self.phones, self.features = phones, features
        self._transition_costs: dict[tuple[float, float], np.ndarray] = {}
        self._index_transitions()
        self.refresh()

    def _index_transitions(self) -> None:
        tm = self.trans_model
        n = tm.num_transition_ids
        self.num_transition_ids = n
        self.tid_pdf = np.asarray(tm.transition_id_to_pdf_array(), dtype=np.int64)  # index 0 unused
        state2id = tm.state2id
        id2state = tm.id2state
        tuples = [t.__getstate__() for t in tm.tuples]  # (phone, hmm_state, forward_pdf, self_loop_pdf)
        topo = tm.topo
        self.tid_phone = np.zeros(n + 1, dtype=np.int64)
        self.tid_hmm_state = np.zeros(n + 1, dtype=np.int64)
        self.tid_dest = np.zeros(n + 1, dtype=np.int64)
        self.tid_final = np.zeros(n + 1, dtype=bool)  # the transition leaves the phone
        self.tid_self_loop = np.zeros(n + 1, dtype=bool)
        self.tid_state = np.zeros(n + 1, dtype=np.int64)
        for tid in range(1, n + 1):
            state = id2state[tid]
            phone, hmm_state = tuples[state - 1][0], tuples[state - 1][1]
            entry = topo.topology_for_phone(phone)
            dest, _ = entry[hmm_state].transitions[tid - state2id[state]]
            self.tid_phone[tid], self.tid_hmm_state[tid], self.tid_dest[tid] = phone, hmm_state, dest
            self.tid_final[tid] = not entry[dest].transitions
            self.tid_self_loop[tid] = dest == hmm_state
            self.tid_state[tid] = state

    def refresh(self) -> None:
        """Re-read the GMM parameters into stacked arrays, and drop the cached transition costs
        (after every update: it re-estimates the transitions too)."""
        self._transition_costs.clear()
        pdfs = [self.am.get_pdf(i) for i in range(self.am.num_pdfs)]
        self._gconsts = np.concatenate([np.asarray(g.gconsts, dtype=np.float64) for g in pdfs])
        self._means_invvars = np.concatenate([np.asarray(g.means_invvars, dtype=np.float64) for g in pdfs])
        self._inv_vars = np.concatenate([np.asarray(g.inv_vars, dtype=np.float64) for g in pdfs])
        sizes = np.array([g.num_gauss for g in pdfs])
        self._offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)

    @property
    def num_pdfs(self) -> int:
        return self.am.num_pdfs

    @property
    def dim(self) -> int:
        return self.am.dim

    def pdf_log_likelihoods(self, feats: np.ndarray) -> np.ndarray:
        """(T, dim) features -> (T, num_pdfs) log-likelihoods log p(x_t | pdf), as ``AmDiagGmm.log_likelihood``."""
        x = np.asarray(feats, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise AsrError(f"features of shape {x.shape}, the model takes (T, {self.dim})")
        per_gauss = self._gconsts + x @ self._means_invvars.T - 0.5 * (x * x) @ self._inv_vars.T  # (T, G)
        peak = np.maximum.reduceat(per_gauss, self._offsets, axis=1)  # (T, P)
        counts = np.diff(np.append(self._offsets, per_gauss.shape[1]))
        summed = np.add.reduceat(np.exp(per_gauss - np.repeat(peak, counts, axis=1)), self._offsets, axis=1)
        return peak + np.log(summed)

    def transition_scores(self, feats: np.ndarray, acoustic_scale: float) -> np.ndarray:
        """(T, num_transition_ids) float32: column ``tid - 1`` is ``acoustic_scale`` times the
        log-likelihood of tid's pdf, the scores ``DecodableAmDiagGmmScaled`` gives and the layout
        ``kaldi_decoder.DecodableCtc`` reads (input label ``tid``)."""
        ll = self.pdf_log_likelihoods(feats)
        return np.ascontiguousarray(acoustic_scale * ll[:, self.tid_pdf[1:]], dtype=np.float32)

    def transition_cost(self, tid: int, transition_scale: float, self_loop_scale: float) -> float:
        """-log of tid's probability as Kaldi's ``add-self-loops`` weights it."""
        log_prob = self.trans_model.log_probs[tid]
        if self.tid_self_loop[tid]:
            return -self_loop_scale * log_prob
        non_self_loop = self.trans_model.non_self_loop_log_probs[self.tid_state[tid]]
        return -(transition_scale * (log_prob - non_self_loop) + self_loop_scale * non_self_loop)

    def transition_costs(self, transition_scale: float, self_loop_scale: float) -> np.ndarray:
        """(num_transition_ids + 1,) ``transition_cost`` of every tid (index 0 unused), as HCLG has them."""
        key = (transition_scale, self_loop_scale)
        if key not in self._transition_costs:
            self._transition_costs[key] = np.array(
                [0.0] + [self.transition_cost(tid, *key) for tid in range(1, self.num_transition_ids + 1)])
        return self._transition_costs[key]

    def h_fst(self, disambig_ids: Iterable[int] = (), transition_scale: float = 1.0,
              self_loop_scale: float = 1.0) -> kaldifst.StdVectorFst:
        """H: transition ids in, phones out (see the module docstring); state 0 is start and final."""
        arcs = []
        states: dict[tuple[int, int], int] = {}
        costs = self.transition_costs(transition_scale, self_loop_scale)

        def state(phone: int, hmm_state: int) -> int:
            return states.setdefault((phone, hmm_state), len(states) + 1)

        for phone in self.trans_model.phones:
            arcs.append((0, state(phone, 0), 0, phone, 0.0))
        for tid in range(1, self.num_transition_ids + 1):
            phone, src = int(self.tid_phone[tid]), int(self.tid_hmm_state[tid])
            dst = 0 if self.tid_final[tid] else state(phone, int(self.tid_dest[tid]))
            arcs.append((state(phone, src), dst, tid, 0, float(costs[tid])))
        arcs += [(0, 0, 0, d, 0.0) for d in disambig_ids]
        H = fst_from_arcs(arcs, {0: 0.0})
        kaldifst.arcsort(H, sort_type="olabel")
        return H

    def phone_segments(self, alignment: Sequence[int]) -> list[tuple[int, int, int]]:
        """(phone id, start frame, exclusive end frame) of each phone of a frame-level alignment:
        a phone ends on the frame whose transition leaves its HMM."""
        out, start = [], 0
        for t, tid in enumerate(alignment):
            if self.tid_final[tid]:
                out.append((int(self.tid_phone[tid]), start, t + 1))
                start = t + 1
        if start < len(alignment):  # a partial path ends inside a phone
            out.append((int(self.tid_phone[alignment[-1]]), start, len(alignment)))
        return out

    def to_bytes(self) -> bytes:
        return pickle.dumps({"trans_model": self.trans_model, "am": self.am, "ctx_dep": self.ctx_dep})

    def files(self) -> dict[str, bytes]:
        """The model dir files that hold this acoustic model, by name (hashed in ``gmm.json``)."""
        return {MODEL_FILE: self.to_bytes()}

    def config(self) -> dict:
        """What ``gmm.json`` records of this acoustic model beyond the features."""
        return {"num_pdfs": self.num_pdfs, "num_gaussians": self.am.num_gauss}


# ---------------------------------------------------------------------------------------------
# Data


def utterances_from_cuts(cuts: Iterable, features: MfccOptions, progress: bool = True) -> list[Utterance]:
    """Features and words of lhotse cuts (audio resampled to ``features.sample_rate``); the text is
    the supervisions' (``asr.training.dataset.cut_text``), upper-cased like the lexicon."""
    from asr.training.dataset import cut_text

    out = []
    for cut in tqdm(list(cuts), desc="mfcc", disable=not progress, leave=False, mininterval=2):
        samples = cut.load_audio()
        samples = samples.mean(axis=0) if samples.ndim == 2 else samples
        samples = resample(samples, cut.sampling_rate, features.sample_rate)
        out.append(Utterance(cut.id, compute_mfcc(samples, features.sample_rate, features), cut_text(cut).upper().split()))
    return out


def utterances_from_data_dir(path: str | os.PathLike, features: MfccOptions, progress: bool = True) -> list[Utterance]:
    """Features and words (``text``, if any) of a Kaldi data dir's utterances."""
    from asr.data.kaldi import datadir_to_cuts

    return utterances_from_cuts(datadir_to_cuts(path), features, progress)


def word_ids(words: Sequence[str], table: dict[str, int], what: str) -> list[int]:
    """Ids of ``words`` in words.txt; words missing from it raise ``LexiconError`` naming them."""
    missing = sorted({w for w in words if w not in table})
    if missing:
        raise LexiconError(f"{what}: {len(missing)} words have no pronunciation in the lang dir: {' '.join(missing[:20])}"
                           f"{' ...' if len(missing) > 20 else ''} (add them: asr lexicon add LANG_DIR WORD)")
    return [table[w] for w in words]


def read_phone_lang_dir(lang_dir: str | os.PathLike) -> LangDir:
    """A phone lang dir with the ``topo`` a GMM-HMM needs; anything else raises ``LexiconError``."""
    lang_dir = Path(lang_dir)
    if not lang_dir.is_dir():
        raise LexiconError(f"{lang_dir}: lang dir not found (make one with python -m asr.hybrid.prepare)")
    lang = read_lang_dir(lang_dir)
    if SIL_PHONE not in lang.phones or not (lang_dir / "L.fst").is_file():
        raise LexiconError(f"{lang_dir}: not a phone lang dir (no {SIL_PHONE} phone or no L.fst); a GMM-HMM needs "
                           "python -m asr.hybrid.prepare without --tokens-dir")
    if not (lang_dir / "topo").is_file():
        raise LexiconError(f"{lang_dir}: no topo (HMM topology); rebuild the lang dir with python -m asr.hybrid.prepare")
    return lang


# ---------------------------------------------------------------------------------------------
# Training


def init_model(lang: LangDir, feats: Sequence[np.ndarray], features: MfccOptions) -> GmmHmm:
    """``gmm-init-mono``: the topology of the lang dir, every pdf one Gaussian with the global mean
    and variance of ``feats``."""
    topo = khg.HmmTopology()
    topo.read((lang.path / "topo").read_text(encoding="utf-8"))
    phones = list(topo.phones)
    known = {i for p, i in lang.phones.items() if p != "<eps>" and not p.startswith("#")}
    if set(phones) != known:
        raise LexiconError(f"{lang.path}/topo covers phones {sorted(set(phones) ^ known)[:10]} differently from phones.txt")
    ctx_dep = khg.monophone_context_dependency(phones=phones, phone2num_pdf_classes=topo.get_phone_to_num_pdf_classes())
    trans_model = khg.TransitionModel(ctx_dep, topo)
    stacked = np.concatenate([f for f in feats if len(f)])
    mean, var = stacked.mean(axis=0), np.maximum(stacked.var(axis=0), 1e-3)
    am = khg.AmDiagGmm()
    for _ in range(ctx_dep.num_pdfs):
        gmm = khg.DiagGmm(nmix=1, dim=stacked.shape[1])
        gmm.set_invvars_and_means((1.0 / var)[None].astype(np.float32), mean[None].astype(np.float32))
        gmm.set_weights(np.ones(1, dtype=np.float32))
        gmm.compute_gconsts()
        am.add_pdf(gmm)
    return GmmHmm(trans_model, am, ctx_dep, dict(lang.phones), features)


def training_graph(H: kaldifst.StdVectorFst, L: kaldifst.StdVectorFst, ids: Sequence[int]) -> kaldifst.StdVectorFst:
    """``compile-train-graphs``: H o (L o the word sequence), L with optional silence."""
    W = kaldifst.make_linear_acceptor(list(ids))
    LW = kaldifst.compose(L, W)
    kaldifst.arcsort(LW, sort_type="ilabel")
    graph = kaldifst.compose(H, LW)
    kaldifst.connect(graph)
    return graph


def align(model: GmmHmm, graph: kaldifst.StdVectorFst, feats: np.ndarray, options: GmmTrainOptions) -> list[int] | None:
    """Viterbi alignment (one transition id a frame) through a training graph; None when neither
    ``align_beam`` nor ``retry_beam`` reaches the graph's end (Kaldi's ``gmm-align-compiled``)."""
    scores = model.transition_scores(feats, options.acoustic_scale)
    for beam in (options.align_beam, options.retry_beam):
        decoder = kaldi_decoder.FasterDecoder(graph, kaldi_decoder.FasterDecoderOptions(beam=beam))
        decoder.decode(kaldi_decoder.DecodableCtc(scores))
        if decoder.reached_final():
            ok, lattice = decoder.get_best_path(use_final_probs=True)
            if ok:
                tids = [i for i, _ in linear_path(lattice)[0] if i != 0]
                if len(tids) == len(feats):
                    return tids
    return None


def align_utterances(model_dir: GmmModelDir, lang_dir: str | os.PathLike, utterances: Sequence[Utterance],
                     options: GmmTrainOptions | None = None, progress: bool = True) -> list[list[int] | None]:
    """``steps/align_si.sh``: each utterance's Viterbi alignment (transition ids, one a frame) through
    its training graph (``lang_dir``'s L with optional silence, the model dir's HMM transitions),
    None where the beams fail or the transcript has words the lexicon lacks (logged with them)."""
    options = options or model_dir.train_options() or GmmTrainOptions()
    lang = read_phone_lang_dir(lang_dir)
    check_same_phones(lang, model_dir.model)
    L = load_fst(lang.path / "L.fst")
    kaldifst.arcsort(L, sort_type="olabel")
    H = model_dir.model.h_fst(transition_scale=options.transition_scale, self_loop_scale=options.self_loop_scale)
    out: list[list[int] | None] = []
    for u in tqdm(utterances, desc="align", disable=not progress, mininterval=2):
        try:
            ids = word_ids(u.words, lang.words, u.id)
        except LexiconError as e:
            logger.warning("not aligned: %s", e)
            out.append(None)
            continue
        out.append(align(model_dir.model, training_graph(H, L, ids), u.features, options) if len(u.features) else None)
    return out


def equal_alignment(graph: kaldifst.StdVectorFst, num_frames: int, seed: int) -> list[int] | None:
    """``align-equal-compiled``: a random path of the training graph with ``num_frames`` frames."""
    ok, path = kaldifst.equal_align(graph, num_frames, seed)
    if not ok:
        return None
    ok, tids, _, _ = kaldifst.get_linear_symbol_sequence(path)
    return list(tids) if ok and len(tids) == num_frames else None


@dataclass
class TrainReport:
    """Per pass: average log-likelihood a frame and Gaussians; utterances left out (no alignment)."""

    log_likes: list[float] = field(default_factory=list)
    num_gaussians: list[int] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _update(model: GmmHmm, feats: Sequence[np.ndarray], alignments: Sequence[list[int] | None], target: int,
            options: GmmTrainOptions, min_occupancy: float) -> float:
    """One ``gmm-acc-stats-ali`` + ``gmm-est --mix-up``; returns the average log-likelihood a frame."""
    flags = khg.str_to_gmm_flags("mvw")
    acc = khg.AccumAmDiagGmm()
    acc.init(model.am, flags)
    trans_stats = np.zeros(model.num_transition_ids + 1, dtype=np.float64)
    tot_like, frames = 0.0, 0
    for x, ali in zip(feats, alignments):
        if ali is None:
            continue
        pdfs = model.tid_pdf[ali]
        for t in range(len(ali)):
            tot_like += acc.accumulate_for_gmm(model.am, x[t], int(pdfs[t]), 1.0)
        trans_stats += np.bincount(ali, minlength=model.num_transition_ids + 1)
        frames += len(ali)
    if frames == 0:
        raise AsrError("no utterance could be aligned: the transcripts do not fit the audio or the lexicon")
    khg.mle_am_diag_gmm_update(khg.MleDiagGmmOptions(min_gaussian_occupancy=min_occupancy), acc, flags, model.am)
    model.trans_model.mle_update(trans_stats, khg.MleTransitionUpdateConfig())
    if target > model.am.num_gauss:
        occupancy = np.array([acc.get_acc(i).occupancy.sum() for i in range(model.num_pdfs)], dtype=np.float32)
        model.am.split_by_count(occupancy, target, options.perturb_factor, options.power, 20.0)
    model.refresh()
    return tot_like / frames


def train_monophone(lang_dir: str | os.PathLike, utterances: Sequence[Utterance], options: GmmTrainOptions | None = None,
                    features: MfccOptions | None = None, progress: bool = True) -> tuple[GmmHmm, TrainReport]:
    """``steps/train_mono.sh`` on ``utterances`` (features from ``features``) with the phones of ``lang_dir``.

    Words missing from the lexicon raise ``LexiconError`` naming them, before any training.
    """
    options = options or GmmTrainOptions()
    features = features or MfccOptions()
    lang = read_phone_lang_dir(lang_dir)
    if not utterances:
        raise AsrError("train_monophone: no utterances")
    bad_dim = [u.id for u in utterances if u.features.ndim != 2 or u.features.shape[1] != features.dim]
    if bad_dim:
        raise AsrError(f"utterances {bad_dim[:5]} have features not of dimension {features.dim}")
    missing = {w for u in utterances for w in u.words if w not in lang.words}
    if missing:  # all of them at once, each with an utterance that has it
        where = {w: next(u.id for u in utterances if w in u.words) for w in missing}
        word_ids(sorted(missing), lang.words, "the transcripts (e.g. " +
                 ", ".join(f"{w} in {where[w]}" for w in sorted(missing)[:5]) + ")")
    ids = [word_ids(u.words, lang.words, u.id) for u in utterances]
    empty = [u.id for u, i in zip(utterances, ids) if not i]
    if empty:
        raise AsrError(f"utterances {empty[:5]} have no transcript")
    start = time.perf_counter()
    report = TrainReport()
    model = init_model(lang, [u.features for u in utterances], features)
    L = load_fst(lang.path / "L.fst")
    kaldifst.arcsort(L, sort_type="olabel")
    H = model.h_fst(transition_scale=options.transition_scale, self_loop_scale=options.self_loop_scale)
    graphs = [training_graph(H, L, i) for i in tqdm(ids, desc="training graphs", disable=not progress, leave=False)]
    feats = [u.features for u in utterances]
    # The flat start has silence at both ends (the transcript between two !SIL words): a random
    # path that skips it makes the first phone and the last learn the leading and trailing
    # silence, and EM keeps that (yesno: 22% WER, all insertions, instead of 0%).
    sil = lang.words[SIL_WORD]
    flat = (training_graph(H, L, [sil, *i, sil]) for i in ids)
    alignments = [equal_alignment(g, len(x), options.seed + k) for k, (g, x) in enumerate(zip(flat, feats))]
    too_short = [u.id for u, a in zip(utterances, alignments) if a is None]
    if too_short:
        logger.warning("%d utterances are too short for their transcripts, left out: %s", len(too_short), " ".join(too_short[:10]))
    num_gauss = model.am.num_gauss
    step = max(0, (options.target_gaussians - num_gauss) // max(options.mixup_iters, 1))
    like = _update(model, feats, alignments, num_gauss, options, min_occupancy=3.0)
    report.log_likes.append(like)
    report.num_gaussians.append(model.am.num_gauss)
    bar = tqdm(range(1, options.num_iters), desc="monophone EM", disable=not progress, mininterval=2)
    for it in bar:
        if it in options.realign_iters:
            alignments = [align(model, g, x, options) for g, x in zip(graphs, feats)]
        if it <= options.mixup_iters:
            num_gauss = min(options.target_gaussians, num_gauss + step)
        like = _update(model, feats, alignments, num_gauss, options, options.min_gaussian_occupancy)
        report.log_likes.append(like)
        report.num_gaussians.append(model.am.num_gauss)
        bar.set_postfix(like=f"{like:.2f}", gauss=model.am.num_gauss)
    report.failed = [u.id for u, a in zip(utterances, alignments) if a is None]
    if report.failed:
        logger.warning("%d utterances could not be aligned in the last pass: %s", len(report.failed), " ".join(report.failed[:10]))
    report.seconds = time.perf_counter() - start
    return model, report


# ---------------------------------------------------------------------------------------------
# HCLG and decoding


def build_hclg(model: GmmHmm, lang_dir: str | os.PathLike, G: kaldifst.StdVectorFst,
               options: GmmDecodeOptions | None = None) -> kaldifst.StdVectorFst:
    """HCLG = H o LG for the model's transition ids (see the module docstring), ilabel-sorted."""
    from asr.hybrid.graph import build_lg

    options = options or GmmDecodeOptions()
    lang = read_phone_lang_dir(lang_dir)
    check_same_phones(lang, model)
    LG = build_lg(lang, G)
    H = model.h_fst(sorted(lang.disambig_phone_ids), options.transition_scale, options.self_loop_scale)
    HCLG = kaldifst.compose(H, LG)
    kaldifst.connect(HCLG)
    if HCLG.num_states == 0:
        raise GraphError(f"{lang.path}: HCLG is empty: no word of G can be spelled in the model's phones")
    kaldifst.arcsort(HCLG, sort_type="ilabel")
    return HCLG


def check_same_phones(lang: LangDir, model: GmmHmm) -> None:
    """``lang``'s phones (disambiguation symbols aside: a larger vocabulary has more homophones)
    must be the ones the model was trained with; otherwise ``GraphError``."""
    def real(phones: dict[str, int]) -> dict[str, int]:
        return {p: i for p, i in phones.items() if not p.startswith("#")}

    if real(lang.phones) != real(model.phones):
        raise GraphError(f"{lang.path}/phones.txt is not the phone table the model was trained with")


def remake_graph(model_dir: str | os.PathLike, lang_dir: str | os.PathLike, G: kaldifst.StdVectorFst,
                 out_dir: str | os.PathLike, decode_settings: dict | None = None) -> Path:
    """Kaldi's ``utils/mkgraph.sh`` for a trained model: the HCLG of another lang dir over the same
    phones (a larger vocabulary, another LM) in a new model dir with the same acoustic model
    (GMM-HMM or DNN-HMM) and decoding options, ``decode_settings`` (e.g. the acoustic scale tuned
    for the new graph) in their place."""
    loaded = load_model_dir(model_dir)
    lang = read_phone_lang_dir(lang_dir)
    check_same_phones(lang, loaded.model)
    loaded.model.phones = dict(lang.phones)
    decode_options = loaded.decode_options(**(decode_settings or {}))
    hclg = build_hclg(loaded.model, lang.path, G, decode_options)
    return save_model_dir(out_dir, loaded.model, lang.path, hclg, decode_options, loaded.train_options())


@dataclass
class GmmModelDir:
    """A loaded model dir: the model, HCLG (keep it alive while a decoder uses it), the word table
    (id -> word), each word's pronunciations as phone-id tuples, and ``gmm.json``."""

    model: GmmHmm
    hclg: kaldifst.StdVectorFst
    words: dict[int, str]
    prons: dict[str, list[tuple[int, ...]]]
    config: dict
    path: Path

    def decode_options(self, **settings) -> GmmDecodeOptions:
        """The search settings ``gmm.json`` records (the model's tuned ones), each ``settings``
        entry that is not None in their place, except the HMM transition scales HCLG was built
        with (fixed in the graph, so they come from ``gmm.json``, never from the caller)."""
        recorded = self.config["decode_options"]
        fixed = ("transition_scale", "self_loop_scale")
        given = {k: v for k, v in settings.items() if v is not None and k not in fixed}
        return GmmDecodeOptions(**{**recorded, **given})

    def train_options(self) -> GmmTrainOptions | None:
        """The GMM training options ``gmm.json`` recorded (their alignment beams and scales), if any."""
        recorded = self.config.get("train_options")
        if not recorded:
            return None
        return GmmTrainOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items()})


def _read_prons(lexicon_txt: Path, phones: dict[str, int]) -> dict[str, list[tuple[int, ...]]]:
    """Each word's pronunciations in ``lexicon_txt`` as phone-id tuples; a phone missing from
    ``phones`` raises ``ModelDirError`` naming the word."""
    prons: dict[str, list[tuple[int, ...]]] = {}
    for word, word_prons in read_lexicon(lexicon_txt).entries.items():
        for pron in word_prons:
            missing = [p for p in pron if p not in phones]
            if missing:
                raise ModelDirError(f"{lexicon_txt}: {word} uses {missing}, not in phones.txt")
            prons.setdefault(word, []).append(tuple(phones[p] for p in pron))
    return prons


def decode(model_dir: GmmModelDir, feats: np.ndarray, options: GmmDecodeOptions | None = None) -> GmmHypothesis:
    """The best path of (T, dim) features through HCLG: words, word times (frames), alignment, scores."""
    options = options or GmmDecodeOptions()
    if len(feats) == 0:
        return GmmHypothesis(cost=0.0, am_score=0.0)
    scores = model_dir.model.transition_scores(feats, options.acoustic_scale)
    decoder = kaldi_decoder.FasterDecoder(model_dir.hclg, kaldi_decoder.FasterDecoderOptions(beam=options.beam, max_active=options.max_active))
    decoder.decode(kaldi_decoder.DecodableCtc(scores))
    ok, lattice = decoder.get_best_path(use_final_probs=decoder.reached_final())
    if not ok:
        return GmmHypothesis()
    path, graph_cost, acoustic_cost = linear_path(lattice)
    return _path_hypothesis(model_dir, path, graph_cost + acoustic_cost, scores, options)


def nbest(model_dir: GmmModelDir, feats: np.ndarray, options: GmmDecodeOptions | None = None) -> list[GmmHypothesis]:
    """The ``options.nbest`` best distinct word sequences of (T, dim) features, best (lowest cost)
    first, each with its best path's alignment, word times, AM and LM scores (``GmmHypothesis``):
    ``LatticeSimpleDecoder`` over HCLG on the scores ``decode`` searches, its raw lattice's word
    sequences (``asr.hybrid.fst.nbest_word_sequences``), each one's best path in the lattice."""
    options = options or GmmDecodeOptions()
    if len(feats) == 0:
        return [GmmHypothesis(cost=0.0, am_score=0.0)]
    scores = model_dir.model.transition_scores(feats, options.acoustic_scale)
    decoder = kaldi_decoder.LatticeSimpleDecoder(
        model_dir.hclg, kaldi_decoder.LatticeSimpleDecoderConfig(beam=options.beam, lattice_beam=options.lattice_beam))
    decoder.decode(kaldi_decoder.DecodableCtc(scores))
    ok, lattice = decoder.get_raw_lattice(use_final_probs=True)
    parsed = parse_lattice(lattice) if ok else None
    lattice_fst = lattice_to_fst(lattice, parsed=parsed) if ok else None
    if lattice_fst is None:
        return [GmmHypothesis()]
    out = []
    for word_ids, _ in nbest_word_sequences(lattice, options.nbest, parsed):
        path, cost = best_path_with_output(lattice_fst, word_ids)
        if path:
            out.append(_path_hypothesis(model_dir, path, cost, scores, options))
    out.sort(key=lambda h: h.cost)
    return out or [GmmHypothesis()]


def _path_hypothesis(model_dir: GmmModelDir, path: Sequence[tuple[int, int]], cost: float, scores: np.ndarray,
                     options: GmmDecodeOptions) -> GmmHypothesis:
    """The hypothesis of a path's (transition id, word id) arcs with total cost ``cost``; the AM
    score is recomputed from ``scores`` (``transition_scores``) and the transitions, the LM score
    is what remains of the cost."""
    model = model_dir.model
    alignment = [i for i, _ in path if i != 0]
    words, out_frames, frame = [], [], 0
    for ilabel, olabel in path:
        if olabel != 0:
            words.append(model_dir.words[olabel])
            out_frames.append(frame)
        frame += ilabel != 0
    starts, ends = word_times(words, model.phone_segments(alignment), model_dir.prons, out_frames,
                              silence={model.phones[SIL_PHONE]})
    tids = np.asarray(alignment, dtype=np.int64)
    acoustic = float(scores[np.arange(len(tids)), tids - 1].astype(np.float64).sum())
    am = acoustic - float(model.transition_costs(options.transition_scale, options.self_loop_scale)[tids].sum())
    return GmmHypothesis(words, starts, ends, alignment, cost, am_score=am, lm_score=-cost - am)


def word_times(words: Sequence[str], segments: Sequence[tuple[int, int, int]], prons: dict[str, list[tuple[int, ...]]],
               out_frames: Sequence[int], silence: set[int]) -> tuple[list[int], list[int]]:
    """(start, exclusive end) frames of each word: its pronunciation matched, in order, to the
    alignment's phone segments (silence between words skipped). A word that does not match (a
    graph from another lexicon) gets the frame where the graph output it."""
    starts, ends, pos = [], [], 0
    phones = [s[0] for s in segments]
    for k, word in enumerate(words):
        while pos < len(phones) and phones[pos] in silence and word != SIL_WORD:
            pos += 1
        match = next((p for p in prons.get(word, []) if p and tuple(phones[pos:pos + len(p)]) == p), None)
        if match is None:
            starts.append(out_frames[k])
            ends.append(out_frames[k] + 1)
            continue
        starts.append(segments[pos][1])
        ends.append(segments[pos + len(match) - 1][2])
        pos += len(match)
    return starts, ends


def save_model_dir(out_dir: str | os.PathLike, model: GmmHmm, lang_dir: str | os.PathLike, hclg: kaldifst.StdVectorFst,
                   decode_options: GmmDecodeOptions | None = None, train_options: GmmTrainOptions | None = None,
                   report: TrainReport | None = None) -> Path:
    """Write the model dir (module docstring); every file atomically, ``gmm.json`` last, so a dir
    with it is complete and a reader never sees a graph beside another model's words."""
    out_dir, lang_dir = Path(out_dir), Path(lang_dir)
    decode_options = decode_options or GmmDecodeOptions()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / GMM_CONFIG).unlink(missing_ok=True)
    model_files = model.files()
    for name, data in model_files.items():
        with atomic_write(out_dir / name, mode="wb") as f:
            f.write(data)
    for name in COPIED_LANG_FILES:
        with atomic_write(out_dir / name, mode="wb") as f:
            f.write((lang_dir / name).read_bytes())
    save_fst(hclg, out_dir / "HCLG.fst")
    config = {
        "kind": model.kind,
        "lang_dir": str(lang_dir.resolve()),
        "features": model.features.to_dict(),
        "decode_options": asdict(decode_options),
        "train_options": asdict(train_options) if train_options else None,
        **model.config(),
        "graph_states": hclg.num_states,
        "graph_arcs": num_arcs(hclg),
        "train_log_likes": report.log_likes if report else None,
        "train_seconds": report.seconds if report else None,
        "sha256": {name: sha256_file(out_dir / name) for name in (*model_files, "HCLG.fst", "words.txt", "phones.txt")},
    }
    with atomic_write(out_dir / GMM_CONFIG) as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    return out_dir


def load_model_dir(path: str | os.PathLike) -> GmmModelDir:
    """Load a model dir; a model, graph, words.txt or phones.txt that is not the one recorded in
    ``gmm.json`` (a graph built against other words) raises ``ModelDirError`` naming it."""
    path = Path(path)
    config = read_dir_config(path, GMM_CONFIG, "GMM-HMM", "python -m asr.hybrid.gmm train")
    check_recorded_sha256(path, config.get("sha256", {}), GMM_CONFIG, "HCLG.fst",
                          "the graph would map labels to the wrong words or transition ids; rebuild the model dir")
    state = pickle.loads((path / MODEL_FILE).read_bytes())
    phones = read_symbols(path / "phones.txt")
    model = GmmHmm(state["trans_model"], state["am"], state["ctx_dep"], phones, MfccOptions.from_dict(config["features"]))
    if config.get("kind") == "dnn_hmm":
        from asr.hybrid.dnn_hmm import DnnHmm

        model = DnnHmm.from_model_dir(model, path, config)
    elif config.get("kind", GmmHmm.kind) != GmmHmm.kind:
        raise ModelDirError(f"{path}/{GMM_CONFIG}: unknown acoustic model kind {config.get('kind')!r}")
    hclg = load_fst(path / "HCLG.fst")
    words = {i: w for w, i in read_symbols(path / "words.txt").items()}
    return GmmModelDir(model, hclg, words, _read_prons(path / "lexicon.txt", phones), config, path)


def make_g(lang_dir: Path, arpa: Path | None, loop_of: Sequence[str] | None, one_of: Sequence[str] | None) -> kaldifst.StdVectorFst:
    from asr.hybrid.graph import make_g_fst, make_grammar_fst

    if arpa is not None:
        return make_g_fst(arpa, lang_dir / "words.txt")
    words = [w.upper() for w in (loop_of or one_of or [])]
    return make_grammar_fst(lang_dir / "words.txt", words, loop=bool(loop_of))


# ---------------------------------------------------------------------------------------------
# CLI


def _load_utterances(args: argparse.Namespace, features: MfccOptions) -> list[Utterance]:
    if args.data_dir is not None:
        return utterances_from_data_dir(args.data_dir, features)
    from asr.data.manifests import read_cuts

    return utterances_from_cuts(read_cuts(args.cuts), features)


def _train(args: argparse.Namespace) -> int:
    features = MfccOptions(sample_rate=args.sample_rate)
    options = GmmTrainOptions(num_iters=args.num_iters, target_gaussians=args.target_gaussians)
    lang = read_phone_lang_dir(args.lang_dir)  # a missing lang dir is an error before the features
    G = make_g(lang.path, args.arpa, args.loop_of, args.one_of)
    utts = _load_utterances(args, features)
    logger.info("%d utterances, %.1f h", len(utts), sum(len(u.features) for u in utts) * features.frame_shift_seconds / 3600)
    model, report = train_monophone(lang.path, utts, options, features)
    logger.info("trained in %.1f s: %d pdfs, %d Gaussians, log-likelihood a frame %.3f -> %.3f", report.seconds,
                model.num_pdfs, model.am.num_gauss, report.log_likes[0], report.log_likes[-1])
    start = time.perf_counter()
    hclg = build_hclg(model, lang.path, G, GmmDecodeOptions())
    logger.info("HCLG: %d states, %d arcs in %.1f s", hclg.num_states, num_arcs(hclg), time.perf_counter() - start)
    save_model_dir(args.out_dir, model, lang.path, hclg, GmmDecodeOptions(), options, report)
    print(f"{args.out_dir}: {model.num_pdfs} pdfs, {model.am.num_gauss} Gaussians, trained in {report.seconds:.1f} s")
    return 0


def _mkgraph(args: argparse.Namespace) -> int:
    lang = read_phone_lang_dir(args.lang_dir)
    start = time.perf_counter()
    out = remake_graph(args.model_dir, lang.path, make_g(lang.path, args.arpa, args.loop_of, args.one_of), args.out_dir,
                       {"acoustic_scale": args.acoustic_scale, "beam": args.beam})
    config = json.loads((out / GMM_CONFIG).read_text(encoding="utf-8"))
    print(f"{out}: HCLG {config['graph_states']} states, {config['graph_arcs']} arcs, {len(lang.words)} words, "
          f"built in {time.perf_counter() - start:.1f} s")
    return 0


def _decode(args: argparse.Namespace) -> int:
    from asr.decoding.evaluate import write_text_file
    from asr.scoring import compute_wer, write_wer_details

    loaded = load_model_dir(args.model_dir)
    options = loaded.decode_options(beam=args.beam, max_active=args.max_active, acoustic_scale=args.acoustic_scale,
                                    lattice_beam=args.lattice_beam, nbest=args.nbest)  # None: the model dir's
    out = Path(args.out_dir)
    extra = {}
    if args.second_pass is not None:
        hyps, refs, elapsed, audio_seconds, first = _decode_cascade(args, loaded, options, out)
        write_text_file(out / "text_first_pass", first)
        extra = {"second_pass": str(args.second_pass), "chunk_ms": args.chunk_ms, "first_pass_wer": compute_wer(refs, first).total.wer,
                 "rescore_options": {"am_weight": args.am_weight, "lm_weight": args.lm_weight, "e2e_weight": args.e2e_weight}}
    else:
        utts = _load_utterances(args, loaded.model.features)
        hyps, refs = {}, {u.id: " ".join(u.words) for u in utts}
        start = time.perf_counter()
        for u in tqdm(utts, desc="decode", mininterval=2):
            hyps[u.id] = decode(loaded, u.features, options).text
        elapsed = time.perf_counter() - start
        audio_seconds = sum(len(u.features) for u in utts) * loaded.model.features.frame_shift_seconds
    write_text_file(out / "text", hyps)
    write_text_file(out / "ref", refs)
    result = compute_wer(refs, hyps)
    write_wer_details(result, out)
    rtf = elapsed / max(audio_seconds, 1e-9)
    what = f"cascade n-best {options.nbest}, chunk {args.chunk_ms or 'full'} ms, " if args.second_pass else ""
    summary = (f"{result.summary()} [{what}decode {elapsed:.1f} s for {audio_seconds:.1f} s audio, RTF {rtf:.4f}, "
               f"acoustic scale {options.acoustic_scale}]")
    total = result.total
    with atomic_write(out / "wer.txt") as f:
        f.write(summary + "\n")
    with atomic_write(out / "wer.json") as f:
        json.dump({"wer": total.wer, "num_ref_words": total.ref_words, "insertions": total.insertions,
                   "deletions": total.deletions, "substitutions": total.substitutions, "num_utterances": len(refs),
                   "decode_seconds": elapsed, "audio_seconds": audio_seconds, "rtf": rtf, "model_dir": str(args.model_dir),
                   "decode_options": asdict(options), **extra}, f, indent=1)
    print(summary)
    return 0


def _decode_cascade(args: argparse.Namespace, loaded: GmmModelDir, options: GmmDecodeOptions,
                    out: Path) -> tuple[dict[str, str], dict[str, str], float, float, dict[str, str]]:
    """The GMM n-best rescored by ``args.second_pass``'s transducer (``asr.hybrid.cascade.GmmCascade``);
    writes ``nbest.jsonl`` (each utterance's rescored n-best, for ``tune``). Returns hypotheses,
    references, decode seconds, audio seconds and the first pass's texts."""
    import torch

    from asr.data.kaldi import datadir_to_cuts
    from asr.data.manifests import read_cuts
    from asr.decoding.options import DecodingOptions
    from asr.hybrid.cascade import GmmCascade, RescoreOptions
    from asr.models import load_model_dir as load_e2e_model_dir
    from asr.training.dataset import cut_text

    torch.set_num_threads(args.num_threads)
    e2e = load_e2e_model_dir(args.second_pass)
    cascade = GmmCascade(e2e, loaded, DecodingOptions(chunk_ms=args.chunk_ms), options,
                         RescoreOptions(am_weight=args.am_weight, lm_weight=args.lm_weight, e2e_weight=args.e2e_weight))
    cuts = datadir_to_cuts(args.data_dir) if args.data_dir is not None else read_cuts(args.cuts)
    rate = e2e.feature_options.sample_rate
    hyps, refs, first, records = {}, {}, {}, []
    elapsed = audio_seconds = 0.0
    for cut in tqdm(cuts, desc="cascade", mininterval=2):
        samples = resample(cut.load_audio()[0], cut.sampling_rate, rate)
        refs[cut.id] = " ".join(cut_text(cut).upper().split())
        start = time.perf_counter()
        result, (scored,) = cascade.decode_scored([samples])[0]  # whole utterances: one segment
        elapsed += time.perf_counter() - start
        audio_seconds += len(samples) / rate
        hyps[cut.id], first[cut.id] = result.text, result.first_pass
        records.append({"id": cut.id, "nbest": [{"words": h.words, "am": h.am_score, "lm": h.lm_score, "e2e": h.e2e_score,
                                                  "rank": h.rank} for h in sorted(scored, key=lambda h: h.rank)]})
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "nbest.jsonl") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    return hyps, refs, elapsed, audio_seconds, first


def tune(records: Sequence[dict], refs: dict[str, str], nbest_sizes: Sequence[int], am_weights: Sequence[float],
         lm_weights: Sequence[float], e2e_weight: float = 1.0) -> list[tuple[float, int, float, float]]:
    """WER (%) of every (n-best size, am weight, lm weight) on saved rescored n-best lists
    (``nbest.jsonl`` of ``decode --second-pass``), best first: (wer, n, am_weight, lm_weight)."""
    from asr.scoring import compute_wer

    out = []
    for n in nbest_sizes:
        for am_w in am_weights:
            for lm_w in lm_weights:
                hyps = {}
                for r in records:
                    entries = [h for h in r["nbest"] if h["rank"] < n]
                    best = max(entries, key=lambda h: am_w * h["am"] + lm_w * h["lm"] + e2e_weight * h["e2e"], default=None)
                    if best is None or not math.isfinite(e2e_weight * best["e2e"]):
                        best = entries[0] if entries else {"words": []}
                    hyps[r["id"]] = " ".join(best["words"])
                out.append((compute_wer(refs, hyps).total.wer, n, am_w, lm_w))
    return sorted(out)


def _tune(args: argparse.Namespace) -> int:
    from asr.scoring.wer import read_text_file

    records = [json.loads(line) for line in Path(args.nbest_jsonl).read_text(encoding="utf-8").splitlines() if line.strip()]
    refs = read_text_file(args.ref, "reference")
    missing = [r["id"] for r in records if r["id"] not in refs]
    if missing:
        raise AsrError(f"{args.ref}: no reference for {len(missing)} utterances of {args.nbest_jsonl}, e.g. {missing[:3]}")
    results = tune(records, refs, args.nbest_sizes, args.am_weights, args.lm_weights, args.e2e_weight)
    for wer, n, am_w, lm_w in results[: args.top]:
        print(f"%WER {wer:.2f} nbest {n} am_weight {am_w:g} lm_weight {lm_w:g} e2e_weight {args.e2e_weight:g}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asr.hybrid.gmm", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a monophone GMM-HMM and build its HCLG")
    train.add_argument("--lang-dir", type=Path, required=True, help="phone lang dir (python -m asr.hybrid.prepare)")
    train.add_argument("--out-dir", type=Path, required=True)
    train.add_argument("--sample-rate", type=int, default=MfccOptions.sample_rate, help="audio is resampled to this rate")
    train.add_argument("--num-iters", type=int, default=GmmTrainOptions.num_iters)
    train.add_argument("--target-gaussians", type=int, default=GmmTrainOptions.target_gaussians)
    dec = sub.add_parser("decode", help="decode and score with a model dir")
    dec.add_argument("--model-dir", type=Path, required=True)
    dec.add_argument("--out-dir", type=Path, required=True)
    recorded = " (default: the one the model dir's gmm.json records)"
    dec.add_argument("--beam", type=float, help="search beam" + recorded)
    dec.add_argument("--max-active", type=int, help="FasterDecoder's max active states" + recorded)
    dec.add_argument("--acoustic-scale", type=float, help="scale of the acoustic log-likelihoods" + recorded)
    dec.add_argument("--lattice-beam", type=float, help="n-best lattice pruning" + recorded)
    dec.add_argument("--nbest", type=int, help="hypotheses the second pass rescores" + recorded)
    cas = dec.add_argument_group("cascade: the GMM n-best rescored by a transducer (asr.hybrid.cascade.GmmCascade)")
    cas.add_argument("--second-pass", type=Path, metavar="E2E_MODEL_DIR", help="transducer model dir of the second pass")
    cas.add_argument("--chunk-ms", type=int, default=None, help="transducer encoder chunk (default: full context)")
    cas.add_argument("--am-weight", type=float, default=1.0)
    cas.add_argument("--lm-weight", type=float, default=1.0)
    cas.add_argument("--e2e-weight", type=float, default=1.0)
    cas.add_argument("--num-threads", type=int, default=1, help="torch threads of the transducer")
    mkg = sub.add_parser("mkgraph", help="a new model dir: the same acoustic model, the HCLG of another lang dir and G")
    mkg.add_argument("--model-dir", type=Path, required=True, help="trained GMM-HMM or DNN-HMM model dir")
    mkg.add_argument("--lang-dir", type=Path, required=True, help="phone lang dir over the same phones")
    mkg.add_argument("--out-dir", type=Path, required=True)
    mkg.add_argument("--acoustic-scale", type=float, help="record this scale (tuned for the new graph) as the default")
    mkg.add_argument("--beam", type=float, help="record this search beam as the default")
    tun = sub.add_parser("tune", help="grid-search the cascade weights on a decode --second-pass dir's nbest.jsonl and ref")
    tun.add_argument("--nbest-jsonl", type=Path, required=True)
    tun.add_argument("--ref", type=Path, required=True)
    tun.add_argument("--nbest-sizes", type=int, nargs="+", default=[1, 5, 10, 20])
    tun.add_argument("--am-weights", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0, 2.0])
    tun.add_argument("--lm-weights", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 4.0])
    tun.add_argument("--e2e-weight", type=float, default=1.0)
    tun.add_argument("--top", type=int, default=10, help="print this many best settings")
    for p in (train, mkg):
        grammar = p.add_mutually_exclusive_group(required=True)
        grammar.add_argument("--arpa", type=Path, help="n-gram LM for G (kaldilm)")
        grammar.add_argument("--loop-of", nargs="+", metavar="WORD", help="G: any sequence of these words")
        grammar.add_argument("--one-of", nargs="+", metavar="WORD", help="G: exactly one of these words")
    for p in (train, dec):
        source = p.add_mutually_exclusive_group(required=True)
        source.add_argument("--data-dir", type=Path, help="Kaldi data dir (wav.scp, text, utt2spk)")
        source.add_argument("--cuts", type=Path, help="lhotse CutSet manifest with recordings and supervisions")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        return {"train": _train, "decode": _decode, "tune": _tune, "mkgraph": _mkgraph}[args.command](args)
    except (AsrError, ValueError) as e:
        print(f"python -m asr.hybrid.gmm {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
