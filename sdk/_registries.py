"""`client.registries` and `client.connectors`: MCP registries, installs and connector ids.

Each call is built once (the functions below) and sent by a sync or an async class, which
differ only in how they wait.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from sdk._requests import Call, body, conditional, server_path
from sdk.errors import BadRequest
from sdk.models import (
    REGISTRY_ID_RULE,
    ConnectorDetail,
    ConnectorList,
    ExposeMode,
    MCPProbeFailed,
    MCPServerResponse,
    MCPToolsOk,
    RegistryConfig,
    RegistryListResponse,
    RegistryResponse,
    RegistryServerDetail,
    RegistryServerList,
    is_valid_registry_id,
)

REGISTRIES = "/api/settings/mcp-registries"
CONNECTORS = "/api/connectors"
Model = TypeVar("Model", bound=BaseModel)
Send = Callable[[Call], httpx.Response]
AsyncSend = Callable[[Call], Awaitable[httpx.Response]]


def registry_path(registry_id: str) -> str:
    """The URL path of a registry; BadRequest, without a request, for an id that is not one."""
    if not is_valid_registry_id(registry_id):
        raise BadRequest(400, f"invalid registry id: {REGISTRY_ID_RULE}")
    return f"{REGISTRIES}/{registry_id}"


def _browse_path(registry_id: str) -> str:
    registry_path(registry_id)
    return f"/api/mcp/registries/{registry_id}"


def _params(**values: Any) -> dict[str, str]:
    return {key: str(value) for key, value in values.items() if value is not None}


def list_call(if_none_match: str | None) -> Call:
    return Call("GET", REGISTRIES, conditional(if_none_match=if_none_match))


def get_call(
    registry_id: str, expose: ExposeMode | None, if_match: str | None, if_none_match: str | None
) -> Call:
    headers = conditional(if_match, if_none_match, expose)
    return Call("GET", registry_path(registry_id), headers)


def write_call(
    method: str,
    registry_id: str,
    json: Any,
    if_match: str | None,
    if_none_match: str | None,
) -> Call:
    return Call(method, registry_path(registry_id), conditional(if_match, if_none_match), json)


def browse_call(
    registry_id: str, search: str | None, cursor: str | None, limit: int | None
) -> Call:
    params = _params(search=search, cursor=cursor, limit=limit)
    return Call("GET", _browse_path(registry_id) + "/servers", params=params)


def show_call(registry_id: str, server: str, version: str | None) -> Call:
    path = f"{_browse_path(registry_id)}/servers/{quote(server, safe='')}"
    return Call("GET", path, params=_params(version=version))


def install_call(
    registry_id: str,
    server: str,
    version: str | None,
    as_: str | None,
    choose: dict[str, int] | None,
    inputs: dict[str, str] | None,
) -> Call:
    json: dict[str, Any] = {"server": server, "inputs": inputs or {}}
    json.update((k, v) for k, v in (("version", version), ("as", as_), ("choose", choose)) if v)
    return Call("POST", _browse_path(registry_id) + "/install", json=json)


def upgrade_call(name: str, inputs: dict[str, str] | None, if_match: str | None) -> Call:
    path = server_path(name) + "/upgrade"
    return Call("POST", path, conditional(if_match), {"inputs": inputs or {}})


def connectors_call(registry: str | None, cursor: str | None, limit: int | None) -> Call:
    return Call("GET", CONNECTORS, params=_params(registry=registry, cursor=cursor, limit=limit))


def connector_call(connector_id: str, suffix: str, timeout: float | None) -> Call:
    path = f"{CONNECTORS}/{quote(connector_id, safe=':')}{suffix}"
    return Call("GET", path, params=_params(timeout=timeout))


def tools_result(response: httpx.Response) -> MCPToolsOk | MCPProbeFailed:
    data = response.json()
    model = MCPToolsOk if data.get("ok") else MCPProbeFailed
    return model.model_validate(data)


def _read(model: type[Model], response: httpx.Response) -> Model:
    return model.model_validate_json(response.content)


RegistryBody = dict[str, Any] | RegistryConfig


class Registries:
    """MCP registries as resources, browsing them, and installing and upgrading servers."""

    def __init__(self, send: Send) -> None:
        self._send = send

    def list(self, *, if_none_match: str | None = None) -> RegistryListResponse:
        return _read(RegistryListResponse, self._send(list_call(if_none_match)))

    def get(
        self,
        registry_id: str,
        *,
        expose: ExposeMode | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> RegistryResponse:
        call = get_call(registry_id, expose, if_match, if_none_match)
        return _read(RegistryResponse, self._send(call))

    def put(
        self,
        registry_id: str,
        config: RegistryBody,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> RegistryResponse:
        call = write_call("PUT", registry_id, body(config), if_match, if_none_match)
        return _read(RegistryResponse, self._send(call))

    def patch(
        self,
        registry_id: str,
        patch: dict[str, Any],
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> RegistryResponse:
        call = write_call("PATCH", registry_id, patch, if_match, if_none_match)
        return _read(RegistryResponse, self._send(call))

    def delete(
        self, registry_id: str, *, if_match: str | None = None, if_none_match: str | None = None
    ) -> None:
        self._send(write_call("DELETE", registry_id, None, if_match, if_none_match))

    def browse(
        self,
        registry_id: str,
        *,
        search: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> RegistryServerList:
        call = browse_call(registry_id, search, cursor, limit)
        return _read(RegistryServerList, self._send(call))

    def show(
        self, registry_id: str, server: str, *, version: str | None = None
    ) -> RegistryServerDetail:
        return _read(RegistryServerDetail, self._send(show_call(registry_id, server, version)))

    def install(
        self,
        registry_id: str,
        server: str,
        *,
        version: str | None = None,
        as_: str | None = None,
        choose: dict[str, int] | None = None,
        inputs: dict[str, str] | None = None,
    ) -> MCPServerResponse:
        call = install_call(registry_id, server, version, as_, choose, inputs)
        return _read(MCPServerResponse, self._send(call))

    def upgrade(
        self, name: str, *, inputs: dict[str, str] | None = None, if_match: str | None = None
    ) -> MCPServerResponse:
        return _read(MCPServerResponse, self._send(upgrade_call(name, inputs, if_match)))


class AsyncRegistries:
    """As Registries, each call awaited."""

    def __init__(self, send: AsyncSend) -> None:
        self._send = send

    async def list(self, *, if_none_match: str | None = None) -> RegistryListResponse:
        return _read(RegistryListResponse, await self._send(list_call(if_none_match)))

    async def get(
        self,
        registry_id: str,
        *,
        expose: ExposeMode | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> RegistryResponse:
        call = get_call(registry_id, expose, if_match, if_none_match)
        return _read(RegistryResponse, await self._send(call))

    async def put(
        self,
        registry_id: str,
        config: RegistryBody,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> RegistryResponse:
        call = write_call("PUT", registry_id, body(config), if_match, if_none_match)
        return _read(RegistryResponse, await self._send(call))

    async def patch(
        self,
        registry_id: str,
        patch: dict[str, Any],
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> RegistryResponse:
        call = write_call("PATCH", registry_id, patch, if_match, if_none_match)
        return _read(RegistryResponse, await self._send(call))

    async def delete(
        self, registry_id: str, *, if_match: str | None = None, if_none_match: str | None = None
    ) -> None:
        await self._send(write_call("DELETE", registry_id, None, if_match, if_none_match))

    async def browse(
        self,
        registry_id: str,
        *,
        search: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> RegistryServerList:
        call = browse_call(registry_id, search, cursor, limit)
        return _read(RegistryServerList, await self._send(call))

    async def show(
        self, registry_id: str, server: str, *, version: str | None = None
    ) -> RegistryServerDetail:
        call = show_call(registry_id, server, version)
        return _read(RegistryServerDetail, await self._send(call))

    async def install(
        self,
        registry_id: str,
        server: str,
        *,
        version: str | None = None,
        as_: str | None = None,
        choose: dict[str, int] | None = None,
        inputs: dict[str, str] | None = None,
    ) -> MCPServerResponse:
        call = install_call(registry_id, server, version, as_, choose, inputs)
        return _read(MCPServerResponse, await self._send(call))

    async def upgrade(
        self, name: str, *, inputs: dict[str, str] | None = None, if_match: str | None = None
    ) -> MCPServerResponse:
        return _read(MCPServerResponse, await self._send(upgrade_call(name, inputs, if_match)))


class Connectors:
    """Connector ids: the servers here and registries' remote servers."""

    def __init__(self, send: Send) -> None:
        self._send = send

    def list(
        self, *, registry: str | None = None, cursor: str | None = None, limit: int | None = None
    ) -> ConnectorList:
        return _read(ConnectorList, self._send(connectors_call(registry, cursor, limit)))

    def get(self, connector_id: str, *, timeout: float | None = None) -> ConnectorDetail:
        return _read(ConnectorDetail, self._send(connector_call(connector_id, "", timeout)))

    def tools(
        self, connector_id: str, *, timeout: float | None = None
    ) -> MCPToolsOk | MCPProbeFailed:
        return tools_result(self._send(connector_call(connector_id, "/tools", timeout)))


class AsyncConnectors:
    """As Connectors, each call awaited."""

    def __init__(self, send: AsyncSend) -> None:
        self._send = send

    async def list(
        self, *, registry: str | None = None, cursor: str | None = None, limit: int | None = None
    ) -> ConnectorList:
        return _read(ConnectorList, await self._send(connectors_call(registry, cursor, limit)))

    async def get(self, connector_id: str, *, timeout: float | None = None) -> ConnectorDetail:
        call = connector_call(connector_id, "", timeout)
        return _read(ConnectorDetail, await self._send(call))

    async def tools(
        self, connector_id: str, *, timeout: float | None = None
    ) -> MCPToolsOk | MCPProbeFailed:
        return tools_result(await self._send(connector_call(connector_id, "/tools", timeout)))
