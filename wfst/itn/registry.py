"""The set of ITN category grammars, compiled once and cached on disk.

``GrammarSet.load()`` compiles (or reads from the disk cache) one normalizer FST (spoken ->
written) and one verbalizer FST (written -> spoken) per category. Each category's cache entry
is keyed by a sha256 fingerprint of: the grammar sources in this package, the pynini version,
the category name, the source of an override (when one replaces the category) and, for the
whitelist, the user whitelist file's contents. A file's name also carries the sha256 of its
bytes, so a truncated or corrupt file is noticed and rebuilt. Files are written atomically.

Cache layout (``~/.cache/asr/itn/`` by default)::

    <category>-<normalizer|verbalizer>-<fingerprint[:16]>-<content sha256[:16]>.fst.gz

(gzip of OpenFst's binary format: about 8x smaller on disk, and decompressing costs less than
a millisecond a file.)

Compiled normalizers that ship with the package live in ``wfst/itn/compiled/`` in the same
layout and are used read-only when their fingerprint matches (``python -m wfst.itn
--ship`` regenerates them).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib
import inspect
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable, Union

import pynini

from asr.errors import GrammarError
from asr.text import number_words
from asr.utils.io import atomic_write
from wfst.itn import common

CATEGORIES: tuple[str, ...] = (
    "cardinal",
    "ordinal",
    "decimal",
    "fraction",
    "money",
    "measure",
    "date",
    "time",
    "telephone",
    "electronic",
    "whitelist",
    "roman",
)
KINDS = ("normalizer", "verbalizer")
# Bump when the cache file layout changes (it is part of every fingerprint).
CACHE_FORMAT = "1"
# Cached fingerprints kept per category and kind; older ones are deleted when a new one is written.
KEEP_PER_CATEGORY = 4
SUFFIX = ".fst.gz"
PACKAGE_DIR = Path(__file__).resolve().parent
SHIPPED_DIR = PACKAGE_DIR / "compiled"
DEFAULT_CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "asr" / "itn"

# An override is a module with ``build_normalizer()`` (and optionally ``build_verbalizer()``),
# or a bare function returning the normalizer; the verbalizer is then its inverse.
Override = Union[ModuleType, Callable[[], pynini.Fst]]


def read_whitelist_file(path: str | os.PathLike) -> dict[str, str]:
    """Read a user whitelist: one ``spoken<TAB>written`` pair a line; '#' starts a comment line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise GrammarError(f"whitelist file {path}: cannot read it ({e})") from e
    entries: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise GrammarError(f"whitelist file {path}, line {lineno}: expected 'spoken<TAB>written', got {line!r}")
        spoken = " ".join(parts[0].lower().split())
        entries[spoken] = parts[1].strip()
    return entries


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _serialize(fst: pynini.Fst) -> bytes:
    """The cache file's bytes: gzip of the binary FST (mtime 0, so equal FSTs give equal files)."""
    return gzip.compress(fst.write_to_string(), compresslevel=9, mtime=0)


