"""Durable private files: written in full under a temp name, fsynced, then renamed or linked.

A reader sees the old content or the new, never a mix, and a crash leaves no half-written file.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

_IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 16

Data = bytes | Sequence[bytes]  # the content, or its parts in order (written without a join)


def _write_all(fd: int, data: Data) -> None:
    buffers = [data] if isinstance(data, bytes) else data
    for start in range(0, len(buffers), _IOV_MAX):
        batch = buffers[start : start + _IOV_MAX]
        written = os.writev(fd, batch)
        if written < sum(len(buffer) for buffer in batch):  # short: write the rest plainly
            rest = memoryview(b"".join(batch))[written:]
            while rest:
                rest = rest[os.write(fd, rest) :]


def _write_temp(path: Path, data: Data, mtime_ns: int | None = None) -> tuple[Path, os.stat_result]:
    """`data` durably in a new 0600 temp file beside `path`; (its path, its stat)."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
            if mtime_ns is not None:
                os.utime(fd, ns=(mtime_ns, mtime_ns))
            return tmp, os.fstat(fd)
        finally:
            os.close(fd)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_private_file(
    path: Path,
    data: Data,
    *,
    after_ns: int | None = None,
    before_rename: Callable[[os.stat_result], None] | None = None,
) -> os.stat_result:
    """Durably replace `path` with `data`, mode 0600: temp file, fsync, rename, fsync the folder.

    With `after_ns`, the new file's mtime is set later than it, so each version stats uniquely.
    `before_rename` is called with the new file's stat (which the rename keeps) just before the
    rename; if it raises, nothing is replaced.
    """
    mtime = None if after_ns is None else max(time.time_ns(), after_ns + 1)
    tmp, st = _write_temp(path, data, mtime)
    try:
        if before_rename is not None:
            before_rename(st)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return st


def create_file_once(path: Path, data: bytes) -> None:
    """Create `path` holding `data` unless it exists; concurrent first starts agree on one file.

    The content is written and fsynced under a temp name and then linked into place, so nobody
    ever reads the file half written.
    """
    if path.exists():
        return
    tmp, _ = _write_temp(path, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return
    finally:
        tmp.unlink()
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
