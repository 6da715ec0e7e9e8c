"""The process table, read from /proc: which processes a test left running below it."""

from __future__ import annotations

import time
from collections.abc import Set as AbstractSet
from pathlib import Path

# Processes the fixtures start on purpose (HTTP MCP servers): the leftover checks ignore them.
ON_PURPOSE: set[int] = set()


def _process_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command name) of every process, read from /proc/*/stat."""
    table: dict[int, tuple[int, str, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it exited meanwhile
        close = stat.rindex(")")
        state, ppid = stat[close + 2 :].split()[:2]
        table[int(entry.name)] = (int(ppid), state, stat[stat.index("(") + 1 : close])
    return table


def live_descendants(root: int, ignore: AbstractSet[int] = frozenset()) -> dict[int, str]:
    """Live (not zombie) descendants of `root`, pid -> description; subtrees of `ignore` skipped."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: dict[int, str] = {}
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        if pid in ignore:
            continue
        _, state, name = table[pid]
        if state != "Z":
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                cmdline = ""
            found[pid] = f"{name} [{state}] {cmdline.strip()}"
        stack.extend(children.get(pid, []))
    return found


def wait_without_descendants(
    root: int, ignore: AbstractSet[int] = frozenset(), within: float = 5.0
) -> dict[int, str]:
    """The live descendants of `root` still there after up to `within` seconds (empty: none)."""
    deadline = time.monotonic() + within
    while True:
        left = live_descendants(root, ignore)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
