"""Wire shapes of the settings API: the one definition the server and its clients import.

The config models mirror fastmcp's MCPConfig entry shape. They are strict (no coercion) so a
value is stored exactly as it was validated, and they allow unknown fields so a client's extra
keys survive every write.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


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


# --- live connections (fastmcp) -----------------------------------------------------------------

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


# --- client config files (import and export) ----------------------------------------------------

ClientFormatName = Literal[
    "claude-desktop", "claude-code", "cursor", "vscode", "cline", "windsurf", "continue"
]
CLIENT_FORMATS: tuple[ClientFormatName, ...] = (
    "claude-desktop",
    "claude-code",
    "cursor",
    "vscode",
    "cline",
    "windsurf",
    "continue",
)
OnConflict = Literal["fail", "skip", "replace", "rename"]
ImportAction = Literal["create", "replace", "skip", "rename", "error"]


class ImportRequest(BaseModel):
    """A client's MCP config file to import as servers."""

    model_config = ConfigDict(extra="forbid")

    format: ClientFormatName | None = Field(
        default=None, description="The client that wrote the file; absent means detect it."
    )
    content: dict[str, Any] | str = Field(
        description="The file: its JSON value, or its text for YAML (continue)."
    )
    on_conflict: OnConflict = Field(
        default="fail",
        description=(
            "When a server of that name exists: fail (nothing is written), skip it, replace "
            "it, or rename the imported one (name-2, name-3, ...)."
        ),
    )
    dry_run: bool = Field(default=False, description="Answer the plan; write nothing.")
    values: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Values of the file's references by name (`${VAR}` → VAR, `${input:id}` → id). "
            "Secrets: never echoed."
        ),
    )


class ImportNeed(BaseModel):
    reference: str = Field(description="The reference that had no value, by name.")
    loc: list[str | int] = Field(description="Where it is in the server's config.")


class ImportLine(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(description="The server's name in the file.")
    action: ImportAction
    as_: str | None = Field(alias="as", description="The name it is stored as, when renamed.")
    reason: str | None = Field(description="Why it is skipped, renamed or an error.")
    needs: list[ImportNeed] | None = Field(
        description="References without a value: the server is imported disabled until they "
        "are given (PATCH the server).",
    )


class ImportResponse(BaseModel):
    format: ClientFormatName
    written: bool = Field(description="Whether the servers were written (never on a dry run).")
    servers: list[ImportLine]


class ImportRefused(ImportResponse):
    """An import that wrote nothing: a conflict under on_conflict fail (409), or invalid servers
    (422); `servers` has the line of every server, the errors among them."""

    detail: str


# --- MCP registries -----------------------------------------------------------------------------

REGISTRY_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
REGISTRY_ID_RULE = (
    "a registry id is 1 to 64 characters of lowercase letters, digits, _ and -, starting with "
    f"a letter or digit (pattern {REGISTRY_ID_PATTERN})"
)
_REGISTRY_ID = re.compile(REGISTRY_ID_PATTERN)


def is_valid_registry_id(registry_id: str) -> bool:
    return _REGISTRY_ID.fullmatch(registry_id) is not None


class RegistryConfig(_Strict):
    """An MCP registry that follows the official MCP Registry API (GET /v0.1/servers)."""

    url: str = Field(description="The registry's base URL, http or https, without a query.")
    title: str | None = None
    enabled: bool = True
    headers: dict[str, str] = Field(
        default_factory=dict, description="Sent on every request to the registry. Secrets."
    )


class RegistrySummary(BaseModel):
    id: str
    source: Literal["user", "managed"]
    url: str
    title: str | None
    enabled: bool
    etag: str


class RegistryListResponse(BaseModel):
    registries: list[RegistrySummary]
    etag: str = Field(description="The list's ETag, as in the ETag header: for If-None-Match.")


class RegistryResponse(BaseModel):
    id: str
    source: Literal["user", "managed"]
    etag: str
    config: dict[str, Any]


class RegistryServerSummary(BaseModel):
    """One server of a registry's listing (its latest version)."""

    name: str = Field(description="The registry's name for it: namespace/name.")
    title: str | None
    description: str
    version: str
    icons: list[dict[str, Any]]
    repository: dict[str, Any] | None
    packages: list[str] = Field(description="The registry type of each package, in order.")
    remotes: list[str] = Field(description="The transport of each remote, in order.")
    connector_id: str = Field(description="mcp::<registry id>::<server name>")
    installed_as: str | None = Field(description="The user server installed from it, if any.")


class RegistryServerList(BaseModel):
    servers: list[RegistryServerSummary]
    next_cursor: str | None = Field(
        description="Pass as cursor for the next page; null at the end."
    )


class PlanInput(BaseModel):
    """A value an install takes in `inputs`, under `name`."""

    name: str
    description: str | None
    is_required: bool
    is_secret: bool
    default: str | None
    choices: list[str] | None
    format: str | None


class InstallPlan(BaseModel):
    """One way to run a server (a package or a remote) and what installing it would store."""

    choose: dict[str, int] = Field(description='{"package": i} or {"remote": i}, for install.')
    type: str = Field(description="The package's registry type, or the remote's transport.")
    supported: bool
    problem: str | None = Field(description="Why it cannot be installed here, when it cannot.")
    config: dict[str, Any] | None = Field(
        description="The config an install with no inputs would store; {name} marks each "
        "required input that has no default."
    )
    inputs: list[PlanInput]


class RegistryServerDetail(BaseModel):
    server: dict[str, Any] = Field(description="The server.json as the registry gave it.")
    connector_id: str
    installed_as: str | None
    plans: list[InstallPlan]


class InstallRequest(BaseModel):
    """What to install from a registry, as which server, with which inputs."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)

    server: str = Field(description="The registry's name for the server: namespace/name.")
    version: str | None = Field(default=None, description="Absent means the latest version.")
    as_: str | None = Field(
        default=None,
        alias="as",
        description="Our name for it. Absent means the part of the server name after '/'.",
    )
    choose: dict[str, int] | None = Field(
        default=None,
        description='{"package": i} or {"remote": i}. Absent prefers a remote, then packages '
        "in the order npm, pypi, oci, nuget.",
    )
    inputs: dict[str, str] = Field(
        default_factory=dict, description="Values by input name (see the server's plans)."
    )


class UpgradeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    inputs: dict[str, str] = Field(
        default_factory=dict,
        description="Values for inputs the new version adds; those given at install are kept.",
    )


class RegistrySource(BaseModel):
    """Where an installed server came from (stored in its config as `registry`)."""

    id: str
    server: str
    version: str


# --- connectors ---------------------------------------------------------------------------------

ConnectorSource = Literal["user", "managed", "registry"]


class Connector(BaseModel):
    """A server an agent platform can refer to by a stable id."""

    id: str = Field(description="A server's name here, or mcp::<registry id>::<server name>.")
    source: ConnectorSource
    url: str | None = Field(description="Where it is reached; null for a stdio server.")
    transport: str | None
    title: str | None
    description: str | None
    installed_as: str | None = Field(
        description="For a registry connector, the server here installed from it."
    )


class ConnectorList(BaseModel):
    connectors: list[Connector]
    next_cursor: str | None = Field(
        description="Pass as cursor for the next page; null at the end. A page may hold fewer "
        "than limit connectors before the end."
    )


class ConnectorDetail(Connector):
    server_name: str | None = Field(description="What the server calls itself, live.")
    server_version: str | None
    error: str | None = Field(description="Why there is no live information, when there is none.")
