"""Internal-LM adaptation (ILMA): adapt a transducer to a new domain from text only.

The transducer's internal LM (``Transducer.internal_lm_log_probs``: the joiner on the predictor
output with the encoder contribution removed, log-softmax over the non-blank tokens) is trained
on target-domain text with

    loss = CE(ILM, text) + kl_scale * KL(adapted ILM || unadapted ILM)

per token: the cross-entropy pulls the ILM towards the target text, the KL divergence to the
frozen unadapted ILM (over the non-blank tokens, at every position of the text) keeps it from
forgetting the source domain. Only the parameters named by ``update`` train:

- ``joiner-output``: the internal LM's last layer (``joiner.ilm_output_layer``: the joiner's
  output layer, or a factorized joiner's LM layer), the best choice in the ILMA paper (Meng et al.,
  2022) and the default;
- ``joiner``: the joiner's predictor projection and output layer (its encoder projection gets no
  gradient from the ILM and stays as it is); a factorized joiner's LM is one layer, so there it
  is the same as ``joiner-output``;
- ``predictor+joiner``: the predictor as well (with FNT's vocabulary predictor, that one: the
  blank predictor gets no gradient from the internal LM);
- ``vocab-predictor``: a factorized joiner's LM layer and FNT's vocabulary predictor
  (``model.vocab_predictor``), the whole internal LM and nothing that scores blank.

With a teacher (``teacher_order`` > 0: token n-grams of the same text), the cross-entropy's target
at each position of the text is no longer the next token alone but the distribution shallow fusion
would use there,

    q = softmax over the non-blank tokens of (unadapted ILM log-probs + teacher_scale * n-gram log-probs),

so the adapted internal LM learns to be the fusion of the two, and decoding gets what fusion gave
without running the n-gram (text only, still no decode cost). The n-grams are cross-fitted: the
text is split into ``teacher_folds`` parts and each part's targets come from an n-gram of the other
parts, since an n-gram scoring its own training sentences is sharper than it is on new text, which
is where fusion uses it. The KL term to the unadapted ILM is usually off then (``kl_scale`` 0): the
target already holds the unadapted ILM.

``lm_scale`` (a factorized joiner only) writes the LM's weight in the token scores into the adapted
model's config (``ModelConfig.factorized_lm_scale``): chosen on a target dev like a fusion LM's
weight, it costs nothing at decoding. Adaptation itself trains the LM at the source's weight.

Everything else, the encoder above all, is not touched: the adapted model dir's encoder tensors
are byte-identical to the source's, and decoding costs exactly what it cost before. The model
runs in eval mode (no dropout, no predictor context resets), so adaptation is deterministic for
a seed. ILMA only works when the model was trained with an ILM loss too (ILMT,
``loss.ilm_loss_scale``); ``adapt_model_dir`` reports the ILM's cross-entropy on the text before
and after, and warns when the unadapted ILM is no better than a uniform guess.

The output model dir is built in a temporary dir beside ``out_dir``, loaded back as a check, and
renamed into place: an interrupted run leaves no half-written model.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm import tqdm

from asr.errors import ModelDirError
from asr.lm.token_lm import TokenNgramLM, train_token_ngram
from asr.models.model import Transducer, pad_targets
from asr.models.model_dir import load_model_dir, save_model_dir
from asr.text.token_text import TokenizedText, read_token_sentences
from asr.utils.io import atomic_dir, atomic_write

log = logging.getLogger("asr.adapt")

UPDATE_CHOICES = ("joiner-output", "joiner", "predictor+joiner", "vocab-predictor")
ADAPT_INFO = "adapt.json"
"""Written into the adapted model dir: the source, the text, the options and the statistics."""


@dataclass
class AdaptConfig:
    """ILMA settings.

    update: which parameters train (``UPDATE_CHOICES``); kl_scale: weight of KL(adapted ||
    unadapted) per token (0: plain cross-entropy fine-tuning); epochs: passes over the text;
    lr: Adam learning rate (constant); batch_size: sentences per step; seed: batch order;
    strict: a line with characters outside the token set is an error instead of being skipped;
    num_threads: torch threads; progress: show a progress bar; lm_scale: the adapted factorized
    model's LM weight (None: the source's); teacher_order: the order of the token n-grams of the text
    whose fusion with the unadapted ILM (n-gram weight ``teacher_scale``) is the cross-entropy's
    target (0: the next token is), cross-fitted over ``teacher_folds`` parts of the text.
    """

    update: str = "joiner-output"
    kl_scale: float = 0.5
    epochs: int = 2
    lr: float = 1e-4
    batch_size: int = 32
    seed: int = 0
    strict: bool = False
    num_threads: int = 1
    progress: bool = True
    lm_scale: float | None = None
    teacher_order: int = 0
    teacher_folds: int = 5
    teacher_scale: float = 0.3

    def __post_init__(self) -> None:
        problems = []
        if self.update not in UPDATE_CHOICES:
            problems.append(f"update={self.update!r} is not one of {', '.join(UPDATE_CHOICES)}")
        if self.kl_scale < 0:
            problems.append(f"kl_scale={self.kl_scale} must be >= 0")
        if self.epochs < 1:
            problems.append(f"epochs={self.epochs} must be >= 1")
        if not self.lr > 0:
            problems.append(f"lr={self.lr} must be > 0")
        if self.batch_size < 1:
            problems.append(f"batch_size={self.batch_size} must be >= 1")
        if not self.teacher_scale >= 0:
            problems.append(f"teacher_scale={self.teacher_scale} must be >= 0")
        if self.teacher_order < 0 or (self.teacher_order and self.teacher_folds < 2):
            problems.append(f"teacher_order={self.teacher_order} must be >= 0, and teacher_folds={self.teacher_folds} "
                            ">= 2 with a teacher (each part is scored by an n-gram of the others)")
        if self.lm_scale is not None and not self.lm_scale >= 0:
            problems.append(f"lm_scale={self.lm_scale} must be >= 0")
        if problems:
            raise ValueError("invalid adaptation options: " + "; ".join(problems))


@dataclass
class AdaptStats:
    """What one adaptation did. Cross-entropies are nats per token of the adaptation text."""

    steps: int = 0
    trainable_parameters: int = 0
    ilm_ce_before: float = math.nan
    ilm_ce_after: float = math.nan
    kl_after: float = math.nan
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)


@dataclass
class AdaptResult:
    out_dir: Path
    text: TokenizedText
    stats: AdaptStats


def check_ilm_compatible(model: nn.Module, update: str) -> Transducer:
    """The model as a ``Transducer`` whose internal LM ``adapt_model`` can train with ``update``;
    ``ModelDirError`` naming what is missing otherwise."""
    if not isinstance(model, Transducer):
        raise ModelDirError(f"ILM adaptation needs a Transducer, got {type(model).__name__}")
    joiner = model.joiner
    missing = [name for name in ("output_without_encoder", "project_decoder", "output_linear") if not hasattr(joiner, name)]
    if missing:
        raise ModelDirError(f"ILM adaptation needs a joiner with an encoder-free output (an additive joiner "
                            f"with project_decoder, output_linear, output_without_encoder); "
                            f"{type(joiner).__name__} lacks {', '.join(missing)}")
    if model.config.vocab_size < 3:
        raise ModelDirError(f"vocab_size={model.config.vocab_size}: an internal LM needs at least two non-blank tokens")
    if update == "predictor+joiner" and not any(True for _ in model.predictor.parameters()):
        raise ModelDirError("update=predictor+joiner: the predictor has no parameters")
    if update == "vocab-predictor" and not model.config.vocab_predictor:
        raise ModelDirError("update=vocab-predictor needs a factorized model with FNT's vocabulary predictor "
                            "(model.vocab_predictor); this one has none")
    return model


def trainable_parameters(model: Transducer, update: str) -> list[nn.Parameter]:
    """The parameters ``update`` trains (see the module docstring)."""
    if update not in UPDATE_CHOICES:
        raise ValueError(f"update={update!r} is not one of {', '.join(UPDATE_CHOICES)}")
    params = list(model.joiner.ilm_output_layer.parameters())
    if update in ("joiner", "predictor+joiner"):
        params += [p for layer in model.joiner.ilm_hidden_layers for p in layer.parameters()]
    if update == "vocab-predictor" or (update == "predictor+joiner" and model.config.vocab_predictor):
        params += list(model.predictor.vocab.parameters())  # the blank predictor gets no ILM gradient
    elif update == "predictor+joiner":
        params += list(model.predictor.parameters())
    return params


def _ilm_positions(model: Transducer, y: Tensor, grad: bool) -> Tensor:
    """ILM log-probs (N, U, V) before each target of padded ``y`` (N, U), the blank's at -inf."""
    sos_y = torch.cat([y.new_full((y.size(0), 1), model.blank_id), y], dim=1)
    with torch.set_grad_enabled(grad):
        decoder_out = model.predictor(sos_y)[:, :-1]
    return model.internal_lm_log_probs(decoder_out)


