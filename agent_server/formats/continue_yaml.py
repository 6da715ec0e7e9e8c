"""Continue: YAML, `mcpServers:` a list of `{name, type, command, args, env, url}`.

Types are `stdio`, `sse` and `streamable-http`; a remote server's headers are
`requestOptions.headers`. Secrets are `${{ secrets.NAME }}` (or `${{ inputs.NAME }}`). Exported
as a block file for `.continue/mcpServers/`.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from agent_server.formats.entries import (
    Entries,
    FormatError,
    enabled_in,
    is_remote,
    transport_in,
    transport_out,
)
from agent_server.formats.references import Syntax

NAME = "continue"
FILENAME = "agent-server.yaml"
USUAL_PATHS = (".continue/config.yaml",)
SYNTAX = Syntax(
    re.compile(r"\$\{\{\s*(?:secrets|inputs)\.(?P<name>[A-Za-z0-9_.-]+)\s*\}\}"),
    "${{ secrets.NAME }}",
)
MAX_DEPTH = 64
MAX_VALUES = 200_000
TYPES_IN = {"sse": "sse", "streamable-http": "http", "http": "http"}
TYPES_OUT = {"http": "streamable-http", "streamable-http": "streamable-http", "sse": "sse"}


def parse(text: str) -> Any:
    """The YAML document of a Continue file; FormatError when it is not YAML, or larger than a
    JSON body could be once its aliases are expanded (a few lines of anchors can stand for
    billions of values, which every later step would walk)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise FormatError(f"the continue config is not valid YAML{line}") from None
    except RecursionError:
        raise FormatError(f"the continue config is nested deeper than {MAX_DEPTH} levels") from None
    _check_size(document)
    return document


def _check_size(document: Any) -> None:
    """At most MAX_VALUES values, aliases expanded, nested at most MAX_DEPTH levels."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    seen = 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise FormatError(f"the continue config holds more than {MAX_VALUES} values")
        if depth > MAX_DEPTH:
            raise FormatError(f"the continue config is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for pair in value.items() for item in pair)
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


def _read_entry(entry: dict[str, Any]) -> dict[str, Any]:
    config = enabled_in({k: v for k, v in entry.items() if k != "name"})
    options = config.get("requestOptions")
    if isinstance(options, dict) and isinstance(options.get("headers"), dict):
        rest = {k: v for k, v in options.items() if k != "headers"}
        config["headers"] = options["headers"]
        if rest:
            config["requestOptions"] = rest
        else:
            del config["requestOptions"]
    return transport_in(config, TYPES_IN) if is_remote(config) else config


def _write_entry(name: str, config: dict[str, Any]) -> dict[str, Any]:
    entry = {"name": name, **transport_out(config, TYPES_OUT)}
    if is_remote(entry) and "headers" in entry:
        options = entry.get("requestOptions")
        extra = options if isinstance(options, dict) else {}
        entry["requestOptions"] = {**extra, "headers": entry.pop("headers")}
    return entry


def read(content: Any) -> Entries:
    if isinstance(content, str):
        content = parse(content)
    if not isinstance(content, dict):
        raise FormatError("a continue config is a YAML mapping with 'mcpServers'")
    servers = content.get("mcpServers", [])
    if not isinstance(servers, list):
        raise FormatError("'mcpServers' of a continue config must be a list of servers")
    return [
        (
            str(entry.get("name") or f"server-{i + 1}")
            if isinstance(entry, dict)
            else f"server-{i + 1}",
            _read_entry(entry) if isinstance(entry, dict) else entry,
        )
        for i, entry in enumerate(servers)
    ]


def write(servers: Entries, references: list[str]) -> Any:
    document = {
        "name": "agent-server MCP servers",
        "version": "0.0.1",
        "schema": "v1",
        "mcpServers": [_write_entry(name, config) for name, config in servers],
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
