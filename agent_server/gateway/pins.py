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
_NONE: Pins = {}  # read (never changed) while there is no pins file, one object for all reads


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

    def read(self) -> Pins:
        """Every server's pins; the same object until the file changes (never change it)."""
        stamp = self.stamp()
        if stamp is None:
            return _NONE
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

    def _write(self, pins: Mapping[str, Mapping[str, str] | None]) -> None:
        """Merge each server's `pins` into its own (None drops them all), under the lock."""
        with self._lock:
            current = dict(self.read())
            for server, given in pins.items():
                if given is None:
                    current.pop(server, None)
                else:
                    current[server] = {**current.get(server, {}), **given}
            write_private_file(self.path, json.dumps(current, sort_keys=True).encode())

    def changed(self, definitions: Mapping[str, Mapping[str, str]]) -> dict[str, set[str]]:
        """Per server, the tools whose definition differs from their pin.

        `definitions` holds each server's tools' definition hashes. Tools first seen are pinned,
        every server's in one write: a catalog of thousands of servers seen for the first time
        writes the file once, not once per server.
        """
        current = self.read()
        first_seen: Pins = {}
        changed: dict[str, set[str]] = {}
        for server, hashes in definitions.items():
            pinned = current.get(server, {})
            new = {tool: h for tool, h in hashes.items() if tool not in pinned}
            if new:
                first_seen[server] = new
            changed[server] = {t for t, h in hashes.items() if t in pinned and pinned[t] != h}
        if first_seen:
            self._write(first_seen)
        return changed

    def approve(self, server: str, tool: str, definition: str) -> None:
        self._write({server: {tool: definition}})

    def forget(self, server: str) -> None:
        """Drop the pins of a deleted server: a new server of that name starts afresh."""
        if server in self.read():
            self._write({server: None})