def ilm_terms(model: Transducer, reference: Transducer, sentences: Sequence[Sequence[int]],
              predictor_grad: bool = True, teacher: Sequence[Tensor] | None = None,
              teacher_scale: float = 0.3) -> tuple[Tensor, Tensor, int]:
    """(summed CE of the sentences under ``model``'s ILM, summed KL(model ILM || reference ILM)
    over their positions, number of tokens). The KL runs over the non-blank tokens.

    ``teacher``: per sentence, the (U, V) n-gram log-probs before each token; the CE's target is
    then the fusion distribution of the reference ILM and the n-gram (module docstring), not the
    next token."""
    y, y_lens = pad_targets(sentences, model.blank_id, next(model.parameters()).device)
    mask = torch.arange(y.size(1), device=y.device)[None, :] < y_lens[:, None]  # (N, U)
    log_probs = _ilm_positions(model, y, predictor_grad)
    with torch.no_grad():  # scoring a model against itself (ilm_cross_entropy) needs one pass, not two
        ref_log_probs = log_probs.detach() if reference is model else _ilm_positions(reference, y, False)
    keep = [v for v in range(log_probs.size(-1)) if v != model.blank_id]
    p_log, q_log = log_probs[..., keep], ref_log_probs[..., keep]
    if teacher is None:
        ce = -log_probs.gather(-1, y.clamp(min=0)[..., None])[..., 0].masked_fill(~mask, 0.0).sum()
    else:
        ngram = torch.zeros_like(log_probs)
        for i, rows in enumerate(teacher):
            ngram[i, :rows.size(0)] = rows.to(ngram.dtype)
        target = (q_log + teacher_scale * ngram[..., keep]).log_softmax(-1).exp()
        ce = -(target * p_log).sum(-1).masked_fill(~mask, 0.0).sum()
    kl = (p_log.exp() * (p_log - q_log)).sum(-1).masked_fill(~mask, 0.0).sum()
    return ce, kl, int(y_lens.sum())


