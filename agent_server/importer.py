"""Importing a client's MCP config file: a plan of one line per server, applied in one write.

`prepare` reads the file, maps each entry to our config and fills its references, before any
lock. `apply` then decides each server against the document the write is about to change (the
conflict policy, the secret rules of a write) and changes the document only when no line is an
error: an import is all-or-nothing, however many servers it holds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_server.document import (
    Document,
    mcp_servers,
    resolve_server,
    without_nulls,
)
from agent_server.errors import InvalidSettings
from agent_server.formats import FORMATS, ClientFormat, FormatError
from agent_server.formats.detect import detect_format
from agent_server.formats.references import fill_references
from agent_server.secrets import SecretCipher
from agent_server.server_writes import with_servers
from sdk.models import SERVER_NAME_RULE, ImportLine, ImportNeed, OnConflict, is_valid_server_name

_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_.@:-]+")


@dataclass
class Prepared:
    """One server of the file, mapped and filled, not yet checked against the document."""

    name: str
    config: Any
    needs: list[ImportNeed] = field(default_factory=list)


@dataclass
class Plan:
    format: str
    servers: list[Prepared]


def read_file(content: Any, format_name: str | None) -> tuple[ClientFormat, list[tuple[str, Any]]]:
    """The format (given or detected) and the file's (name, config) pairs; FormatError if unread."""
    client = FORMATS[format_name or detect_format(content)]
    if isinstance(content, str) and not client.is_yaml:
        raise FormatError(f"a {client.name} config is JSON: send it as a JSON value, not text")
    return client, client.read(content)


def prepare(content: Any, format_name: str | None, values: Mapping[str, str]) -> Plan:
    client, entries = read_file(content, format_name)
    servers = []
    for name, entry in entries:
        if not isinstance(entry, dict):
            servers.append(Prepared(name, entry))  # refused as a PUT of it would be
            continue
        filled = fill_references(without_nulls(entry), client.syntax, values)
        config = filled.config
        needs = [ImportNeed(reference=ref, loc=list(loc)) for ref, loc in filled.needs]
        if needs:
            config = {**config, "enabled": False}
        servers.append(Prepared(name, config, needs))
    return Plan(client.name, servers)


def valid_name(name: str) -> str:
    """The nearest server name to a name from a file: characters a name cannot hold become -."""
    cleaned = _NOT_IN_NAME.sub("-", name).strip("-")[:128]
    return cleaned if is_valid_server_name(cleaned) else "server"


def _free_name(name: str, taken: set[str]) -> str:
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = name[: 128 - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        n += 1


def _reason(errors: list[dict[str, Any]]) -> str:
    """Field errors as one line: where and what, never a value."""
    return "; ".join(
        (".".join(str(p) for p in e["loc"]) or "config") + ": " + e["msg"] for e in errors
    )


@dataclass
class Outcome:
    lines: list[ImportLine]
    document: Document
    conflict: bool = False

    @property
    def failed(self) -> bool:
        return any(line.action == "error" for line in self.lines)


def _place(
    line: ImportLine,
    on_conflict: OnConflict,
    taken: set[str],
    planned: set[str],
    managed: Mapping[str, Any],
) -> str:
    """The name a server is stored under, setting the line's action for a name or a conflict."""
    target = line.name
    if not is_valid_server_name(target):
        target = valid_name(target)
        if target in taken | planned:
            target = _free_name(target, taken | planned)
        line.action, line.as_ = "rename", target
        line.reason = f"the name cannot be a server name here: {SERVER_NAME_RULE}"
    elif target in planned:
        line.action, line.reason = "error", "the file names this server twice"
    elif target not in taken:
        line.action = "create"
    elif on_conflict == "fail":
        line.action = "error"
        line.reason = "a server of this name exists (on_conflict fail)"
    elif on_conflict == "skip":
        line.action, line.reason = "skip", "a server of this name exists"
    elif on_conflict == "rename":
        target = _free_name(target, taken | planned)
        line.action, line.as_ = "rename", target
        line.reason = "a server of this name exists"
    elif target in managed:
        line.action = "error"
        line.reason = "the administrator manages this server; it cannot be replaced"
    else:
        line.action = "replace"
    return target


def apply(
    document: Document,
    plan: Plan,
    on_conflict: OnConflict,
    managed: Mapping[str, Any],
    cipher: SecretCipher,
) -> Outcome:
    """Every line of the plan against `document`, and the document with the servers written
    (the same object when a line is an error, or nothing changes)."""
    stored = mcp_servers(document)
    taken = set(stored) | set(managed)
    planned: set[str] = set()
    changes: dict[str, dict[str, Any]] = {}
    outcome = Outcome([], document)
    for server in plan.servers:
        line = ImportLine(
            name=server.name, action="create", as_=None, reason=None, needs=server.needs or None
        )
        target = _place(line, on_conflict, taken, planned, managed)
        outcome.conflict |= line.action == "error" and target in taken and on_conflict == "fail"
        if line.action in ("create", "replace", "rename"):
            previous = stored.get(target) if line.action == "replace" else None
            try:
                changes[target] = resolve_server(server.config, previous, cipher)
            except InvalidSettings as exc:
                line.action, line.reason = "error", _reason(exc.errors)
            planned.add(target)
        outcome.lines.append(line)
    changed = {name: c for name, c in changes.items() if c != stored.get(name)}
    if not outcome.failed and changed:
        outcome.document = with_servers(document, changed)
    return outcome
