"""`client.mcp`: the gateway's tools over plain HTTP, and other clients' MCP config files.

Each call is built once (sdk._requests) and sent by a sync or an async class, which differ only
in how they wait.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from sdk._requests import TOOLS, Call, export_call, import_call, tool_call
from sdk.models import (
    ClientFormatName,
    ExposeMode,
    ImportResponse,
    MCPCatalogResponse,
    MCPProbeFailed,
    MCPToolCallOk,
    MCPToolCallResult,
    OnConflict,
)

Config = dict[str, Any]
Send = Callable[[Call], httpx.Response]
AsyncSend = Callable[[Call], Awaitable[httpx.Response]]


def _call_result(response: httpx.Response) -> MCPToolCallResult:
    if response.json().get("ok"):
        return MCPToolCallOk.model_validate_json(response.content)
    return MCPProbeFailed.model_validate_json(response.content)


class MCPConfigFiles:
    """Other clients' MCP config files: import them as servers, export servers as them."""

    def __init__(self, send: Send) -> None:
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