def grammar_sources_digest() -> str:
    """sha256 of the grammar sources: every module of this package but the registry itself, and
    the number words they share with the pure-Python span rules."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.glob("*.py")) + [Path(number_words.__file__)]:
        if path.name in ("registry.py", "__init__.py"):
            continue
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _override_source(override: Override) -> str | None:
    """Source text identifying an override, or None when it has none (then it is never cached)."""
    try:
        return inspect.getsource(override)
    except (OSError, TypeError):
        return None


@dataclass
class _Builder:
    """How to compile one category, and the fingerprint of that recipe (None: do not cache)."""

    category: str
    build_normalizer: Callable[[], pynini.Fst]
    # Takes the category's compiled normalizer when there is one (to invert instead of recompiling).
    build_verbalizer: Callable[[pynini.Fst | None], pynini.Fst]
    fingerprint: str | None


@dataclass
class GrammarSet:
    """Compiled ITN grammars, one normalizer and one verbalizer per category.

    Use :meth:`load`. ``normalize``/``verbalize`` take one span (a few words / one written token
    group) and return the single best conversion, or None when the category's FST rejects it.
    """

    normalizers: dict[str, pynini.Fst]
    fingerprints: dict[str, str | None]
    cache_dir: Path
    _builders: dict[str, _Builder] = field(repr=False)
    _verbalizers: dict[str, pynini.Fst] = field(default_factory=dict, repr=False)
    build_seconds: float = 0.0
    use_shipped: bool = True

    @property
    def categories(self) -> list[str]:
        """Category names, built-ins first in their fixed order, then added ones."""
        return list(self.normalizers)

    @classmethod
    def load(
        cls,
        cache_dir: str | os.PathLike | None = None,
        whitelist_file: str | os.PathLike | None = None,
        overrides: dict[str, Override] | None = None,
        use_shipped: bool = True,
    ) -> "GrammarSet":
        """Load every category's normalizer from the cache, compiling (and caching) missing ones.

        ``whitelist_file``: TSV ``spoken<TAB>written`` pairs that extend the whitelist and win
        over its built-in entries. ``overrides``: category name -> module or builder function;
        replaces a built-in category or adds a new one, leaving the others untouched.
        ``use_shipped``: also look for current compiled normalizers shipped in the package.
        """
        cache = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
        builders = _builders(whitelist_file, overrides or {})
        normalizers: dict[str, pynini.Fst] = {}
        fingerprints: dict[str, str | None] = {}
        gs = cls(normalizers=normalizers, fingerprints=fingerprints, cache_dir=cache, _builders=builders, use_shipped=use_shipped)
        for name, builder in builders.items():
            fingerprints[name] = builder.fingerprint
            fst = gs._cached(builder, "normalizer")
            if fst is None:
                start = time.perf_counter()
                fst = _compile(builder, "normalizer")
                verbalizer = _compile(builder, "verbalizer", fst)
                gs.build_seconds += time.perf_counter() - start
                gs._store(builder, "normalizer", fst)
                gs._store(builder, "verbalizer", verbalizer)
                gs._verbalizers[name] = verbalizer
            normalizers[name] = fst
        return gs

    def _files(self, directory: Path, builder: _Builder, kind: str) -> list[Path]:
        assert builder.fingerprint is not None
        return sorted(directory.glob(f"{builder.category}-{kind}-{builder.fingerprint[:16]}-*{SUFFIX}"))

    def _cached(self, builder: _Builder, kind: str) -> pynini.Fst | None:
        """The cached FST if a file with the right fingerprint and intact content exists."""
        if builder.fingerprint is None:
            return None
        for directory in (self.cache_dir, SHIPPED_DIR) if self.use_shipped else (self.cache_dir,):
            for path in self._files(directory, builder, kind):
                try:
                    data = path.read_bytes()
                except OSError:
                    continue
                if _sha256(data)[:16] != path.name[: -len(SUFFIX)].rsplit("-", 1)[-1]:
                    continue  # corrupt or truncated: ignored here, replaced by the next _store
                try:
                    return pynini.Fst.read_from_string(gzip.decompress(data))
                except Exception:  # a file whose hash matches but does not parse: rebuild
                    continue
        return None

    def _store(self, builder: _Builder, kind: str, fst: pynini.Fst) -> None:
        """Write ``fst`` into the cache dir atomically and drop older files of this category/kind."""
        if builder.fingerprint is None:
            return
        data = _serialize(fst)
        target = self.cache_dir / f"{builder.category}-{kind}-{builder.fingerprint[:16]}-{_sha256(data)[:16]}{SUFFIX}"
        try:
            with atomic_write(target, "wb") as f:
                f.write(data)
            for old in self._files(self.cache_dir, builder, kind):
                if old != target:  # a corrupt file under the same fingerprint
                    old.unlink(missing_ok=True)
            # Keep a few fingerprints per category (built-in, user whitelist, an override...).
            others = sorted(self.cache_dir.glob(f"{builder.category}-{kind}-*{SUFFIX}"), key=lambda p: p.stat().st_mtime)
            for old in others[:-KEEP_PER_CATEGORY]:
                if old != target:
                    old.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only cache dir only costs a rebuild next time

    def _category(self, category: str) -> None:
        if category not in self.normalizers:
            raise KeyError(f"unknown ITN category {category!r}; known: {', '.join(self.categories)}")

    def normalizer(self, category: str) -> pynini.Fst:
        """The compiled spoken -> written FST of ``category``."""
        self._category(category)
        return self.normalizers[category]

    def verbalizer(self, category: str) -> pynini.Fst:
        """The compiled written -> spoken FST of ``category`` (read from the cache on first use)."""
        self._category(category)
        if category not in self._verbalizers:
            builder = self._builders[category]
            fst = self._cached(builder, "verbalizer")
            if fst is None:
                fst = _compile(builder, "verbalizer", self.normalizers[category])
                self._store(builder, "verbalizer", fst)
            self._verbalizers[category] = fst
        return self._verbalizers[category]

    def normalize(self, category: str, spoken: str) -> str | None:
        """Spoken span -> written form by ``category``'s grammar; None when it rejects the span.

        Whitespace is collapsed and the span lower-cased before matching.
        """
        text = " ".join(spoken.lower().split())
        if not text:
            return None
        return common.apply_best(self.normalizer(category), text)

    def verbalize(self, category: str, written: str) -> str | None:
        """Written form -> its canonical spoken form; None when ``category`` rejects it."""
        text = written.strip()
        if not text:
            return None
        return common.apply_best(self.verbalizer(category), text)

    def verbalize_all(self, category: str, written: str, limit: int = 10) -> list[str]:
        """Up to ``limit`` distinct spoken forms of ``written``, most usual first."""
        text = written.strip()
        if not text:
            return []
        return common.apply_all(self.verbalizer(category), text, limit)

    def size_bytes(self, category: str, kind: str = "normalizer", compressed: bool = True) -> int:
        """Size of one compiled FST in bytes, as stored in the cache (gzip) or uncompressed."""
        fst = self.normalizer(category) if kind == "normalizer" else self.verbalizer(category)
        return len(_serialize(fst)) if compressed else len(fst.write_to_string())


def _compile(builder: _Builder, kind: str, normalizer: pynini.Fst | None = None) -> pynini.Fst:
    """Run a builder; a failing or ill-typed override becomes a GrammarError naming the category."""
    try:
        fst = builder.build_normalizer() if kind == "normalizer" else builder.build_verbalizer(normalizer)
    except Exception as e:
        raise GrammarError(f"ITN category {builder.category!r}: building the {kind} failed: {e}") from e
    if not isinstance(fst, pynini.Fst):
        raise GrammarError(f"ITN category {builder.category!r}: the {kind} builder returned {type(fst).__name__}, not a pynini.Fst")
    return common.finalize(fst)


def fingerprints(whitelist_file: str | os.PathLike | None = None, overrides: dict[str, Override] | None = None) -> dict[str, str | None]:
    """Each category's cache fingerprint for these settings, without compiling anything."""
    return {name: b.fingerprint for name, b in _builders(whitelist_file, overrides or {}).items()}


