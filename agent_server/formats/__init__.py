"""The MCP config files of the clients people use: one module per client, each a read and a
write function, and this registry of them. Adding a client is adding one module here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from agent_server.formats import (
    claude_code,
    claude_desktop,
    cline,
    continue_yaml,
    cursor,
    vscode,
    windsurf,
)
from agent_server.formats.entries import Entries, FormatError
from agent_server.formats.references import Syntax


@dataclass(frozen=True)
class ClientFormat:
    name: str
    read: Callable[[Any], Entries]
    """The file's content (JSON value, or text for YAML) → (name, our server config) pairs."""
    write: Callable[[Entries, list[str]], Any]
    """(name, our config) pairs and the reference names used → the file's content."""
    syntax: Syntax | None
    """How the client writes references; None for a client that expands none."""
    filename: str
    usual_paths: tuple[str, ...]
    """Where the client keeps its config, relative to the user's home, the likeliest first."""

    @property
    def is_yaml(self) -> bool:
        return self.filename.endswith(".yaml")


def _format(module: ModuleType) -> ClientFormat:
    return ClientFormat(
        module.NAME, module.read, module.write, module.SYNTAX, module.FILENAME, module.USUAL_PATHS
    )


FORMATS: dict[str, ClientFormat] = {
    f.name: f
    for f in map(
        _format, (claude_desktop, claude_code, cursor, vscode, cline, windsurf, continue_yaml)
    )
}
FORMAT_NAMES = tuple(FORMATS)

__all__ = ["FORMATS", "FORMAT_NAMES", "ClientFormat", "FormatError"]
