"""A small streaming transformer that tags spoken word tokens with BIO ITN categories.

Attention is banded: in the first layer token ``i`` sees tokens ``[i - left_context, i + lookahead]``,
in every later layer ``[i - left_context, i]``. So the whole stack looks exactly ``lookahead``
tokens ahead (the tag of token ``i`` is final once token ``i + lookahead`` is known) and at most
``num_layers * left_context`` tokens back, which lets a line of any length be tagged in windows
with exactly the result of tagging it whole. Positions enter as a learned relative bias per head
and offset (no absolute positions), for the same reason.

Weights ship quantized: matrices as int8 with one fp16 scale per row, the rest as fp16.
"""

from __future__ import annotations

import math
import pickle
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from asr.errors import ModelDirError
from asr.itn.tags import CATEGORIES, tag_names
from asr.utils.io import atomic_path

PAD, UNK, NUM = "<pad>", "<unk>", "<num>"
_DIGITS = re.compile(r"\d")


@dataclass
class TaggerConfig:
    """Shape of the tagger. ``categories`` fixes the tag inventory (see ``asr.itn.tags``)."""

    vocab_size: int = 6000
    d_model: int = 96
    num_heads: int = 4
    num_layers: int = 3
    ff_dim: int = 192
    left_context: int = 16
    lookahead: int = 3
    dropout: float = 0.1
    categories: tuple[str, ...] = field(default=CATEGORIES)

    @property
    def num_tags(self) -> int:
        return 1 + 2 * len(self.categories)

    @property
    def receptive_left(self) -> int:
        return self.num_layers * self.left_context


class WordVocab:
    """Word -> id. ``<pad>`` is 0, ``<unk>`` 1, ``<num>`` 2 (any token with a digit)."""

    def __init__(self, words: list[str]) -> None:
        if words[:3] != [PAD, UNK, NUM]:
            raise ModelDirError(f"ITN tagger vocabulary must start with {PAD} {UNK} {NUM}, got {words[:3]}")
        self.words = list(words)
        self._index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, sentences: list[list[str]], max_size: int, min_count: int = 2) -> "WordVocab":
        counts: dict[str, int] = {}
        for sent in sentences:
            for w in sent:
                if not _DIGITS.search(w):
                    counts[w] = counts.get(w, 0) + 1
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls([PAD, UNK, NUM] + ranked[: max_size - 3])

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, words: list[str]) -> list[int]:
        out = []
        for w in words:
            i = self._index.get(w.lower())
            out.append(i if i is not None else (2 if _DIGITS.search(w) else 1))
        return out


