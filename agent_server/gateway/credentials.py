"""Credentials given at use time: header slots a server's config leaves to the caller.

A header value `"client"`, or `auth: "client"`, is not stored: the caller of each request sends
it in `MCP-HEADERS: {"<server name or URL>": {"<Header>": "<value>"}}` (lightspeed-stack's
form). A caller may fill only those slots: a header the config does not mark `"client"` is
refused, so a caller can neither override a stored credential nor add an Authorization beside a
stored `auth`. The values live in memory for the request only; they are never stored, never
logged and never quoted in an error (errors name the header, never its value).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from agent_server.probes.failures import ProbeFailed
from agent_server.secrets import CLIENT

HEADER = "MCP-HEADERS"
GIVEN_KEY = "agent_server.mcp_headers"  # where /mcp's route leaves the parsed MCP-HEADERS
AUTHORIZATION = "Authorization"
_FORBIDDEN = ("\r", "\n", "\0")

ClientHeaders = dict[str, dict[str, str]]  # server name or URL -> header -> value


class CredentialError(ValueError):
    """An MCP-HEADERS value to refuse with 400; the message names no value."""


def parse_mcp_headers(raw: str | None) -> ClientHeaders:
    """The parsed MCP-HEADERS value ({} when absent); CredentialError when it is invalid."""
    if raw is None or not raw.strip():
        return {}
    shape = (
        f'{HEADER} is a JSON object of objects of strings: {{"<server name or URL>": '
        '{"<Header>": "<value>"}}'
    )
    try:
        value = json.loads(raw)
    except ValueError:
        raise CredentialError(f"{HEADER} is not valid JSON; {shape}") from None
    if not isinstance(value, dict) or not all(
        isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values())
        for headers in value.values()
    ):
        raise CredentialError(shape)
    for server, headers in value.items():
        for name, text in headers.items():
            if not name or any(c in name + text for c in _FORBIDDEN):
                raise CredentialError(
                    f"{HEADER} holds a header for {server!r} whose name or value is empty or "
                    "has a line break or NUL"
                )
    return value


def client_slots(config: Mapping[str, Any]) -> dict[str, str]:
    """The header names (lower case -> as configured) this config leaves to the caller."""
    slots = {
        name.lower(): name
        for name, value in (config.get("headers") or {}).items()
        if value == CLIENT
    }
    if config.get("auth") == CLIENT:
        slots["authorization"] = AUTHORIZATION
    return slots


def given_for(name: str, config: Mapping[str, Any], given: ClientHeaders) -> dict[str, str]:
    """The caller's headers for one server, found by its name or else its URL.

    CredentialError names a header the config does not leave to the caller.
    """
    url = config.get("url")
    entry = given.get(name)
    if entry is None and isinstance(url, str):
        entry = given.get(url, given.get(url.partition("?")[0]))
    slots = client_slots(config)
    for header in entry or {}:
        if header.lower() not in slots:
            raise CredentialError(
                f"{HEADER} gives the header {header!r} for MCP server {name!r}, whose config "
                f'does not mark it "client": a caller may only send the headers a server '
                "leaves to it" + (f" ({', '.join(sorted(slots.values()))})" if slots else " (none)")
            )
    return dict(entry or {})


def check_given(
    given: ClientHeaders,
    servers: Mapping[str, dict[str, Any]],
    plaintext: Callable[[dict[str, Any]], Mapping[str, Any]],
) -> None:
    """CredentialError when any entry fills a header its server does not leave to the caller.

    `servers` are stored configs; only those an entry can name (by name, or by a URL whose part
    before `?` is theirs) are read in `plaintext`, so a request decrypts no other server's
    secrets, however many there are.
    """
    bases = {key.partition("?")[0] for key in given}
    for name, config in servers.items():
        url = config.get("url")
        if name in given or (isinstance(url, str) and url.partition("?")[0] in bases):
            given_for(name, plaintext(config), given)


def with_credentials(
    name: str, config: dict[str, Any], supplied: Mapping[str, str]
) -> dict[str, Any]:
    """The plaintext config to connect with, its client slots filled from `supplied`.

    ProbeFailed ("auth") naming the header to send when one is missing.
    """
    slots = client_slots(config)
    if not slots:
        return config
    values = {header.lower(): value for header, value in supplied.items()}
    missing = [shown for lower, shown in slots.items() if lower not in values]
    if missing:
        example = json.dumps({name: {header: "..." for header in missing}})
        raise ProbeFailed(
            "auth",
            f"this server takes {', '.join(missing)} from the caller: send the header "
            f"{HEADER}: {example}",
        )
    headers = {
        header: values[header.lower()] if value == CLIENT else value
        for header, value in (config.get("headers") or {}).items()
    }
    filled = {**config, "headers": headers}
    if config.get("auth") == CLIENT:
        del filled["auth"]
        headers[AUTHORIZATION] = values["authorization"]
    return filled


def fingerprint(supplied: Mapping[str, str]) -> str:
    """Tells credentials apart in the pool's keys, in memory only ("" for none)."""
    if not supplied:
        return ""
    items = sorted((header.lower(), value) for header, value in supplied.items())
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()
