"""Managed MCP servers: an administrator's fastmcp MCPConfig file, read-only through the API.

Its secrets may be written as `${env:NAME}` and are filled from the server's environment at load.
They are kept only in memory (encrypted like stored secrets, so every read path is the same) and
never written to settings.json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent_server.document import SERVER_NAME_RULE, is_valid_server_name, validate_server
from agent_server.errors import ConfigError
from agent_server.secrets import SecretCipher, map_server_secrets

_ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


def load_managed_servers(
    path: Path, cipher: SecretCipher, environ: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Managed servers by name, in stored form (secrets as tokens); ConfigError when unusable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the managed config {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"the managed config {path} is not valid JSON: {exc}") from None
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        raise ConfigError(
            f'the managed config {path} must be a JSON object with "mcpServers": {{name: server}}'
        )
    managed = {}
    for name, server in servers.items():
        if not is_valid_server_name(name):
            raise ConfigError(
                f"the managed config {path} names a server {name!r}: {SERVER_NAME_RULE}"
            )
        errors = validate_server(server, ("mcpServers", name))
        if errors:
            where = ", ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in errors)
            raise ConfigError(f"the managed config {path} is not valid: {where}")

        def fill(loc: Any, value: str) -> str:
            return cipher.encrypt(_ENV_REFERENCE.sub(lambda m: _env(m.group(1), loc), value))

        def _env(variable: str, loc: Any) -> str:
            if variable not in environ:
                field = ".".join(map(str, ("mcpServers", *loc)))
                raise ConfigError(
                    f"the managed config {path} needs the environment variable {variable} "
                    f"(for {field}), which is not set"
                )
            return environ[variable]

        managed[name] = map_server_secrets(server, fill, (name,))
    return managed
