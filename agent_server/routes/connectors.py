"""Connectors: servers referred to by a stable id, listed for discovery and resolved one by one.

A registry's connector is live only once it is installed here: the service connects only to
servers installed here, never to a URL a registry names on its own. A connection takes the
caller's credentials (MCP-HEADERS) and the gateway's open connection, as every connecting route.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from agent_server.context import AppContext, client_headers, context
from agent_server.document import mcp_servers
from agent_server.json_codec import FastJSONResponse
from agent_server.openapi import READS, Operation, Query, Reply, errors
from agent_server.registries.browse import installed_servers, listing_entries
from agent_server.registries.connectors import (
    LOCAL,
    Position,
    decode_cursor,
    encode_cursor,
    local_connector,
    parse_connector_id,
    registry_connector,
)
from agent_server.routes.mcp_connections import TIMEOUT_QUERY, live_tools, request_timeout
from agent_server.routes.mcp_registries import registry_disabled, registry_not_found
from agent_server.routes.registry_servers import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    page_limit,
    read_registry,
    read_server,
)
from agent_server.routes.resource import Resource
from sdk.models import (
    REGISTRY_ID_RULE,
    Connector,
    ConnectorDetail,
    ConnectorList,
    MCPProbeFailed,
    MCPToolsOk,
    MCPToolsResult,
    is_valid_registry_id,
)

PREFIX = "/api/connectors"
ITEM = PREFIX + "/{connector_id:path}"
TOOLS = ITEM + "/tools"
NOT_INSTALLED = (
    "{id!r} is a registry's server that is not installed here: install it "
    "(POST /api/mcp/registries/{{id}}/install) to connect to it"
)


def _phases(ctx: AppContext, request: Request) -> list[str]:
    """The phases a listing walks: the servers here, then each enabled registry by id."""
    document = ctx.store.read()
    enabled = sorted(
        rid
        for rid, (_, config) in ctx.registries.all(document).items()
        if config.get("enabled", True) is not False
    )
    wanted = request.query_params.get("registry")
    if wanted is None:
        return [LOCAL, *enabled]
    if not is_valid_registry_id(wanted):
        raise HTTPException(400, f"invalid registry id: {REGISTRY_ID_RULE}")
    if ctx.registries.find(document, wanted) is None:
        raise registry_not_found(wanted)
    if wanted not in enabled:
        raise registry_disabled(wanted)
    return [wanted]


def _after(phases: list[str], phase: str) -> Position | None:
    index = phases.index(phase) + 1
    return Position(phases[index], None) if index < len(phases) else None


async def list_connectors(request: Request) -> Response:
    ctx = context(request)
    limit = page_limit(request)
    phases = _phases(ctx, request)
    raw = request.query_params.get("cursor")
    position: Position | None = Position(phases[0], 0 if phases[0] == LOCAL else None)
    if raw:
        position = decode_cursor(raw)
        if position is None or position.phase not in phases:
            raise HTTPException(400, "cursor is not a next_cursor of this listing")
    assert position is not None
    document = ctx.store.read()
    connectors: list[Connector] = []
    following: Position | None
    if position.phase == LOCAL:
        found = ctx.servers.all(document)
        names = sorted(n for n, (_, c) in found.items() if c.get("enabled", True) is not False)
        start = position.at if isinstance(position.at, int) else 0
        for name in names[start : start + limit]:
            source, config = found[name]
            connectors.append(local_connector(name, source, ctx.servers.view(config, "redacted")))
        more = start + limit < len(names)
        following = Position(LOCAL, start + limit) if more else _after(phases, LOCAL)
    else:
        rid = position.phase
        params = {"version": "latest", "limit": str(limit)}
        if isinstance(position.at, str):
            params["cursor"] = position.at
        entries, cursor = listing_entries(
            rid, await read_registry(ctx, rid, "/v0.1/servers", params)
        )
        installed = installed_servers(mcp_servers(document))
        connectors = [
            c for e in entries if (c := registry_connector(rid, e, installed)) is not None
        ]
        following = Position(rid, cursor) if cursor else _after(phases, rid)
    body = ConnectorList(
        connectors=connectors, next_cursor=encode_cursor(following) if following else None
    )
    return FastJSONResponse(body.model_dump())


async def _resolve(ctx: AppContext, value: str) -> tuple[Connector, dict[str, Any] | None]:
    """The connector an id names, and the stored config a connection to it uses (None for a
    registry's server not installed here)."""
    parsed = parse_connector_id(value)
    if parsed is None:
        raise HTTPException(
            400, "a connector id is a server name, or mcp::<registry id>::<namespace/name>"
        )
    document = ctx.store.read()
    if isinstance(parsed, str):
        found = ctx.servers.find(document, parsed)
        if found is None:
            raise HTTPException(404, f"no connector {value!r}")
        source, config = found
        return local_connector(parsed, source, ctx.servers.view(config, "redacted")), config
    rid, server = parsed
    entry = await read_server(ctx, rid, server, "latest")
    installed = installed_servers(mcp_servers(document))
    connector = registry_connector(rid, entry, installed)
    if connector is None:
        raise HTTPException(404, f"registry {rid!r} has no remote for {server!r}: no connector")
    found = (
        None
        if connector.installed_as is None
        else ctx.servers.find(document, connector.installed_as)
    )
    return connector, None if found is None else found[1]


def _connector_id(request: Request) -> str:
    value: str = request.path_params["connector_id"]
    return value


async def _live_tools(
    ctx: AppContext, request: Request, connector: Connector, config: dict[str, Any], timeout: float
) -> MCPToolsResult:
    """The connector's server, live: its "client" credentials from the caller's MCP-HEADERS and
    the gateway's open connection when there is one, as every route that connects does."""
    name = connector.installed_as or connector.id
    etag = ctx.servers.etag(name, config)
    return await live_tools(ctx, name, etag, config, timeout, client_headers(request))


async def connector_detail(request: Request) -> Response:
    ctx = context(request)
    timeout = request_timeout(request)
    connector, config = await _resolve(ctx, _connector_id(request))
    name = version = error = None
    if config is None:
        error = NOT_INSTALLED.format(id=connector.id)
    else:
        result = await _live_tools(ctx, request, connector, config, timeout)
        if isinstance(result, MCPToolsOk) and result.server_info is not None:
            name, version = result.server_info.name, result.server_info.version
        elif isinstance(result, MCPProbeFailed):
            error = result.error
    body = ConnectorDetail(
        **connector.model_dump(), server_name=name, server_version=version, error=error
    )
    return FastJSONResponse(body.model_dump())


async def connector_tools(request: Request) -> Response:
    if not request.scope.get("raw_path", b"").endswith(b"/tools"):
        return await connector_detail(request)  # a registry server named `tools`, its / as %2F
    ctx = context(request)
    timeout = request_timeout(request)
    connector, config = await _resolve(ctx, _connector_id(request))
    if config is None:
        raise HTTPException(409, NOT_INSTALLED.format(id=connector.id))
    result = await _live_tools(ctx, request, connector, config, timeout)
    return FastJSONResponse(result.model_dump())


routes = [
    Resource(PREFIX, {"GET": list_connectors}),
    Resource(TOOLS, {"GET": connector_tools}),
    Resource(ITEM, {"GET": connector_detail}),
]

_ID = {
    "connector_id": (
        "A server's name here, or mcp::<registry id>::<namespace/name> with its '/' as %2F.",
        None,
    )
}
_TAGS = ("connectors", READS)
operations = {
    (PREFIX, "GET"): Operation(
        operation_id="list_connectors",
        scope="write",
        summary="List connector ids",
        description=(
            "Every enabled server here (its id is its name; source user or managed), then every "
            "server of each enabled registry that has a remote (mcp::<registry id>::<server "
            "name>; source registry). Follow next_cursor until it is null: a page may hold "
            "fewer than limit connectors. Reads registries (502 / 504 as browsing does)."
        ),
        query_params={
            "registry": Query("Only this registry's connectors.", {"type": "string"}),
            "cursor": Query("The next_cursor of the previous page.", {"type": "string"}),
            "limit": Query(
                "Connectors per page at most.",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            ),
        },
        responses={200: Reply(ConnectorList), **errors(400, 401, 404, 409, 502, 503, 504)},
        tags=_TAGS,
    ),
    (ITEM, "GET"): Operation(
        operation_id="get_connector",
        scope="write",
        summary="Resolve one connector, with live server information",
        description=(
            "The connector and what the server calls itself, from a connection. A registry's "
            "server not installed here is not connected to: error says so."
        ),
        path_params=_ID,
        query_params={"timeout": TIMEOUT_QUERY},
        responses={200: Reply(ConnectorDetail), **errors(400, 401, 404, 409, 502, 503, 504)},
        tags=_TAGS,
        request_headers=("MCP-HEADERS",),
    ),
    (TOOLS, "GET"): Operation(
        operation_id="get_connector_tools",
        scope="write",
        summary="The tools of one connector",
        description="409 for a registry's server that is not installed here.",
        path_params=_ID,
        query_params={"timeout": TIMEOUT_QUERY},
        responses={
            200: Reply((MCPToolsOk, MCPProbeFailed)),
            **errors(400, 401, 404, 409, 502, 503, 504),
        },
        tags=_TAGS,
        request_headers=("MCP-HEADERS",),
    ),
}