def teacher_log_probs(lm: TokenNgramLM, sentences: Sequence[Sequence[int]]) -> list[Tensor]:
    """Per sentence, the n-gram's (U, V) log-probs of every token before each of its U tokens."""
    return [torch.stack([lm.log_probs(s[:i]) for i in range(len(s))]) for s in sentences]


def cross_fitted_teacher(sentences: Sequence[Sequence[int]], vocab_size: int, blank_id: int, order: int,
                         folds: int, seed: int = 0, progress: bool = False) -> list[Tensor]:
    """Per sentence, (U, V) log-probs of an order-``order`` token n-gram trained on the other
    ``folds - 1`` parts of ``sentences`` (a seeded random split), never on the sentence itself."""
    shuffled = torch.randperm(len(sentences), generator=torch.Generator().manual_seed(seed)).tolist()
    rows: list[Tensor | None] = [None] * len(sentences)
    for fold in tqdm(range(folds), desc="teacher n-grams", unit="fold", disable=not progress):
        held = shuffled[fold::folds]
        rest = [sentences[i] for j, i in enumerate(shuffled) if j % folds != fold]
        lm = TokenNgramLM(train_token_ngram(rest, vocab_size, order=order, blank_id=blank_id), vocab_size, blank_id)
        for i, r in zip(held, teacher_log_probs(lm, [sentences[i] for i in held])):
            rows[i] = r
    return rows  # type: ignore[return-value]


