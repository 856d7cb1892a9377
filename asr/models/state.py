"""Streaming state: a small typed container of batch-first tensors, with its batch operations.

Each streaming component (encoder front end, encoder layers, predictor, search) owns a state type
derived from ``StreamingState``. A state is an ordered list of named tensors, batch first in every
one (``flatten()`` / ``names()``; ``docs/design.md``, "Streaming state contract", fixes the order
the ONNX export follows), so one implementation of the batch operations serves every component:

- ``stack(states)``: states of separate streams -> one batched state (concatenated on dim 0);
- ``unstack()``: a batched state -> one batch-1 state per stream (copies: a view would keep the
  whole batch's tensor alive for as long as any one stream of it waits for audio);
- ``select(index)`` / ``scatter(index, update)``: rows of a batched state, and a copy with rows replaced.

Subclasses that are plain dataclasses of tensors derive from ``TensorState`` and need no code;
dataclasses of other states (SURT's, FNT's pair of predictors) derive from ``NestedState``; the
encoder's state, a list of layer states, overrides ``flatten`` and ``with_tensors`` itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import TypeVar

import torch
from torch import Tensor

S = TypeVar("S", bound="StreamingState")


class StreamingState:
    """Base of every streaming state type: an ordered list of batch-first tensors."""

    def flatten(self) -> list[Tensor]:  # pragma: no cover - abstract
        """The tensors in contract order."""
        raise NotImplementedError

    def names(self) -> list[str]:  # pragma: no cover - abstract
        """One name per tensor of ``flatten()``, same order (ONNX input/output names)."""
        raise NotImplementedError

    def with_tensors(self: S, tensors: Sequence[Tensor]) -> S:  # pragma: no cover - abstract
        """A state of the same structure holding ``tensors`` (in ``flatten()`` order)."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[Tensor]:
        return iter(self.flatten())

    def __len__(self) -> int:
        return len(self.flatten())

    @property
    def batch_size(self) -> int:
        return self.flatten()[0].size(0)

    @classmethod
    def stack(cls, states: Sequence[S]) -> S:
        """Batch states of separate streams (each of batch 1 or more) along dim 0."""
        if not states:
            raise ValueError("cannot stack an empty list of states")
        structure = len(states[0])
        if any(len(s) != structure or type(s) is not type(states[0]) for s in states):
            raise ValueError(f"cannot stack states of different types or structure: {[type(s).__name__ for s in states]}")
        return states[0].with_tensors([torch.cat(parts, dim=0) for parts in zip(*(s.flatten() for s in states))])

    def unstack(self: S) -> list[S]:
        """One batch-1 state per stream (copies, not views)."""
        flat = self.flatten()
        return [self.with_tensors([t[i:i + 1].clone() for t in flat]) for i in range(self.batch_size)]

    def select(self: S, index: Tensor) -> S:
        """Rows ``index`` (K,) of a batched state: a state of batch K."""
        return self.with_tensors([t.index_select(0, index) for t in self.flatten()])

    def scatter(self: S, index: Tensor, update: S) -> S:
        """A copy with rows ``index`` (K,) replaced by ``update`` (batch K)."""
        return self.with_tensors([t.index_copy(0, index, u.to(t.dtype)) for t, u in zip(self.flatten(), update.flatten())])


class TensorState(StreamingState):
    """A ``StreamingState`` that is a dataclass whose fields are the tensors, in contract order."""

    def flatten(self) -> list[Tensor]:
        return [getattr(self, f.name) for f in dataclasses.fields(self)]  # type: ignore[arg-type]

    def names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self)]  # type: ignore[arg-type]

    def with_tensors(self: S, tensors: Sequence[Tensor]) -> S:
        return type(self)(*tensors)


class NestedState(StreamingState):
    """A ``StreamingState`` that is a dataclass of other states: their tensors in field order, each
    named ``<field>_<name>``; fields that are not states (settings such as a channel count) are
    carried as they are."""

    def _states(self) -> list[tuple[str, StreamingState]]:
        return [(f.name, v) for f in dataclasses.fields(self)  # type: ignore[arg-type]
                if isinstance(v := getattr(self, f.name), StreamingState)]

    def flatten(self) -> list[Tensor]:
        return [t for _, state in self._states() for t in state.flatten()]

    def names(self) -> list[str]:
        return [f"{field}_{name}" for field, state in self._states() for name in state.names()]

    def with_tensors(self: S, tensors: Sequence[Tensor]) -> S:
        parts, start = {}, 0
        for field, state in self._states():  # type: ignore[attr-defined]
            count = len(state)
            parts[field] = state.with_tensors(tensors[start:start + count])
            start += count
        return dataclasses.replace(self, **parts)  # type: ignore[type-var]
