"""Managed MCP servers and registries: an administrator's file, read-only through the API.

The file is fastmcp's MCPConfig shape (`"mcpServers": {name: server}`) and may list registries
too (`"registries": {id: registry}`). Secrets may be written as `${env:NAME}` and are filled from
the server's environment at load. They are kept only in memory (encrypted like stored secrets,
so every read path is the same) and never written to settings.json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_server.document import SERVER_NAME_RULE, is_valid_server_name, validate_server
from agent_server.errors import ConfigError
from agent_server.registries.catalog import validate_registry
from agent_server.secrets import Loc, SecretCipher, map_server_secrets
from sdk.models import REGISTRY_ID_RULE, is_valid_registry_id

_ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
Entries = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Managed:
    servers: Entries = field(default_factory=dict)
    registries: Entries = field(default_factory=dict)


def load_managed(path: Path, cipher: SecretCipher, environ: Mapping[str, str]) -> Managed:
    """Managed servers and registries, in stored form (secrets as tokens); ConfigError when
    the file is unusable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the managed config {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"the managed config {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not ({"mcpServers", "registries"} & set(data)):
        raise ConfigError(
            f'the managed config {path} must be a JSON object with "mcpServers": '
            '{name: server} and/or "registries": {id: registry}'
        )
    servers = _section(path, data, "mcpServers", is_valid_server_name, SERVER_NAME_RULE)
    registries = _section(path, data, "registries", is_valid_registry_id, REGISTRY_ID_RULE)
    return Managed(
        servers=_load(path, servers, "mcpServers", validate_server, cipher, environ),
        registries=_load(path, registries, "registries", validate_registry, cipher, environ),
    )


def _section(
    path: Path, data: dict[str, Any], section: str, valid: Callable[[str], bool], rule: str
) -> Entries:
    entries = data.get(section, {})
    if not isinstance(entries, dict):
        raise ConfigError(f'the managed config {path}: "{section}" must be a JSON object')
    for name in entries:
        if not valid(name):
            raise ConfigError(f"the managed config {path} names {section} entry {name!r}: {rule}")
    return entries


def _load(
    path: Path,
    entries: Entries,
    section: str,
    validate: Callable[[Any, Loc], list[dict[str, Any]]],
    cipher: SecretCipher,
    environ: Mapping[str, str],
) -> Entries:
    loaded = {}
    for name, entry in entries.items():
        errors = validate(entry, (section, name))
        if errors:
            where = ", ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in errors)
            raise ConfigError(f"the managed config {path} is not valid: {where}")

        def fill(loc: Loc, value: str) -> str:
            return cipher.encrypt(_ENV_REFERENCE.sub(lambda m: _env(m.group(1), loc), value))

        def _env(variable: str, loc: Loc) -> str:
            if variable not in environ:
                where = ".".join(map(str, (section, *loc)))
                raise ConfigError(
                    f"the managed config {path} needs the environment variable {variable} "
                    f"(for {where}), which is not set"
                )
            return environ[variable]

        loaded[name] = map_server_secrets(entry, fill, (name,))
    return loaded
