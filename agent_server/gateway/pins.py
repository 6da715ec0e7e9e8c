"""Tool pins: the definition each tool of a server had when first seen, or when last approved.

A server that changes a tool after it was approved (a new description that instructs the
model, a new argument) shows it as changed; with `pin_tools` the gateway withholds it until a
client approves the new definition. Pins live in `<home>/tool-pins.json`
(`{"<server>": {"<tool>": "<sha256 of the definition>"}}`), beside the settings and not in a
server's config: recording or approving a pin never changes the server's ETag. The file is
written like settings.json (a lock file, a temp file renamed over it) and read through a
stat-checked cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock

from agent_server.durable import write_private_file

log = logging.getLogger(__name__)

PINS_FILE = "tool-pins.json"
Pins = dict[str, dict[str, str]]


def definition_hash(name: str, description: str | None, input_schema: Any) -> str:
    canonical = json.dumps(
        {"name": name, "description": description, "input_schema": input_schema},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class PinStore:
    def __init__(self, home: Path) -> None:
        self.path = home / PINS_FILE
        self._lock = FileLock(str(self.path) + ".lock")
        self._cached: tuple[tuple[int, int, int], Pins] | None = None

    def stamp(self) -> tuple[int, int, int] | None:
        """Changes with every write of the pins (None while there are none)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _read(self) -> Pins:
        stamp = self.stamp()
        if stamp is None:
            return {}
        if self._cached is not None and self._cached[0] == stamp:
            return self._cached[1]
        try:
            pins = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            log.error(
                "%s is not readable JSON: every tool is pinned again as first seen", self.path
            )
            pins = {}
        pins = pins if isinstance(pins, dict) else {}
        self._cached = (stamp, pins)
        return pins

    def _write(self, server: str, pins: Mapping[str, str] | None) -> None:
        """Merge `pins` into the server's (None drops them all), under the lock."""
        with self._lock:
            current = dict(self._read())
            if pins is None:
                current.pop(server, None)
            else:
                current[server] = {**current.get(server, {}), **pins}
            write_private_file(self.path, json.dumps(current, sort_keys=True).encode())

    def changed(self, server: str, definitions: Mapping[str, str]) -> set[str]:
        """The tools whose definition differs from their pin; tools first seen are pinned."""
        pinned = self._read().get(server, {})
        first_seen = {tool: h for tool, h in definitions.items() if tool not in pinned}
        if first_seen:
            self._write(server, first_seen)
        return {tool for tool, h in definitions.items() if tool in pinned and pinned[tool] != h}

    def approve(self, server: str, tool: str, definition: str) -> None:
        self._write(server, {tool: definition})

    def forget(self, server: str) -> None:
        """Drop the pins of a deleted server: a new server of that name starts afresh."""
        if server in self._read():
            self._write(server, None)
