"""The registry of search methods: every decoding path picks its search here, by name.

A search method is a ``SearchMethod`` object over a typed ``SearchState`` of N utterances:

- ``init_state(model, batch_size, device)``: the state before any encoder frame;
- ``step(model, encoder_out, encoder_out_lens, state, options)``: continue over the next encoder
  frames (a whole utterance offline, one chunk when streaming);
- ``finalize(model, state, options)``: after the last frame (a hook for methods that score the
  end of the sequence, e.g. an LM's end-of-sentence; the identity by default);
- ``best_hypotheses(state)``: the current best ``Hypothesis`` per utterance.

The state has its own batch operations (``stack``, ``unstack``, ``new_segment``), so
``OnlineRecognizer`` batches the searches of many streams without knowing which method runs.

Adding a method is one new module that defines a ``SearchMethod`` subclass decorated with
``@register_search("name")``, imported by ``asr/decoding/__init__.py``: ``decode_waveforms``,
``OnlineRecognizer``, ``python -m asr.decoding.evaluate``, ``asr transcribe`` and ``asr serve``
(whose ``--method`` choices come from ``search_method_names()``) then all offer it.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import torch
from torch import Tensor

from asr.decoding.hypothesis import Hypothesis
from asr.models.model import Transducer

if TYPE_CHECKING:
    from asr.decoding.options import DecodingOptions

S = TypeVar("S", bound="SearchState")


class SearchState(ABC):
    """Search state of N utterances, with its batch operations."""

    @classmethod
    @abstractmethod
    def stack(cls: type[S], states: Sequence[S]) -> S:
        """One state of all utterances of ``states``, in order."""

    @abstractmethod
    def unstack(self: S) -> list[S]:
        """One batch-1 state per utterance (sharing no tensors with the batch)."""

    @abstractmethod
    def best_hypotheses(self) -> list[Hypothesis]:
        """The best hypothesis of each utterance."""

    @abstractmethod
    def new_segment(self: S) -> S:
        """A state with every utterance's tokens cleared and its predictor context kept (an
        endpoint starts a new segment of the same stream)."""


class SearchMethod(ABC):
    """One search algorithm; instances are stateless and shared (see the module docstring).

    A method with settings of its own (an LM path and scale for shallow fusion, say) names a
    dataclass in ``options_type``; users set its fields with ``--method-option KEY=VALUE`` (or
    ``DecodingOptions(method_options=...)``), and ``step`` reads them as ``options.method_config``.
    """

    #: the registered name (``DecodingOptions.method``), set by ``register_search``
    name: str = ""
    #: the dataclass of this method's own settings (None: it has none)
    options_type: type | None = None

    def parse_options(self, pairs: Sequence[tuple[str, str]]) -> object | None:
        """``options_type`` built from ``(field, text value)`` pairs, each value converted to the
        field's type; ``ValueError`` naming an unknown field, a bad value, or options given to a
        method that takes none."""
        if self.options_type is None:
            if pairs:
                raise ValueError(f"decoding method {self.name!r} takes no method options, got "
                                 f"{', '.join(k for k, _ in pairs)}")
            return None
        fields = {f.name: f for f in dataclasses.fields(self.options_type)}
        values: dict[str, object] = {}
        for key, text in pairs:
            if key not in fields:
                raise ValueError(f"decoding method {self.name!r} has no option {key!r}; its options are "
                                 f"{', '.join(sorted(fields))}")
            kind = fields[key].type if isinstance(fields[key].type, type) else str(fields[key].type)
            try:
                values[key] = _convert(text, kind)
            except ValueError:
                raise ValueError(f"decoding method {self.name!r}: option {key}={text!r} is not a {kind}") from None
        return self.options_type(**values)

    @abstractmethod
    def init_state(self, model: Transducer, batch_size: int, device: torch.device | str = "cpu") -> SearchState:
        """State of ``batch_size`` utterances before their first frame."""

    @abstractmethod
    def step(self, model: Transducer, encoder_out: Tensor, encoder_out_lens: Tensor, state: SearchState,
             options: "DecodingOptions") -> SearchState:
        """Continue over encoder_out (N, T, C) with (N,) valid frames; returns the new state."""

    def finalize(self, model: Transducer, state: SearchState, options: "DecodingOptions") -> SearchState:
        """After an utterance's last frame; nothing to do for searches without end-of-sequence scores."""
        return state

    def best_hypotheses(self, state: SearchState) -> list[Hypothesis]:
        return state.best_hypotheses()

    @torch.no_grad()
    def search(self, model: Transducer, encoder_out: Tensor, encoder_out_lens: Tensor,
               options: "DecodingOptions") -> list[Hypothesis]:
        """Whole utterances: init, one step over all frames, finalize; best hypothesis each."""
        state = self.init_state(model, encoder_out.size(0), encoder_out.device)
        state = self.step(model, encoder_out, encoder_out_lens, state, options)
        return self.best_hypotheses(self.finalize(model, state, options))


def _convert(text: str, kind: type | str) -> object:
    """A method option's text as its field's type (dataclass fields may hold string annotations)."""
    name = kind.__name__ if isinstance(kind, type) else kind
    if name == "bool":
        if text.lower() in ("1", "true", "yes"):
            return True
        if text.lower() in ("0", "false", "no"):
            return False
        raise ValueError(text)
    if name == "int":
        return int(text)
    if name == "float":
        return float(text)
    return text


SEARCH_METHODS: dict[str, SearchMethod] = {}
"""Registered methods by name. Filled by ``register_search`` as the method modules are imported;
never edited elsewhere."""

M = TypeVar("M", bound=type[SearchMethod])


def register_search(name: str) -> Callable[[M], M]:
    """Class decorator: register an instance of a ``SearchMethod`` subclass under ``name``."""

    def register(cls: M) -> M:
        if not name or not name.replace("_", "").isalnum():
            raise ValueError(f"search method name {name!r}: use letters, digits and underscores")
        if name in SEARCH_METHODS:
            raise ValueError(f"search method {name!r} is already registered ({type(SEARCH_METHODS[name]).__name__})")
        if not (isinstance(cls, type) and issubclass(cls, SearchMethod)):
            raise TypeError(f"register_search({name!r}) needs a SearchMethod subclass, got {cls!r}")
        method = cls()
        method.name = name
        SEARCH_METHODS[name] = method
        return cls

    return register


def unregister_search(name: str) -> None:
    """Remove a registered method (plug-ins and tests that register temporary ones)."""
    SEARCH_METHODS.pop(name, None)


def search_method_names() -> tuple[str, ...]:
    """The registered method names, sorted: the one list every CLI offers."""
    return tuple(sorted(SEARCH_METHODS))


def get_search(name: str) -> SearchMethod:
    """The method registered as ``name``; ``ValueError`` naming the choices otherwise."""
    try:
        return SEARCH_METHODS[name]
    except KeyError:
        raise ValueError(f"unknown decoding method {name!r}: choose one of {', '.join(search_method_names())}") from None
