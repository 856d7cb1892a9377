"""Atomic file writing: a reader never sees a half-written file, and a failure leaves the old one."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Iterator


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set back at once)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _publish(tmp: str | os.PathLike, target: Path) -> None:
    """Give ``tmp`` the mode a plain ``open()`` would (mkstemp makes it 0600), then rename it over ``target``."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, target)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temp file beside ``path``; on success rename it over ``path``, on error delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        _publish(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_path(path: str | os.PathLike) -> contextlib.AbstractContextManager[Path]:
    """Yield a temp path beside ``path`` for libraries that want a filename (torch.save, sf.write)."""

    @contextlib.contextmanager
    def _ctx() -> Iterator[Path]:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp" + target.suffix)
        os.close(fd)
        try:
            yield Path(tmp)
            _publish(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    return _ctx()


@contextlib.contextmanager
def atomic_dir(out: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temp dir beside ``out``; on success it replaces ``out`` (an existing one only after
    the new one is complete: a reader sees the old dir or the new one, never a mix), on error it is
    removed. An existing ``out`` without ``overwrite`` is a ``FileExistsError``."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: already exists (pass --overwrite to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # as a plain mkdir would make it (mkdtemp makes it 0700)
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
            os.replace(out, old / "dir")
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in blocks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_dir_config(directory: str | os.PathLike, config_name: str, kind: str, how_to_make: str) -> dict:
    """The JSON object ``directory/config_name`` that marks a model dir of ``kind``; ``ModelDirError``
    when it is missing (``how_to_make`` says what writes one) or not JSON."""
    import json

    from asr.errors import ModelDirError

    config_path = Path(directory) / config_name
    if not config_path.is_file():
        raise ModelDirError(f"{directory}: no {config_name}: not a {kind} model dir (make one with {how_to_make})")
    try:
        return json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ModelDirError(f"{config_path}: not JSON ({e})") from e


def check_recorded_sha256(directory: str | os.PathLike, recorded: dict[str, str], config_name: str, built: str,
                          consequence: str) -> None:
    """Each file named in ``recorded`` (name -> the sha256 ``config_name`` recorded) must be in
    ``directory`` with that hash; otherwise ``ModelDirError`` names the file: it is not the one
    ``built`` was built and saved with, and ``consequence`` says what would go wrong."""
    from asr.errors import ModelDirError

    directory = Path(directory)
    for name, digest in recorded.items():
        if not (directory / name).is_file():
            raise ModelDirError(f"{directory}: {name} missing")
        if sha256_file(directory / name) != digest:
            what = f"the {built} that was saved" if name == built else f"the {name} {built} was built and saved with"
            raise ModelDirError(f"{directory}/{name}: not {what} (its sha256 differs from {config_name}): {consequence}")
