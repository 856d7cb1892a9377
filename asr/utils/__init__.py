"""Small shared helpers."""

from __future__ import annotations

from collections.abc import Iterable


def fields_below(options: object, names: Iterable[str], bound: float, or_equal: bool = False) -> list[str]:
    """``"name=value"`` for each attribute of ``options`` in ``names`` whose value is below
    ``bound`` (or equal to it with ``or_equal``): what an options dataclass names in its error."""
    out = []
    for name in names:
        value = getattr(options, name)
        if value < bound or (or_equal and value == bound):
            out.append(f"{name}={value}")
    return out
