"""atomic_write / atomic_path: all or nothing, and the file mode a plain open() would give."""

from __future__ import annotations

import os

import pytest

from asr.utils.io import atomic_path, atomic_write


def _plain_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def test_atomic_write_replaces_and_gives_the_umask_mode(tmp_path):
    target = tmp_path / "sub" / "tokens.txt"
    with atomic_write(target) as f:
        f.write("<blk> 0\n")
    assert target.read_text() == "<blk> 0\n"
    assert target.stat().st_mode & 0o777 == _plain_mode()
    assert [p.name for p in target.parent.iterdir()] == ["tokens.txt"]


def test_atomic_write_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "text"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["text"]


def test_atomic_path_publishes_what_the_library_wrote(tmp_path):
    target = tmp_path / "model.pt"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_bytes(b"weights")
        assert not target.exists()
    assert target.read_bytes() == b"weights"
    assert target.stat().st_mode & 0o777 == _plain_mode()
    with pytest.raises(ValueError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise ValueError("bad")
    assert target.read_bytes() == b"weights"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