def _builders(whitelist_file: str | os.PathLike | None, overrides: dict[str, Override]) -> dict[str, _Builder]:
    base = hashlib.sha256(
        f"format={CACHE_FORMAT}\0pynini={pynini.__version__}\0".encode() + grammar_sources_digest().encode()
    ).hexdigest()
    user_entries = read_whitelist_file(whitelist_file) if whitelist_file is not None else None
    builders: dict[str, _Builder] = {}
    for name in list(CATEGORIES) + [n for n in overrides if n not in CATEGORIES]:
        h = hashlib.sha256(f"{base}\0category={name}\0".encode())
        if name in overrides:
            builders[name] = _override_builder(name, overrides[name], h)
            continue
        module = importlib.import_module(f"wfst.itn.{name}")
        if name == "whitelist":
            entries = dict(user_entries or {})
            h.update(b"whitelist\0" + "\n".join(f"{k}\t{v}" for k, v in sorted(entries.items())).encode())
            builders[name] = _Builder(
                name,
                lambda m=module, e=entries: m.build_normalizer(e),
                lambda n, m=module, e=entries: m.build_verbalizer(e, normalizer=n),
                h.hexdigest(),
            )
        else:
            builders[name] = _Builder(
                name, module.build_normalizer, lambda n, m=module: m.build_verbalizer(normalizer=n), h.hexdigest()
            )
    return builders


