"""The parts of the MCP Registry API (v0.1) and its server.json that this service relies on.

Registry data is untrusted input: every entry is validated against these shapes before any of
it is used, unknown fields are ignored, and nothing from it is ever run through a shell. A
package identifier or version that could read as a command-line option is refused.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SERVER_NAME_PATTERN = r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$"
_SERVER_NAME = re.compile(SERVER_NAME_PATTERN)
_SAFE_WORD = re.compile(r"^[^\s\x00-\x1f-][^\s\x00-\x1f]*$")  # no option, no space or control
OFFICIAL_META = "io.modelcontextprotocol.registry/official"


def is_registry_server_name(name: str) -> bool:
    return len(name) <= 200 and _SERVER_NAME.fullmatch(name) is not None


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class Input(_Lenient):
    description: str | None = None
    isRequired: bool = False
    isSecret: bool = False
    format: str | None = None
    value: str | None = None
    default: str | None = None
    placeholder: str | None = None
    choices: list[str] | None = None
    variables: dict[str, Input] = Field(default_factory=dict)


class Argument(Input):
    type: Literal["positional", "named"]
    name: str | None = None
    valueHint: str | None = None
    isRepeated: bool = False


class KeyValueInput(Input):
    name: str = Field(min_length=1)


class Transport(_Lenient):
    type: str
    url: str | None = None
    headers: list[KeyValueInput] = Field(default_factory=list)
    variables: dict[str, Input] = Field(default_factory=dict)


class Remote(Transport):
    type: Literal["streamable-http", "sse"]
    url: str


class Package(_Lenient):
    registryType: str
    identifier: str
    version: str | None = None
    runtimeHint: str | None = None
    transport: Transport | None = None
    runtimeArguments: list[Argument] = Field(default_factory=list)
    packageArguments: list[Argument] = Field(default_factory=list)
    environmentVariables: list[KeyValueInput] = Field(default_factory=list)

    @field_validator("identifier", "version")
    @classmethod
    def _no_option(cls, value: str | None) -> str | None:
        if value is not None and not _SAFE_WORD.fullmatch(value):
            raise ValueError("must not be empty, start with '-' or hold spaces or control codes")
        return value


class ServerJSON(_Lenient):
    name: str
    description: str = ""
    title: str | None = None
    version: str
    websiteUrl: str | None = None
    icons: list[dict[str, Any]] = Field(default_factory=list)
    repository: dict[str, Any] | None = None
    packages: list[Package] = Field(default_factory=list)
    remotes: list[Remote] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _server_name(cls, value: str) -> str:
        if not is_registry_server_name(value):
            raise ValueError("not a registry server name (namespace/name)")
        return value


class RegistryEntry(BaseModel):
    """One entry of a registry's answer: the server.json, its raw form, and its status."""

    server: ServerJSON
    raw: dict[str, Any]
    status: str


def parse_entry(item: Any) -> RegistryEntry:
    """One `{"server": {...}, "_meta": {...}}` of a registry answer; ValueError naming the
    location of the first problem (never a value)."""
    if not isinstance(item, dict) or not isinstance(item.get("server"), dict):
        raise ValueError("it is not an object holding a server object")
    try:
        server = ServerJSON.model_validate(item["server"])
    except ValidationError as exc:
        where = ".".join(str(part) for part in exc.errors()[0]["loc"])
        raise ValueError(f"its server.json does not follow the schema (at {where})") from None
    meta = item.get("_meta")
    official = meta.get(OFFICIAL_META) if isinstance(meta, dict) else None
    status = official.get("status") if isinstance(official, dict) else None
    if not isinstance(status, str):
        legacy = item["server"].get("status")  # server.json before the 2025-09 schema
        status = legacy if isinstance(legacy, str) else "active"
    return RegistryEntry(server=server, raw=item["server"], status=status)
