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
from sdk._mcp import MCP, AsyncMCP
from sdk._registries import AsyncConnectors, AsyncRegistries, Connectors, Registries
from sdk._requests import (
    SERVERS,
    Call,
    body,
    check,
    conditional,
    server_path,
)
from sdk.errors import PreconditionFailed
from sdk.models import (
    ExposeMode,
    MCPServerConfig,
    MCPServerListResponse,
    MCPServerResponse,
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