def _override_builder(name: str, override: Override, h: "hashlib._Hash") -> _Builder:
    source = _override_source(override)
    if isinstance(override, ModuleType):
        if not hasattr(override, "build_normalizer"):
            raise GrammarError(f"override for ITN category {name!r}: module {override.__name__} has no build_normalizer()")
        build_normalizer = override.build_normalizer
        module_verbalizer = getattr(override, "build_verbalizer", None)
    elif callable(override):
        build_normalizer, module_verbalizer = override, None
    else:
        raise GrammarError(f"override for ITN category {name!r} must be a module or a function, got {type(override).__name__}")

    def build_verbalizer(normalizer: pynini.Fst | None) -> pynini.Fst:
        if module_verbalizer is None:
            return common.inverted(normalizer, build_normalizer)
        if "normalizer" in inspect.signature(module_verbalizer).parameters:
            return module_verbalizer(normalizer=normalizer)
        return module_verbalizer()

    fingerprint = None
    if source is not None:
        h.update(b"override\0" + source.encode())
        fingerprint = h.hexdigest()
    return _Builder(name, build_normalizer, build_verbalizer, fingerprint)


def main(argv: list[str] | None = None) -> None:
    """Compile all grammars; print build/load time and sizes; with --ship, write package data."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--ship", action="store_true", help=f"write the compiled normalizers to {SHIPPED_DIR}")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    gs = GrammarSet.load(cache_dir=args.cache_dir)
    first = time.perf_counter() - start
    start = time.perf_counter()
    GrammarSet.load(cache_dir=args.cache_dir)
    second = time.perf_counter() - start
    print(f"first load {first:.3f} s (compiling {gs.build_seconds:.3f} s), cached load {second:.3f} s")
    print(f"{'category':<12} {'normalizer':>12} {'(gzip)':>10} {'verbalizer':>12} {'(gzip)':>10}  bytes")
    totals = [0, 0, 0, 0]
    for name in gs.categories:
        row = [gs.size_bytes(name, kind, compressed) for kind in KINDS for compressed in (False, True)]
        totals = [t + r for t, r in zip(totals, row)]
        print(f"{name:<12} {row[0]:>12,} {row[1]:>10,} {row[2]:>12,} {row[3]:>10,}")
    print(f"{'total':<12} {totals[0]:>12,} {totals[1]:>10,} {totals[2]:>12,} {totals[3]:>10,}")
    if args.ship:
        SHIPPED_DIR.mkdir(exist_ok=True)
        for old in SHIPPED_DIR.glob(f"*{SUFFIX}"):
            old.unlink()
        shipped = GrammarSet(normalizers=gs.normalizers, fingerprints=gs.fingerprints, cache_dir=SHIPPED_DIR, _builders=gs._builders)
        for name in gs.categories:
            shipped._store(gs._builders[name], "normalizer", gs.normalizers[name])
        print(f"wrote {len(gs.categories)} normalizers to {SHIPPED_DIR}")


if __name__ == "__main__":
    main()
