"""ONNX export that sherpa-onnx's streaming transducer runtime loads unchanged.

    asr export onnx --model-dir exp/model --out exp/model-onnx [--chunk-ms 320] [--int8]

writes ``encoder.onnx``, ``decoder.onnx``, ``joiner.onnx`` and ``tokens.txt`` (``--int8`` adds
``encoder.int8.onnx``, ``decoder.int8.onnx``, ``joiner.int8.onnx``) into a temp dir beside
``--out`` and renames it into place, so ``--out`` is either complete or untouched.

Which sherpa-onnx contract, and why
-----------------------------------
sherpa-onnx picks the C++ model class from the encoder's ``model_type`` metadata
(``online-transducer-model.cc``). Each class fixes the encoder's state tensors:

- ``lstm``: two tensors (layers, N, d_model) / (layers, N, hidden): no room for attention caches.
- ``conformer``: an attention cache (layers, left_context, N, D), a conv cache (layers, K-1, N, D)
  and a ``processed_frames`` input: one cache per layer where we carry keys *and* values, and no
  place for our front end's caches (icefall's conformer front end has none, ours is causal with
  a cache of the last input rows).
- ``zipformer2``: six tensors per layer and two at the end, shapes derived from metadata
  (``online-zipformer2-transducer-model.cc``, ``GetEncoderInitStates``), stacked per stream on a
  fixed batch axis. Our causal chunked Conformer meets it **exactly**, with no change to the model:
  the six tensors of layer i carry a ``ConformerLayerState`` (key and value caches transposed to
  (L, N, D), the conv cache split in two halves; the nonlinear-attention and second value caches
  are unused and pass through), ``embed_states`` (N, 128, 3, E) carries the front end's
  ``SubsamplingState`` flattened and zero-padded, and ``processed_lens`` (N,) is
  ``EncoderState.processed_frames``. ``docs/design.md`` ("ONNX export") lists every tensor in
  order, with its shape and the state field it holds. The metadata fixes the shapes:
  ``model_type=zipformer2``, ``encoder_dims=D``, ``query_head_dims`` = ``value_head_dims`` = ``D/H``,
  ``num_heads=H``, ``num_encoder_layers``, ``cnn_module_kernels=K``, ``left_context_len=L``,
  ``T = decode_chunk_len = 4 * chunk`` (feature frames; our front end has no lookahead, so
  windows do not overlap).

Everything that knows our ``EncoderState`` is in ``SherpaStateAdapter`` (``to_ours`` /
``to_contract`` / ``init_states``); the rest of this module only sees the contract's tensors.

The decoder (``y`` (N, context_size) int64 -> (N, joiner_dim)) is the stateless predictor on a
``StatelessPredictorState.context``: ``-1`` is the zero embedding, so sherpa's initial context
``[-1, ..., -1, 0]`` is the context our search starts from (the predictor stepped on the blank).
As in icefall's exports, the joiner's encoder/decoder projections live in the encoder/decoder
graphs and the joiner takes projected inputs ((N, J), (N, J) -> (N, V) logits).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from asr.errors import ModelDirError
from asr.features import FbankOptions
from asr.decoding.options import DecodingOptions
from asr.models.config import ModelConfig
from asr.models.encoder import ConformerLayerState, EncoderState
from asr.models.model_dir import TOKENS, LoadedModel, load_model_dir
from asr.models.subsampling import SubsamplingState
from asr.utils.io import atomic_dir

MODEL_TYPE = "zipformer2"
ENCODER, DECODER, JOINER = "encoder.onnx", "decoder.onnx", "joiner.onnx"
INT8_SUFFIX = ".int8.onnx"
#: zipformer2's front-end cache shape is (N, EMBED_CHANNELS, EMBED_ROWS, ((F - 1) // 2 - 1) // 2)
EMBED_CHANNELS, EMBED_ROWS = 128, 3
#: the fbank sherpa-onnx computes (features.cc / OnlineRecognizer.from_transducer defaults)
SHERPA_FBANK = FbankOptions()


@dataclass
class OnnxExportOptions:
    """chunk_ms: encoder chunk baked into the graphs (a multiple of the model's 40 ms frame
    shift): sherpa-onnx decodes with ``T = decode_chunk_len = chunk_ms / 10`` feature frames.
    left_context_ms: attention left context (None: the model config's ``left_context_frames``).
    int8: also write dynamically quantized ``*.int8.onnx`` graphs (onnxruntime's quantizer).
    overwrite: replace an existing ``out`` dir (otherwise it is an error).
    opset: ONNX opset of the graphs.

    Chunk and left context mean what they mean when decoding (``DecodingOptions``, which checks them)."""

    chunk_ms: int = 320
    left_context_ms: int | None = None
    int8: bool = False
    overwrite: bool = False
    opset: int = 17

    def __post_init__(self) -> None:
        _ = self.decoding  # DecodingOptions refuses a non-positive chunk or a negative left context

    @property
    def decoding(self) -> DecodingOptions:
        """The streaming decoding the graphs run: ``asr transcribe``/``asr serve`` with these
        options (and ``max_sym_per_frame=1``) decode as sherpa-onnx decodes the export."""
        return DecodingOptions(chunk_ms=self.chunk_ms, left_context_ms=self.left_context_ms, max_sym_per_frame=1)


def _embed_dim(feature_dim: int) -> int:
    return ((feature_dim - 1) // 2 - 1) // 2


class SherpaStateAdapter:
    """Our ``EncoderState`` <-> sherpa-onnx's zipformer2 state tensors (module docstring).

    The only code of the export that knows our encoder's state: ``EncoderState(subsampling:
    SubsamplingState(input_cache (N,1,2,F), conv1_cache (N,C1,2,F1)), processed_frames (N,),
    layers: [ConformerLayerState(key (N,L,D), value (N,L,D), conv (N,D,K-1))])``
    (``docs/design.md``, "ONNX export").
    """

    PER_LAYER = 6

    def __init__(self, config: ModelConfig, left_context: int) -> None:
        self.config = config
        self.left = left_context
        self.dim = config.encoder_dim
        self.heads = config.num_heads
        self.layers = config.num_encoder_layers
        self.kernel = config.conv_kernel_size
        self.conv_half = self.kernel // 2
        #: zeros on the left of our K - 1 conv frames to fill zipformer2's 2 * (K // 2)
        self.conv_pad = 2 * self.conv_half - (self.kernel - 1)
        f = config.feature_dim
        f1 = (f - 3) // 2 + 1
        #: shapes (without N) of the SubsamplingState tensors, in their flatten() order
        self.subsampling_shapes = [(1, 2, f), (config.subsampling_channels[0], 2, f1)]
        self.embed_shape = (EMBED_CHANNELS, EMBED_ROWS, _embed_dim(f))
        needed = sum(int(np.prod(s)) for s in self.subsampling_shapes)
        capacity = int(np.prod(self.embed_shape))
        if needed > capacity:
            raise ModelDirError(f"the front-end caches ({needed} values a stream) do not fit zipformer2's "
                                f"embed_states {self.embed_shape} ({capacity} values): "
                                f"subsampling_channels[0]={config.subsampling_channels[0]} is too large to export")
        if self.left < 1:
            raise ModelDirError(f"left context of {self.left} frames: zipformer2's caches cannot be empty, export "
                                "needs a left context of at least one encoder frame (40 ms)")
        if self.kernel < 3:
            raise ModelDirError(f"conv_kernel_size={self.kernel}: exporting needs a kernel of at least 3")

    def names(self, prefix: str = "") -> list[str]:
        """Input (``prefix=''``) or output (``prefix='new_'``) names of the state tensors, in order."""
        names = []
        for i in range(self.layers):
            names += [f"{prefix}{n}_{i}" for n in ("cached_key", "cached_nonlin_attn", "cached_val1", "cached_val2",
                                                   "cached_conv1", "cached_conv2")]
        return names + [f"{prefix}embed_states", f"{prefix}processed_lens"]

    def batch_axes(self) -> list[int]:
        """The axis sherpa-onnx stacks streams on, per state tensor (StackStates)."""
        return [1, 1, 1, 1, 0, 0] * self.layers + [0, 0]

    def metadata(self) -> dict[str, str]:
        head_dim = str(self.dim // self.heads)
        return {
            "model_type": MODEL_TYPE,
            "encoder_dims": str(self.dim),
            "query_head_dims": head_dim,
            "value_head_dims": head_dim,
            "num_heads": str(self.heads),
            "num_encoder_layers": str(self.layers),
            "cnn_module_kernels": str(self.kernel),
            "left_context_len": str(self.left),
        }

    def init_states(self, batch_size: int = 1) -> list[Tensor]:
        """Zero contract states, as sherpa-onnx's ``GetEncoderInitStates`` makes them."""
        n, d, left = batch_size, self.dim, self.left
        states: list[Tensor] = []
        for _ in range(self.layers):
            states += [torch.zeros(left, n, d), torch.zeros(1, n, left, 3 * d // 4), torch.zeros(left, n, d),
                       torch.zeros(left, n, d), torch.zeros(n, d, self.conv_half), torch.zeros(n, d, self.conv_half)]
        return states + [torch.zeros(n, *self.embed_shape), torch.zeros(n, dtype=torch.int64)]

    def to_ours(self, contract: Sequence[Tensor]) -> EncoderState:
        """Contract states -> our ``EncoderState`` (traceable: no data-dependent Python)."""
        if len(contract) != self.PER_LAYER * self.layers + 2:
            raise ValueError(f"expected {self.PER_LAYER * self.layers + 2} zipformer2 state tensors, got {len(contract)}")
        embed, processed = contract[-2], contract[-1]
        n = embed.size(0)
        flat = embed.reshape(n, -1)
        caches, start = [], 0
        for shape in self.subsampling_shapes:
            size = int(np.prod(shape))
            caches.append(flat[:, start:start + size].reshape(n, *shape))
            start += size
        layers = []
        for i in range(self.layers):
            key, _, value, _, conv1, conv2 = contract[self.PER_LAYER * i:self.PER_LAYER * (i + 1)]
            conv = torch.cat([conv1, conv2], dim=2)[:, :, self.conv_pad:]
            layers.append(ConformerLayerState(key.transpose(0, 1), value.transpose(0, 1), conv))
        return EncoderState(SubsamplingState(*caches), processed, layers)

    def to_contract(self, ours: EncoderState, passthrough: Sequence[Tensor]) -> list[Tensor]:
        """Our new ``EncoderState`` -> contract tensors; ``passthrough`` are the incoming contract
        states, whose unused slots are returned unchanged."""
        n = ours.batch_size
        flat = torch.cat([t.reshape(n, -1) for t in ours.subsampling.flatten()], dim=1)
        capacity = int(np.prod(self.embed_shape))
        flat = torch.nn.functional.pad(flat, (0, capacity - flat.size(1)))
        out: list[Tensor] = []
        for i, layer in enumerate(ours.layers):
            old = passthrough[self.PER_LAYER * i:self.PER_LAYER * (i + 1)]
            conv = torch.nn.functional.pad(layer.conv, (self.conv_pad, 0))
            out += [layer.key.transpose(0, 1), old[1], layer.value.transpose(0, 1), old[3],
                    conv[:, :, :self.conv_half], conv[:, :, self.conv_half:]]
        return out + [flat.reshape(n, *self.embed_shape), ours.processed_frames]


class _EncoderGraph(nn.Module):
    """(x (N, T, F), *contract states) -> (encoder_out (N, T/4, J) projected for the joiner, *new states)."""

    def __init__(self, loaded: LoadedModel, adapter: SherpaStateAdapter) -> None:
        super().__init__()
        self.encoder = loaded.model.encoder
        self.joiner = loaded.model.joiner
        self.adapter = adapter

    def forward(self, x: Tensor, *states: Tensor) -> tuple[Tensor, ...]:
        states_list = list(states)
        processed = states_list[-1]
        lens = torch.ones_like(processed) * x.size(1)  # sherpa-onnx only ever feeds full windows
        out, _, new_state = self.encoder.infer(x, lens, self.adapter.to_ours(states_list))
        return (self.joiner.project_encoder(out), *self.adapter.to_contract(new_state, states_list))


class _DecoderGraph(nn.Module):
    """y (N, context_size) int64, -1 = no token -> decoder_out (N, J) projected for the joiner."""

    def __init__(self, loaded: LoadedModel) -> None:
        super().__init__()
        self.predictor = loaded.model.predictor
        self.joiner = loaded.model.joiner

    def forward(self, y: Tensor) -> Tensor:
        return self.joiner.project_decoder(self.predictor(y, need_pad=False)[:, -1])


class _JoinerGraph(nn.Module):
    """(encoder_out (N, J), decoder_out (N, J)) -> logit (N, V)."""

    def __init__(self, loaded: LoadedModel) -> None:
        super().__init__()
        self.joiner = loaded.model.joiner

    def forward(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        return self.joiner(encoder_out, decoder_out)


def tokens_digest(tokens_path: Path) -> str:
    """sha1 of tokens.txt, stored in the graphs so a dir with another tokens.txt is refused."""
    return hashlib.sha1(tokens_path.read_bytes()).hexdigest()


def check_exportable(loaded: LoadedModel) -> None:
    """Raise ``ModelDirError`` for a model sherpa-onnx's streaming transducer cannot run as ours runs."""
    config, problems = loaded.config, []
    if config.architecture != "transducer":
        problems.append(f"architecture={config.architecture!r}: sherpa-onnx runs single-output transducers "
                        "(SURT's mask estimator and channels have no sherpa-onnx counterpart)")
    if config.predictor != "stateless":
        problems.append(f"predictor={config.predictor!r}: sherpa-onnx's transducer decoder has no state, "
                        "export needs the stateless predictor")
    if config.factorized_joiner:
        problems.append("factorized_joiner: sherpa-onnx's joiner adds one projected encoder frame and one "
                        "projected predictor output of joiner_dim, with no LM term")
    if config.blank_id != 0:
        problems.append(f"blank_id={config.blank_id}: sherpa-onnx hard-codes blank id 0")
    if loaded.tokenizer.vocab_size != config.vocab_size:
        problems.append(f"{TOKENS} has {loaded.tokenizer.vocab_size} tokens, config vocab_size={config.vocab_size}")
    ours, theirs = loaded.feature_options.to_dict(), SHERPA_FBANK.to_dict()
    differ = {k: ours[k] for k in ours if ours[k] != theirs.get(k)}
    if differ:
        problems.append(f"fbank options {differ} differ from sherpa-onnx's ({ {k: theirs.get(k) for k in differ} })")
    if problems:
        raise ModelDirError(f"{loaded.path}: cannot export to sherpa-onnx: " + "; ".join(problems))


def _add_metadata(path: Path, metadata: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, str(path))


def _export(module: nn.Module, args: tuple[Tensor, ...], path: Path, input_names: list[str],
            output_names: list[str], dynamic_axes: dict[str, dict[int, str]], opset: int) -> None:
    with torch.no_grad():
        torch.onnx.export(module, args, str(path), input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=opset, dynamo=False)


def _write_graphs(loaded: LoadedModel, adapter: SherpaStateAdapter, chunk: int, out: Path,
                  options: OnnxExportOptions) -> dict[str, str]:
    config = loaded.config
    feature_frames = chunk * config.subsampling_factor
    common = {"model_author": "asr", "version": "1", "tokens_sha1": tokens_digest(loaded.path / TOKENS),
              "vocab_size": str(config.vocab_size)}

    state_in, state_out = adapter.names(), adapter.names("new_")
    axes = {"x": {0: "N"}, "encoder_out": {0: "N"}}
    for names in (state_in, state_out):
        axes.update({name: {axis: "N"} for name, axis in zip(names, adapter.batch_axes())})
    x = torch.zeros(1, feature_frames, config.feature_dim)
    _export(_EncoderGraph(loaded, adapter).eval(), (x, *adapter.init_states(1)), out / ENCODER,
            ["x", *state_in], ["encoder_out", *state_out], axes, options.opset)
    encoder_meta = {**adapter.metadata(), "T": str(feature_frames), "decode_chunk_len": str(feature_frames),
                    "comment": "asr causal chunked Conformer in sherpa-onnx's zipformer2 streaming contract "
                               "(see asr/export/onnx.py)", **common}
    _add_metadata(out / ENCODER, encoder_meta)

    y = torch.full((1, config.context_size), -1, dtype=torch.int64)
    y[:, -1] = config.blank_id
    _export(_DecoderGraph(loaded).eval(), (y,), out / DECODER, ["y"], ["decoder_out"],
            {"y": {0: "N"}, "decoder_out": {0: "N"}}, options.opset)
    _add_metadata(out / DECODER, {"context_size": str(config.context_size), **common})

    j = torch.zeros(1, config.joiner_dim)
    _export(_JoinerGraph(loaded).eval(), (j, j), out / JOINER, ["encoder_out", "decoder_out"], ["logit"],
            {"encoder_out": {0: "N"}, "decoder_out": {0: "N"}, "logit": {0: "N"}}, options.opset)
    _add_metadata(out / JOINER, {"joiner_dim": str(config.joiner_dim), **common})
    return encoder_meta


def quantize_int8(out: Path) -> dict[str, tuple[int, int]]:
    """Write ``*.int8.onnx`` beside each graph (weights of MatMuls int8, as icefall's exports do).
    Returns name -> (float32 bytes, int8 bytes)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    sizes = {}
    for name in (ENCODER, DECODER, JOINER):
        src, dst = out / name, out / name.replace(".onnx", INT8_SUFFIX)
        quantize_dynamic(str(src), str(dst), op_types_to_quantize=["MatMul", "Gemm"], weight_type=QuantType.QInt8)
        metadata = {p.key: p.value for p in onnx.load(str(src)).metadata_props}
        _add_metadata(dst, metadata)  # keep sherpa-onnx's metadata whatever the quantizer does with it
        sizes[name] = (src.stat().st_size, dst.stat().st_size)
    return sizes


@dataclass
class OnnxExportResult:
    path: Path
    encoder_metadata: dict[str, str]
    #: graph name -> (float32 bytes, int8 bytes), with ``int8``
    int8_sizes: dict[str, tuple[int, int]] | None = None


def export_onnx(model_dir: str | Path, out: str | Path, options: OnnxExportOptions | None = None) -> OnnxExportResult:
    """Export a model dir for sherpa-onnx's streaming transducer (see the module docstring)."""
    options = options or OnnxExportOptions()
    loaded = load_model_dir(model_dir)  # ModelDirError for missing/mismatched tokens.txt or config
    check_exportable(loaded)
    config, decoding = loaded.config, options.decoding
    chunk = decoding.chunk_frames(config.frame_shift_ms)
    adapter = SherpaStateAdapter(config, decoding.left_context_frames(config.frame_shift_ms, config.left_context_frames))
    out = Path(out)
    with atomic_dir(out, options.overwrite) as tmp:
        metadata = _write_graphs(loaded, adapter, chunk, tmp, options)
        shutil.copyfile(loaded.path / TOKENS, tmp / TOKENS)
        sizes = quantize_int8(tmp) if options.int8 else None
    return OnnxExportResult(out, metadata, sizes)


@dataclass
class OnnxTransducer:
    """An exported dir opened with onnxruntime (the graphs sherpa-onnx runs, for checks and tests)."""

    encoder: object
    decoder: object
    joiner: object
    metadata: dict[str, str]
    tokens: list[str]
    context_size: int
    chunk_feature_frames: int

    def run_encoder(self, x: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        inputs = dict(zip([i.name for i in self.encoder.get_inputs()], [x, *states]))
        out = self.encoder.run(None, inputs)
        return out[0], out[1:]

    def run_decoder(self, y: np.ndarray) -> np.ndarray:
        return self.decoder.run(None, {"y": y.astype(np.int64)})[0]

    def run_joiner(self, encoder_out: np.ndarray, decoder_out: np.ndarray) -> np.ndarray:
        return self.joiner.run(None, {"encoder_out": encoder_out, "decoder_out": decoder_out})[0]


def _read_tokens(path: Path) -> list[str]:
    symbols: dict[int, str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise ModelDirError(f"{path}:{lineno}: expected 'token id', got {line!r}")
        symbols[int(parts[1])] = parts[0]
    if sorted(symbols) != list(range(len(symbols))):
        raise ModelDirError(f"{path}: token ids are not 0..{len(symbols) - 1}")
    return [symbols[i] for i in range(len(symbols))]


def load_onnx_dir(path: str | Path, int8: bool = False, num_threads: int = 1) -> OnnxTransducer:
    """Open an exported dir; refuse one whose graphs' metadata disagrees with its tokens.txt."""
    import onnxruntime as ort

    path = Path(path)
    names = [n.replace(".onnx", INT8_SUFFIX) if int8 else n for n in (ENCODER, DECODER, JOINER)]
    missing = [n for n in [*names, TOKENS] if not (path / n).is_file()]
    if missing:
        raise ModelDirError(f"{path}: not an exported ONNX dir, missing {missing}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = num_threads
    sessions = [ort.InferenceSession(str(path / n), opts, providers=["CPUExecutionProvider"]) for n in names]
    metas = [s.get_modelmeta().custom_metadata_map for s in sessions]
    tokens = _read_tokens(path / TOKENS)
    digest = tokens_digest(path / TOKENS)
    problems = []
    if metas[0].get("model_type") != MODEL_TYPE:
        problems.append(f"{names[0]} model_type={metas[0].get('model_type')!r}, expected {MODEL_TYPE!r}")
    for name, meta in zip(names, metas):
        if meta.get("vocab_size") != str(len(tokens)):
            problems.append(f"{name} says vocab_size={meta.get('vocab_size')} but {TOKENS} has {len(tokens)} tokens")
        if meta.get("tokens_sha1") != digest:
            problems.append(f"{name} was exported with another {TOKENS} (sha1 {meta.get('tokens_sha1')}, "
                            f"this one {digest})")
    logits = sessions[2].get_outputs()[0].shape[-1]
    if isinstance(logits, int) and logits != len(tokens):
        problems.append(f"{names[2]} outputs {logits} logits but {TOKENS} has {len(tokens)} tokens")
    if problems:
        raise ModelDirError(f"{path}: refusing an inconsistent export: " + "; ".join(problems))
    return OnnxTransducer(sessions[0], sessions[1], sessions[2], metas[0], tokens,
                          int(metas[1]["context_size"]), int(metas[0]["T"]))
