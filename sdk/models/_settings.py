"""The settings document, its servers as resources, and the errors every route answers."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sdk.models._base import _Open, _Strict
from sdk.models._registries import RegistrySource

MASK = "**********"
"""What every secret value reads as in a redacted response; writing it back keeps the secret."""

SERVER_NAME_PATTERN = r"^[A-Za-z0-9_.@:-]{1,128}$"
SERVER_NAME_RULE = (
    "a server name is 1 to 128 characters of letters, digits and _ . @ : - "
    f"(pattern {SERVER_NAME_PATTERN}), and not . or .. (URLs cannot carry those as a name)"
)
_SERVER_NAME = re.compile(SERVER_NAME_PATTERN)


def is_valid_server_name(name: str) -> bool:
    return _SERVER_NAME.fullmatch(name) is not None and name not in (".", "..")


ExposeMode = Literal["redacted", "encrypted", "plaintext"]
EXPOSE_MODES: tuple[ExposeMode, ...] = ("redacted", "encrypted", "plaintext")


class LLMSettings(_Strict):
    model: str | None = None
    api_key: str | None = Field(default=None, description="Secret.")
    base_url: str | None = None


class ToolSetting(_Open):
    """One tool's entry in a server's `tools` (fastmcp's ToolTransformConfig)."""

    enabled: bool = Field(default=True, description="false hides the tool from the gateway.")


class _ToolControl(_Open):
    """Which of a server's tools are served, as fastmcp's MCPConfig says it, and pinning."""

    tools: dict[str, ToolSetting] = Field(
        default_factory=dict, description="Per tool settings by the tool's own name."
    )
    include_tags: list[str] | None = Field(
        default=None, description="Only tools with one of these tags are served."
    )
    exclude_tags: list[str] | None = Field(
        default=None, description="Tools with one of these tags are not served."
    )
    pin_tools: bool = Field(
        default=False,
        description="A tool whose definition changed since it was first seen is withheld "
        "from the gateway until approved.",
    )


class StdioServerConfig(_ToolControl):
    """An MCP server started as a child process that speaks MCP over stdin/stdout."""

    command: str = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict, description="Values are secrets.")
    transport: Literal["stdio"] | None = None
    type: Literal["stdio"] | None = None
    cwd: str | None = None
    timeout: int | None = None
    keep_alive: bool | None = None
    description: str | None = None
    icon: str | None = None
    authentication: dict[str, Any] | None = None
    enabled: bool = True


class RemoteServerConfig(_ToolControl):
    """An MCP server reached over HTTP (streamable HTTP or SSE)."""

    url: str = Field(description="An http or https URL.")
    transport: Literal["http", "streamable-http", "sse"] | None = None
    headers: dict[str, str] = Field(
        default_factory=dict,
        description='Values are secrets; "client" means the caller sends it (MCP-HEADERS).',
    )
    auth: str | None = Field(
        default=None,
        description='A bearer token (secret), "oauth" for OAuth, or "client": the caller '
        "sends it as Authorization in MCP-HEADERS.",
    )
    sse_read_timeout: float | None = None
    timeout: int | None = None
    description: str | None = None
    icon: str | None = None
    authentication: dict[str, Any] | None = None
    enabled: bool = True


MCPServerConfig = StdioServerConfig | RemoteServerConfig


class MCPConfig(_Open):
    """fastmcp's MCPConfig: servers by name; any other top-level key is kept verbatim."""

    mcpServers: dict[str, dict[str, Any]] = Field(default_factory=dict)


class OpenHandsAgentSettings(_Strict):
    agent_kind: Literal["openhands"] = "openhands"
    llm: LLMSettings = Field(default_factory=LLMSettings)
    mcp_config: MCPConfig = Field(default_factory=MCPConfig)


class ACPAgentSettings(_Strict):
    agent_kind: Literal["acp"] = "acp"
    acp_server: str = ""
    acp_model: str | None = None


AgentSettings = OpenHandsAgentSettings | ACPAgentSettings


class SettingsResponse(BaseModel):
    schema_version: int
    agent_settings: dict[str, Any]
    misc_settings: dict[str, Any]
    llm_api_key_is_set: bool


class SettingsPatch(BaseModel):
    """JSON Merge Patch (RFC 7396) diffs; at least one of them must be given."""

    model_config = ConfigDict(extra="forbid")

    agent_settings_diff: dict[str, Any] | None = None
    misc_settings_diff: dict[str, Any] | None = None


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    detail: str | list[FieldError]


class ValidationErrorBody(BaseModel):
    """A 422: one entry per invalid field. A value that failed is never echoed."""

    detail: list[FieldError]


class MCPServerSummary(BaseModel):
    name: str
    source: Literal["user", "managed"]
    transport_kind: Literal["stdio", "remote"]
    transport: str | None
    enabled: bool
    description: str | None
    icon: str | None
    etag: str
    registry: RegistrySource | None = Field(
        description="Where it was installed from, for a server from a registry."
    )
    update_available: str | None = Field(
        description="The registry's latest version when it is newer than the installed one, "
        "as last read from the registry (browsing, showing, installing or upgrading).",
    )


class MCPServerListResponse(BaseModel):
    servers: list[MCPServerSummary]
    etag: str = Field(description="The list's ETag, as in the ETag header: for If-None-Match.")


class MCPServerResponse(BaseModel):
    name: str
    source: Literal["user", "managed"]
    etag: str
    config: dict[str, Any]


class HealthResponse(BaseModel):
    status: Literal["ok"]
