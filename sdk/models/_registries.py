"""MCP registries, what installing from one takes, and connectors."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sdk.models._base import _Strict

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
