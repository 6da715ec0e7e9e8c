"""SettingsClient and AsyncSettingsClient: the settings API from Python, over httpx.

Both clients send the same calls (sdk._requests) and read the same models; they differ only in
how they wait. Every error answer raises a typed exception from sdk.errors.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from sdk._keys import find_api_key
from sdk._registries import AsyncConnectors, AsyncRegistries, Connectors, Registries
from sdk._requests import (
    SERVERS,
    TOOLS,
    Call,
    body,
    check,
    conditional,
    export_call,
    import_call,
    server_path,
    tool_call,
)
from sdk.errors import PreconditionFailed
from sdk.models import (
    ClientFormatName,
    ExposeMode,
    ImportResponse,
    MCPCatalogResponse,
    MCPProbeFailed,
    MCPServerConfig,
    MCPServerListResponse,
    MCPServerResponse,
    MCPToolCallOk,
    MCPToolCallResult,
    OnConflict,
    SettingsResponse,
)

DEFAULT_UPDATE_ATTEMPTS = 10
Config = dict[str, Any]
ConfigBody = Config | MCPServerConfig


def _headers(api_key: str | None) -> dict[str, str]:
    return {"X-Session-API-Key": api_key} if api_key else {}


def _settings_patch(agent_settings_diff: Config | None, misc_settings_diff: Config | None) -> Call:
    json: Config = {}
    if agent_settings_diff is not None:
        json["agent_settings_diff"] = agent_settings_diff
    if misc_settings_diff is not None:
        json["misc_settings_diff"] = misc_settings_diff
    return Call("PATCH", "/api/settings", json=json)


class SettingsClient:
    """The settings API, synchronously: `client.settings`, `client.mcp_servers`, `client.mcp`,
    `client.registries` and `client.connectors`."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`api_key` None finds the key (sdk._keys): AGENT_SERVER_API_KEY, else the session.key
        of `home` (else AGENT_SERVER_HOME, else ~/.agent_server) when base_url is loopback."""
        if api_key is None:
            api_key = find_api_key(base_url, home)
        self._http = httpx.Client(
            base_url=base_url, headers=_headers(api_key), timeout=timeout, transport=transport
        )
        self.settings = Settings(self._send)
        self.mcp_servers = MCPServers(self._send)
        self.mcp = MCP(self._send)
        self.registries = Registries(self._send)
        self.connectors = Connectors(self._send)

    def _send(self, call: Call) -> httpx.Response:
        response = self._http.request(
            call.method,
            call.path,
            headers=call.headers,
            json=call.json,
            params=call.params,
            timeout=call.timeout if call.timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        return check(response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SettingsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Settings:
    def __init__(self, send: Callable[[Call], httpx.Response]) -> None:
        self._send = send

    def get(self, *, expose: ExposeMode | None = None) -> SettingsResponse:
        response = self._send(Call("GET", "/api/settings", conditional(expose=expose)))
        return SettingsResponse.model_validate_json(response.content)

    def patch(
        self,
        agent_settings_diff: Config | None = None,
        misc_settings_diff: Config | None = None,
    ) -> SettingsResponse:
        response = self._send(_settings_patch(agent_settings_diff, misc_settings_diff))
        return SettingsResponse.model_validate_json(response.content)


class MCPServers:
    def __init__(self, send: Callable[[Call], httpx.Response]) -> None:
        self._send = send

    def list(self, *, if_none_match: str | None = None) -> MCPServerListResponse:
        """Every server's summary and the list's `etag`; NotModified (with that `etag`) when
        `if_none_match` is the list's current ETag, so a poller skips an unchanged list."""
        response = self._send(Call("GET", SERVERS, conditional(if_none_match=if_none_match)))
        return MCPServerListResponse.model_validate_json(response.content)

    def get(
        self,
        name: str,
        *,
        expose: ExposeMode | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> MCPServerResponse:
        headers = conditional(if_match, if_none_match, expose)
        response = self._send(Call("GET", server_path(name), headers))
        return MCPServerResponse.model_validate_json(response.content)

    def put(
        self,
        name: str,
        config: ConfigBody,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> MCPServerResponse:
        call = Call("PUT", server_path(name), conditional(if_match, if_none_match), body(config))
        return MCPServerResponse.model_validate_json(self._send(call).content)

    def patch(
        self,
        name: str,
        patch: Config,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> MCPServerResponse:
        call = Call("PATCH", server_path(name), conditional(if_match, if_none_match), patch)
        return MCPServerResponse.model_validate_json(self._send(call).content)

    def delete(
        self, name: str, *, if_match: str | None = None, if_none_match: str | None = None
    ) -> None:
        self._send(Call("DELETE", server_path(name), conditional(if_match, if_none_match)))

    def update(
        self,
        name: str,
        fn: Callable[[Config], Config],
        *,
        expose: ExposeMode | None = None,
        attempts: int = DEFAULT_UPDATE_ATTEMPTS,
    ) -> MCPServerResponse:
        """Read, apply `fn` to the config, write with If-Match; on 412 read again (bounded).

        `fn` gets a copy of the config as `expose` reads it (redacted by default: masked
        secrets written back keep their stored values). After `attempts` lost races the last
        PreconditionFailed is raised.
        """
        for attempt in range(attempts):
            current = self.get(name, expose=expose)
            try:
                return self.put(name, fn(copy.deepcopy(current.config)), if_match=current.etag)
            except PreconditionFailed:
                if attempt == attempts - 1:
                    raise
        raise ValueError("attempts must be at least 1")


def _call_result(response: httpx.Response) -> MCPToolCallResult:
    if response.json().get("ok"):
        return MCPToolCallOk.model_validate_json(response.content)
    return MCPProbeFailed.model_validate_json(response.content)


class AsyncSettingsClient:
    """The settings API, asynchronously: as SettingsClient, each call awaited."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`api_key` None finds the key (sdk._keys): AGENT_SERVER_API_KEY, else the session.key
        of `home` (else AGENT_SERVER_HOME, else ~/.agent_server) when base_url is loopback."""
        if api_key is None:
            api_key = find_api_key(base_url, home)
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=_headers(api_key), timeout=timeout, transport=transport
        )
        self.settings = AsyncSettings(self._send)
        self.mcp_servers = AsyncMCPServers(self._send)
        self.mcp = AsyncMCP(self._send)
        self.registries = AsyncRegistries(self._send)
        self.connectors = AsyncConnectors(self._send)

    async def _send(self, call: Call) -> httpx.Response:
        response = await self._http.request(
            call.method,
            call.path,
            headers=call.headers,
            json=call.json,
            params=call.params,
            timeout=call.timeout if call.timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        return check(response)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncSettingsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


AsyncSend = Callable[[Call], Awaitable[httpx.Response]]


class AsyncSettings:
    def __init__(self, send: AsyncSend) -> None:
        self._send = send

    async def get(self, *, expose: ExposeMode | None = None) -> SettingsResponse:
        response = await self._send(Call("GET", "/api/settings", conditional(expose=expose)))
        return SettingsResponse.model_validate_json(response.content)

    async def patch(
        self,
        agent_settings_diff: Config | None = None,
        misc_settings_diff: Config | None = None,
    ) -> SettingsResponse:
        response = await self._send(_settings_patch(agent_settings_diff, misc_settings_diff))
        return SettingsResponse.model_validate_json(response.content)


class AsyncMCPServers:
    def __init__(self, send: AsyncSend) -> None:
        self._send = send

    async def list(self, *, if_none_match: str | None = None) -> MCPServerListResponse:
        """As SettingsClient.mcp_servers.list: NotModified when the list still has that ETag."""
        response = await self._send(Call("GET", SERVERS, conditional(if_none_match=if_none_match)))
        return MCPServerListResponse.model_validate_json(response.content)

    async def get(
        self,
        name: str,
        *,
        expose: ExposeMode | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> MCPServerResponse:
        headers = conditional(if_match, if_none_match, expose)
        response = await self._send(Call("GET", server_path(name), headers))
        return MCPServerResponse.model_validate_json(response.content)

    async def put(
        self,
        name: str,
        config: ConfigBody,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> MCPServerResponse:
        call = Call("PUT", server_path(name), conditional(if_match, if_none_match), body(config))
        return MCPServerResponse.model_validate_json((await self._send(call)).content)

    async def patch(
        self,
        name: str,
        patch: Config,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> MCPServerResponse:
        call = Call("PATCH", server_path(name), conditional(if_match, if_none_match), patch)
        return MCPServerResponse.model_validate_json((await self._send(call)).content)

    async def delete(
        self, name: str, *, if_match: str | None = None, if_none_match: str | None = None
    ) -> None:
        await self._send(Call("DELETE", server_path(name), conditional(if_match, if_none_match)))

    async def update(
        self,
        name: str,
        fn: Callable[[Config], Config],
        *,
        expose: ExposeMode | None = None,
        attempts: int = DEFAULT_UPDATE_ATTEMPTS,
    ) -> MCPServerResponse:
        """As SettingsClient.mcp_servers.update: read, apply, write with If-Match, retry on 412."""
        for attempt in range(attempts):
            current = await self.get(name, expose=expose)
            try:
                new_config = fn(copy.deepcopy(current.config))
                return await self.put(name, new_config, if_match=current.etag)
            except PreconditionFailed:
                if attempt == attempts - 1:
                    raise
        raise ValueError("attempts must be at least 1")


class MCPConfigFiles:
    """Other clients' MCP config files: import them as servers, export servers as them."""

    def __init__(self, send: Callable[[Call], httpx.Response]) -> None:
        self._send = send

    def import_config(
        self,
        content: Config | str,
        *,
        format: ClientFormatName | None = None,
        on_conflict: OnConflict = "fail",
        dry_run: bool = False,
        values: dict[str, str] | None = None,
    ) -> ImportResponse:
        """`content` is the file's JSON value, or its text for YAML (continue). A refused
        import raises Conflict (409) or ValidationFailed (422); its lines are in `exc.body`."""
        call = import_call(content, format, on_conflict, dry_run, values)
        return ImportResponse.model_validate_json(self._send(call).content)

    def export_config(
        self,
        format: ClientFormatName,
        *,
        servers: list[str] | None = None,
        via_gateway: bool = False,
        expose: ExposeMode | None = None,
    ) -> str:
        """The client's file as text (JSON, or YAML for continue)."""
        return self._send(export_call(format, servers, via_gateway, expose)).text


class AsyncMCPConfigFiles:
    """As MCPConfigFiles, asynchronously."""

    def __init__(self, send: AsyncSend) -> None:
        self._send = send

    async def import_config(
        self,
        content: Config | str,
        *,
        format: ClientFormatName | None = None,
        on_conflict: OnConflict = "fail",
        dry_run: bool = False,
        values: dict[str, str] | None = None,
    ) -> ImportResponse:
        call = import_call(content, format, on_conflict, dry_run, values)
        return ImportResponse.model_validate_json((await self._send(call)).content)

    async def export_config(
        self,
        format: ClientFormatName,
        *,
        servers: list[str] | None = None,
        via_gateway: bool = False,
        expose: ExposeMode | None = None,
    ) -> str:
        return (await self._send(export_call(format, servers, via_gateway, expose))).text


class MCP(MCPConfigFiles):
    """`client.mcp`: the gateway's tools over plain HTTP, and clients' config files."""

    def tools(self) -> MCPCatalogResponse:
        """The catalog: every enabled server's tools with their `gateway_name`."""
        return MCPCatalogResponse.model_validate_json(self._send(Call("GET", TOOLS)).content)

    def call_tool(
        self,
        gateway_name: str,
        arguments: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        authorization: str | None = None,
        mcp_headers: dict[str, dict[str, str]] | None = None,
    ) -> MCPToolCallResult:
        """The server's answer (`is_error` true for an error result), or MCPProbeFailed when
        it gave none; NotFound for a name the gateway does not serve.

        `authorization` is a bare token for a server whose auth is "client"; `mcp_headers`
        gives the headers servers leave to the caller, by server name (the MCP-HEADERS header).
        """
        call = tool_call(gateway_name, arguments, timeout, authorization, mcp_headers)
        return _call_result(self._send(call))


class AsyncMCP(AsyncMCPConfigFiles):
    """The MCP gateway's tools over plain HTTP."""

    async def tools(self) -> MCPCatalogResponse:
        """The catalog: every enabled server's tools with their `gateway_name`."""
        response = await self._send(Call("GET", TOOLS))
        return MCPCatalogResponse.model_validate_json(response.content)

    async def call_tool(
        self,
        gateway_name: str,
        arguments: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        authorization: str | None = None,
        mcp_headers: dict[str, dict[str, str]] | None = None,
    ) -> MCPToolCallResult:
        """The server's answer, as SettingsClient.mcp.call_tool gives it."""
        call = tool_call(gateway_name, arguments, timeout, authorization, mcp_headers)
        return _call_result(await self._send(call))
