"""Live connections to MCP servers: tests, tool lists, tool calls, health and the catalog."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ProbeErrorKind = Literal["timeout", "connection", "auth", "protocol", "deadline"]
"""Why a live check failed; "deadline": the catalog's deadline passed before the server was
reached (its probe was still queued or still connecting)."""


class MCPTestRequest(BaseModel):
    """A candidate server config to test without saving it."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        default=None,
        description="A stored server whose secrets fill the candidate's `**********` values.",
    )
    config: dict[str, Any] = Field(description="A server entry in fastmcp's MCPConfig shape.")
    timeout: float = Field(default=15, gt=0, le=120, description="Seconds, at most 120.")


class MCPTool(BaseModel):
    name: str
    description: str | None
    input_schema: dict[str, Any]
    tags: list[str] = Field(description="The tool's fastmcp tags.")
    enabled: bool = Field(
        description="false when the server's tools, include_tags or exclude_tags leave it out "
        "of the gateway.",
    )
    changed: bool = Field(
        description="Its definition (name, description, input schema) differs from the one "
        "first seen or last approved.",
    )


class MCPServerInfo(BaseModel):
    name: str
    version: str | None


class MCPToolsOk(BaseModel):
    ok: Literal[True]
    tools: list[MCPTool]
    latency_ms: float
    server_info: MCPServerInfo | None


class MCPProbeFailed(BaseModel):
    ok: Literal[False]
    error: str
    error_kind: ProbeErrorKind


MCPToolsResult = MCPToolsOk | MCPProbeFailed

DEFAULT_CALL_TIMEOUT = 60.0
MAX_CALL_TIMEOUT = 600.0


class MCPToolCallRequest(BaseModel):
    """A call of one gateway tool, for callers that do not speak MCP."""

    model_config = ConfigDict(extra="forbid")

    arguments: dict[str, Any] = Field(default_factory=dict, description="The tool's arguments.")
    timeout: float = Field(
        default=DEFAULT_CALL_TIMEOUT, gt=0, le=MAX_CALL_TIMEOUT, description="Seconds, at most 600."
    )
    authorization: str | None = Field(
        default=None,
        min_length=1,
        pattern=r"^[^\r\n\x00]+$",
        description='For a server whose auth is "client": the bare token, sent to that server '
        "as Authorization: Bearer <token>. Never stored or logged.",
    )


class MCPToolCallOk(BaseModel):
    """The server's answer, as it gave it: an error result is `is_error` true, still ok."""

    ok: Literal[True]
    content: list[dict[str, Any]] = Field(description="MCP content blocks.")
    structured_content: dict[str, Any] | None
    is_error: bool
    latency_ms: float


MCPToolCallResult = MCPToolCallOk | MCPProbeFailed


class MCPHealth(BaseModel):
    ok: bool
    latency_ms: float | None
    checked_at: str = Field(description="When the check ran, ISO 8601 in UTC.")
    error: str | None


class MCPCatalogTool(BaseModel):
    name: str = Field(description="<server>.<tool>")
    gateway_name: str = Field(
        description="The tool's name on the MCP gateway (/mcp): <server>__<tool>, other "
        "characters than A-Z a-z 0-9 _ - replaced by _, cut and given a short hash suffix "
        "where longer than 64 or colliding with another"
    )
    server: str
    tool: str
    description: str | None
    input_schema: dict[str, Any]
    changed: bool = Field(
        description="Its definition differs from the one first seen or last approved."
    )


class MCPCatalogServer(BaseModel):
    name: str
    ok: bool
    tool_count: int
    latency_ms: float | None
    error: str | None
    error_kind: ProbeErrorKind | None


class MCPCatalogResponse(BaseModel):
    tools: list[MCPCatalogTool]
    servers: list[MCPCatalogServer]
