"""A stdio server's whole process group ends with its probe: no grandchild outlives it.

mcp starts a stdio child in a new session, so the child's pid names its process group, but it
signals that group only when the child itself will not exit after the end of its input: a child
that does exit leaves its background grandchildren running. So while a probe runs, mcp's spawn
function is wrapped to record each child's pid, and the probe kills those groups when it ends,
however it ends (success, failure, timeout, cancellation).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any

# The pids of the stdio children the probe running in this context started. The tasks a
# fastmcp client starts inherit the context, so a spawn in any of them is recorded here.
_CHILDREN: ContextVar[list[int] | None] = ContextVar("probe_children", default=None)


def _record_children_of_probes() -> None:
    """Wrap mcp's spawn function once; outside a probe the wrapper records nothing."""
    import mcp.client.stdio as stdio

    spawn = stdio._create_platform_compatible_process
    if getattr(spawn, "records_probe_children", False):
        return

    async def recording_spawn(*args: Any, **kwargs: Any) -> Any:
        process = await spawn(*args, **kwargs)
        children = _CHILDREN.get()
        if children is not None:
            children.append(process.pid)
        return process

    recording_spawn.records_probe_children = True  # type: ignore[attr-defined]
    stdio._create_platform_compatible_process = recording_spawn


def _head(path: str, size: int) -> bytes:
    """The first `size` bytes of a file, in three system calls (the gateway asks per call)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, size)
    finally:
        os.close(fd)


def exited(pid: int) -> bool:
    """True when the process has ended or is ending, as /proc tells: gone, a zombie, or on its
    way out (a killed process gives up its memory, and with it its command line, first).

    Where there is no /proc, False: the caller learns of the end some other way.
    """
    try:
        stat = _head(f"/proc/{pid}/stat", 4096).decode(errors="replace")
        cmdline = _head(f"/proc/{pid}/cmdline", 1)
    except FileNotFoundError:
        return os.path.exists("/proc/self")
    except OSError:
        return False
    return not cmdline or stat.rsplit(")", 1)[-1].split()[:1] in (["Z"], ["X"])


def end_groups(children: list[int]) -> None:
    """SIGKILL the process group of each child; a group already gone is fine.

    The child had its graceful end already (the end of its input, then mcp's SIGTERM), or the
    probe was cut short: what is left in its group is a stray.
    """
    for pid in children:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


@contextmanager
def recorded_children() -> Iterator[list[int]]:
    """Record the stdio children started inside (and in tasks started inside); end none.

    For a connection that outlives the block (the gateway's pool): its owner ends the groups.
    """
    _record_children_of_probes()
    children: list[int] = []
    token = _CHILDREN.set(children)
    try:
        yield children
    finally:
        _CHILDREN.reset(token)


@contextmanager
def process_groups() -> Iterator[list[int]]:
    """Record the stdio children started inside; end their groups on the way out."""
    with recorded_children() as children:
        try:
            yield children
        finally:
            end_groups(children)