def _batches(sentences: Sequence[Sequence[int]], batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """Sentence indices sorted by length into batches (little padding), the batch order shuffled."""
    ordered = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    batches = [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


@torch.no_grad()
def ilm_cross_entropy(model: Transducer, sentences: Sequence[Sequence[int]], batch_size: int = 64) -> float:
    """Mean ILM cross-entropy (nats per token) of ``sentences``."""
    ce, _, count = _summed_ilm_terms(model, model, sentences, batch_size)
    return ce / max(count, 1)


@torch.no_grad()
def _summed_ilm_terms(model: Transducer, reference: Transducer, sentences: Sequence[Sequence[int]],
                      batch_size: int = 64) -> tuple[float, float, int]:
    """``ilm_terms`` summed over ``sentences``, in batches of similar lengths (padding a batch to
    its longest sentence is what costs, and the sums do not depend on the order)."""
    by_length = sorted(sentences, key=len)
    total_ce, total_kl, count = 0.0, 0.0, 0
    for i in range(0, len(by_length), batch_size):
        ce, kl, n = ilm_terms(model, reference, by_length[i:i + batch_size], predictor_grad=False)
        total_ce, total_kl, count = total_ce + float(ce), total_kl + float(kl), count + n
    return total_ce, total_kl, count


def adapt_model(model: Transducer, sentences: Sequence[Sequence[int]], config: AdaptConfig) -> AdaptStats:
    """ILMA of ``model`` in place on token-id ``sentences`` (see the module docstring)."""
    check_ilm_compatible(model, config.update)
    if not sentences or not any(sentences):
        raise ValueError("ILM adaptation needs at least one non-empty sentence")
    sentences = [list(s) for s in sentences if s]
    model.eval()
    reference = copy.deepcopy(model).eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    params = trainable_parameters(model, config.update)
    chosen = {id(p) for p in params}
    for p in model.parameters():
        p.requires_grad_(id(p) in chosen)
    optimizer = torch.optim.Adam(params, lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    stats = AdaptStats(trainable_parameters=sum(p.numel() for p in params))
    stats.ilm_ce_before = ilm_cross_entropy(model, sentences)
    predictor_grad = config.update in ("predictor+joiner", "vocab-predictor")
    teacher_rows = None
    if config.teacher_order:
        teacher_rows = cross_fitted_teacher(sentences, model.config.vocab_size, model.blank_id, config.teacher_order,
                                            config.teacher_folds, config.seed, config.progress)
    steps_per_epoch = math.ceil(len(sentences) / config.batch_size)
    start = time.perf_counter()
    with tqdm(total=config.epochs * steps_per_epoch, desc=f"ILMA ({config.update})", unit="step",
              disable=not config.progress, mininterval=2.0) as bar:
        for _ in range(config.epochs):
            for indices in _batches(sentences, config.batch_size, generator):
                batch = [sentences[i] for i in indices]
                rows = [teacher_rows[i] for i in indices] if teacher_rows is not None else None
                ce, kl, num_tokens = ilm_terms(model, reference, batch, predictor_grad, rows, config.teacher_scale)
                loss = (ce + config.kl_scale * kl) / max(num_tokens, 1)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                stats.steps += 1
                stats.losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(ce=f"{ce.item() / num_tokens:.3f}", kl=f"{kl.item() / num_tokens:.4f}")
    stats.seconds = time.perf_counter() - start
    for p in model.parameters():
        p.requires_grad_(True)
    ce, kl, count = _summed_ilm_terms(model, reference, sentences)
    stats.ilm_ce_after, stats.kl_after = ce / max(count, 1), kl / max(count, 1)
    return stats


def adapt_model_dir(model_dir: str | Path, text: str | Path, out_dir: str | Path,
                    config: AdaptConfig | None = None, overwrite: bool = False) -> AdaptResult:
    """ILMA of the model dir ``model_dir`` on the text file ``text``; writes the adapted model dir
    ``out_dir`` (with ``adapt.json``) atomically.

    Raises ``ModelDirError`` for a bad source dir, an existing ``out_dir`` without ``overwrite``,
    ``out_dir`` equal to the source, or a model whose joiner has no internal LM; ``TokenizerError``
    for a missing or empty text, text that tokenizes to nothing, or (``strict``) a line with
    characters outside the token set.
    """
    config = config or AdaptConfig()
    model_dir, text, out_dir = Path(model_dir), Path(text), Path(out_dir)
    if out_dir.exists() and out_dir.resolve() == model_dir.resolve():
        raise ModelDirError(f"{out_dir}: the adapted model must not replace its source {model_dir}")
    if out_dir.exists() and not overwrite:
        raise ModelDirError(f"{out_dir}: already exists (pass overwrite=True / --overwrite to replace it)")
    torch.set_num_threads(config.num_threads)
    torch.manual_seed(config.seed)
    loaded = load_model_dir(model_dir)
    model = check_ilm_compatible(loaded.model, config.update)
    if config.lm_scale is not None and not loaded.config.factorized_joiner:
        raise ModelDirError(f"lm_scale={config.lm_scale}: only a factorized joiner (model.factorized_joiner) has an "
                            f"LM weight; {model_dir} has none")
    tokenized = read_token_sentences(text, loaded.tokenizer, strict=config.strict)
    log.info("%s", tokenized.summary())
    if config.teacher_order:
        log.info("target: the fusion of the unadapted ILM and %d-gram(s) of the text (weight %g), cross-fitted over "
                 "%d parts", config.teacher_order, config.teacher_scale, config.teacher_folds)
    uniform = math.log(loaded.config.vocab_size - 1)
    stats = adapt_model(model, tokenized.sentences, config)
    if stats.ilm_ce_before >= uniform:
        log.warning("the unadapted internal LM scores %.3f nats/token on %s, no better than a uniform guess (%.3f): "
                    "was %s trained with an ILM loss (loss.ilm_loss_scale > 0)? ILMA needs one",
                    stats.ilm_ce_before, text, uniform, model_dir)
    log.info("ILM cross-entropy %.3f -> %.3f nats/token, KL to the unadapted ILM %.4f, %d steps in %.1f s",
             stats.ilm_ce_before, stats.ilm_ce_after, stats.kl_after, stats.steps, stats.seconds)
    # overwrite: an existing out_dir was refused above unless the caller asked to replace it
    with atomic_dir(out_dir, overwrite=True) as tmp:
        out_config = loaded.config
        if config.lm_scale is not None:
            out_config = dataclasses.replace(out_config, factorized_lm_scale=config.lm_scale)
            model.joiner.lm_scale = config.lm_scale
        save_model_dir(tmp, model, out_config, model_dir, loaded.feature_options)
        info = {
            "source_model_dir": str(model_dir), "text": str(text), "config": asdict(config),
            "text_summary": tokenized.summary(), "sentences": len(tokenized.sentences),
            "tokens": tokenized.num_tokens, "skipped_empty_lines": tokenized.skipped_empty,
            "skipped_unknown_lines": tokenized.skipped_unknown, "unknown_chars": dict(tokenized.unknown_chars),
            "steps": stats.steps, "trainable_parameters": stats.trainable_parameters,
            "ilm_ce_before": stats.ilm_ce_before, "ilm_ce_after": stats.ilm_ce_after, "kl_after": stats.kl_after,
            "adaptation_seconds": stats.seconds,
        }
        with atomic_write(tmp / ADAPT_INFO) as f:
            json.dump(info, f, indent=1)
            f.write("\n")
        load_model_dir(tmp)  # what we publish must load
    return AdaptResult(out_dir, tokenized, stats)