class _Layer(nn.Module):
    def __init__(self, cfg: TaggerConfig, lookahead: int) -> None:
        super().__init__()
        self.num_heads = cfg.num_heads
        self.left, self.lookahead = cfg.left_context, lookahead
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.rel_bias = nn.Parameter(torch.zeros(cfg.num_heads, self.left + lookahead + 1))
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.ff1 = nn.Linear(cfg.d_model, cfg.ff_dim)
        self.ff2 = nn.Linear(cfg.ff_dim, cfg.d_model)
        self.dropout = cfg.dropout
        self._band_cache: dict[tuple, torch.Tensor] = {}

    def band_bias(self, t: int, device: torch.device) -> torch.Tensor:
        """(1, H, T, T) additive bias: relative-position bias inside the band, -inf outside.

        Cached per length while the weights are unchanged (the parameter's version counter
        moves with every optimizer step), so inference does not rebuild it per call.
        """
        key = (t, str(device), self.rel_bias._version)
        cached = self._band_cache.get(key)
        if cached is not None and not torch.is_grad_enabled():
            return cached
        pos = torch.arange(t, device=device)
        offset = pos[None, :] - pos[:, None]  # (T, T): key - query
        inside = (offset >= -self.left) & (offset <= self.lookahead)
        bias = self.rel_bias[:, (offset + self.left).clamp(0, self.left + self.lookahead)]  # (H, T, T)
        bias = bias.masked_fill(~inside, float("-inf"))[None]
        if not torch.is_grad_enabled():
            if len(self._band_cache) > 512:
                self._band_cache.clear()
            self._band_cache[key] = bias
        return bias

    def forward(self, x: torch.Tensor, key_padding: torch.Tensor | None) -> torch.Tensor:
        """x: (N, T, D), key_padding: (N, T) True at padding, or None -> (N, T, D).

        Written with functional calls rather than submodule calls: at inference on one
        sentence, Module dispatch costs about a third of the layer's time.
        """
        n, t, d = x.shape
        p = self.dropout if self.training else 0.0
        h = F.layer_norm(x, (d,), self.norm1.weight, self.norm1.bias)
        qkv = F.linear(h, self.qkv.weight, self.qkv.bias)
        q, k, v = qkv.view(n, t, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        bias = self.band_bias(t, x.device)
        if key_padding is not None:
            bias = bias.masked_fill(key_padding[:, None, None, :], float("-inf"))
            # A padded query whose band holds only padding would give NaN; its output is discarded.
            bias = bias.masked_fill(torch.isinf(bias).all(-1, keepdim=True), 0.0)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # (N, H, T, D/H)
        a = F.linear(a.transpose(1, 2).reshape(n, t, d), self.out.weight, self.out.bias)
        x = x + (F.dropout(a, p, True) if p else a)
        h = F.gelu(F.linear(F.layer_norm(x, (d,), self.norm2.weight, self.norm2.bias), self.ff1.weight, self.ff1.bias))
        h = F.linear(F.dropout(h, p, True) if p else h, self.ff2.weight, self.ff2.bias)
        return x + (F.dropout(h, p, True) if p else h)


class ItnTaggerModel(nn.Module):
    """Word ids (N, T) -> tag logits (N, T, K), K = 1 + 2 * len(categories)."""

    def __init__(self, cfg: TaggerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model, padding_idx=0)
        self.layers = nn.ModuleList(
            _Layer(cfg, cfg.lookahead if i == 0 else 0) for i in range(cfg.num_layers)
        )
        self.norm = nn.LayerNorm(cfg.d_model)
        self.classifier = nn.Linear(cfg.d_model, cfg.num_tags)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """ids: (N, T) int64, lengths: (N,) -> logits (N, T, K)."""
        t = ids.shape[1]
        key_padding = None  # (N, T) True at padding; None when no row is padded
        if int(lengths.min()) < t:
            key_padding = torch.arange(t, device=ids.device)[None, :] >= lengths[:, None]
        x = F.embedding(ids, self.embed.weight, padding_idx=0) * math.sqrt(self.cfg.d_model)
        for layer in self.layers:
            x = layer.forward(x, key_padding)
        x = F.layer_norm(x, (self.cfg.d_model,), self.norm.weight, self.norm.bias)
        return F.linear(x, self.classifier.weight, self.classifier.bias)


def quantize_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Matrices -> int8 rows + fp16 row scales (``name.q``, ``name.scale``); other tensors -> fp16."""
    out: dict[str, torch.Tensor] = {}
    for name, w in state.items():
        if w.dim() == 2 and w.numel() >= 1024:
            scale = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127.0
            out[name + ".q"] = torch.round(w / scale).clamp(-127, 127).to(torch.int8)
            out[name + ".scale"] = scale.half()
        else:
            out[name] = w.half()
    return out


def dequantize_state(packed: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for name, w in packed.items():
        if name.endswith(".q"):
            base = name[:-2]
            state[base] = w.float() * packed[base + ".scale"].float()
        elif not name.endswith(".scale"):
            state[name] = w.float()
    return state


class Tagger:
    """A trained tagger with its vocabulary: tags whitespace-split word lists.

    ``tag`` runs a batched forward; lines longer than ``window`` tokens are tagged in windows with
    enough context on both sides that the result equals tagging the whole line.
    """

    def __init__(self, model: ItnTaggerModel, vocab: WordVocab, window: int = 256, batch_size: int = 64) -> None:
        self.model = model.eval()
        self.vocab = vocab
        self.cfg = model.cfg
        self.window = window
        self.batch_size = batch_size
        self.tag_names = tag_names(self.cfg.categories)

    @classmethod
    def load(cls, path: str | Path) -> "Tagger":
        path = Path(path)
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            cfg_dict = dict(blob["config"])
            cfg_dict["categories"] = tuple(cfg_dict["categories"])
            cfg = TaggerConfig(**cfg_dict)
            model = ItnTaggerModel(cfg)
            model.load_state_dict(dequantize_state(blob["weights"]))
            vocab = WordVocab(list(blob["vocab"]))
        except (OSError, RuntimeError, KeyError, TypeError, ValueError, EOFError, pickle.UnpicklingError) as e:
            raise ModelDirError(f"{path}: not a usable ITN tagger file ({e})") from e
        if len(vocab) != cfg.vocab_size:
            raise ModelDirError(f"{path}: vocabulary has {len(vocab)} words, config says {cfg.vocab_size}")
        return cls(model, vocab)

    def save(self, path: str | Path) -> None:
        blob = {
            "config": {**asdict(self.cfg), "categories": list(self.cfg.categories)},
            "vocab": self.vocab.words,
            "weights": quantize_state(self.model.state_dict()),
        }
        with atomic_path(path) as tmp:
            torch.save(blob, tmp)

    @torch.inference_mode()
    def tag(self, sentences: list[list[str]]) -> list[list[int]]:
        """Tag ids for each word of each sentence (argmax per token)."""
        pieces: list[tuple[int, int, int, list[int]]] = []  # (sentence, out_start, out_end, ids)
        left, right = self.cfg.receptive_left, self.cfg.lookahead
        for si, words in enumerate(sentences):
            ids = self.vocab.encode(words)
            for s in range(0, len(ids), self.window):
                e = min(len(ids), s + self.window)
                lo, hi = max(0, s - left), min(len(ids), e + right)
                pieces.append((si, s - lo, e - lo, ids[lo:hi]))
        out: list[list[int]] = [[0] * len(w) for w in sentences]
        offsets = [0] * len(sentences)
        pieces_sorted = sorted(range(len(pieces)), key=lambda k: len(pieces[k][3]))
        results: dict[int, list[int]] = {}
        for b in range(0, len(pieces_sorted), self.batch_size):
            idx = pieces_sorted[b : b + self.batch_size]
            t = max(len(pieces[k][3]) for k in idx)
            ids_t = torch.tensor([pieces[k][3] + [0] * (t - len(pieces[k][3])) for k in idx])
            lens = torch.tensor([len(pieces[k][3]) for k in idx])
            pred = self.model(ids_t, lens).argmax(-1).tolist()  # (N, T)
            for r, k in enumerate(idx):
                _, a, z, _ = pieces[k]
                results[k] = pred[r][a:z]
        for k, (si, a, z, _) in enumerate(pieces):  # pieces are in sentence order, windows in order
            out[si][offsets[si] : offsets[si] + (z - a)] = results[k]
            offsets[si] += z - a
        return out
