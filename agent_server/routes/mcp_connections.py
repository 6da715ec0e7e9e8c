"""Live checks of MCP servers: test a candidate config, list a server's tools, the tool catalog
across enabled servers, and a server's health. Each opens real connections through fastmcp.
"""

from __future__ import annotations

import asyncio
from asyncio import Task
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from agent_server.bodies import read_json_object
from agent_server.context import AppContext, client_headers, context
from agent_server.document import (
    is_valid_server_name,
    pydantic_field_errors,
    validate_server,
    without_nulls,
)
from agent_server.errors import InvalidSettings, field_error
from agent_server.gateway.credentials import (
    ClientHeaders,
    client_slots,
    given_for,
    with_credentials,
)
from agent_server.gateway.tool_rules import changed_tools, marked
from agent_server.gateway.tools import ServedServer
from agent_server.json_codec import FastJSONResponse, dumps, encoded_response
from agent_server.openapi import Operation, Query, Reply, errors
from agent_server.probes import ProbeFailed, list_tools
from agent_server.rendered import Encoded
from agent_server.routes.mcp_servers import ITEM, not_found, server_name
from agent_server.routes.resource import Resource
from agent_server.secrets import plaintext_candidate
from sdk.models import (
    MCPCatalogResponse,
    MCPHealth,
    MCPProbeFailed,
    MCPTestRequest,
    MCPToolsOk,
    MCPToolsResult,
)

DEFAULT_TIMEOUT = 15.0
MAX_TIMEOUT = 120.0
DEFAULT_DEADLINE = 30.0
MAX_DEADLINE = 120.0
# Time the catalog gives the probes it cut short to end (their stdio children are killed at
# once; this bounds the rest of their clean-up).
_CUT_SHORT_WIND_DOWN = 3.0


def _seconds(request: Request, name: str, default: float, most: float) -> float:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if not 0 < value <= most:
        raise HTTPException(400, f"{name} is a number of seconds above 0 and at most {most:g}")
    return value


def request_timeout(request: Request) -> float:
    return _seconds(request, "timeout", DEFAULT_TIMEOUT, MAX_TIMEOUT)


def _refresh(request: Request) -> bool:
    return request.query_params.get("refresh", "").lower() in ("1", "true", "yes")


def stored_server(ctx: AppContext, name: str) -> tuple[str, dict[str, Any]]:
    """(ETag, stored config) of a server that exists, else 404."""
    found = ctx.servers.find(ctx.store.read(), name)
    if found is None:
        raise not_found(name)
    config = found[1]
    return ctx.servers.etag(name, config), config


async def test_config(request: Request) -> FastJSONResponse:
    ctx = context(request)
    try:
        body = MCPTestRequest.model_validate(await read_json_object(request))
    except ValidationError as exc:
        raise InvalidSettings(pydantic_field_errors(exc, ())) from None
    stored = None
    if body.name is not None:
        if not is_valid_server_name(body.name):
            raise InvalidSettings(
                [field_error(("name",), "not a valid server name", "server_name")]
            )
        found = ctx.servers.find(ctx.store.read(), body.name)
        stored = found[1] if found else None
    candidate = without_nulls(body.config)
    problems = validate_server(candidate, ("config",))
    if problems:
        raise InvalidSettings(problems)
    config = plaintext_candidate(candidate, stored, ctx.cipher)
    name = body.name or ""
    try:
        config = with_credentials(name, config, given_for(name, config, client_headers(request)))
    except ProbeFailed as missing:
        return FastJSONResponse(missing.answer().model_dump())
    result = await list_tools(ctx.probes, config, body.timeout)
    return FastJSONResponse(result.model_dump())


async def server_tools(request: Request) -> FastJSONResponse:
    ctx = context(request)
    name = server_name(request)
    timeout = request_timeout(request)
    etag, config = stored_server(ctx, name)
    if config.get("enabled", True) is False:
        raise HTTPException(409, f"MCP server {name!r} is disabled; enable it to list its tools")
    given = client_headers(request)
    result = await _tools(ctx, name, etag, config, timeout, _refresh(request), given)
    listed = {name: result.tools} if isinstance(result, MCPToolsOk) else {}
    body = marked(config, result, changed_tools(ctx.pins, listed).get(name, set()))
    return FastJSONResponse(body.model_dump(), headers={"ETag": etag})


async def catalog(request: Request) -> Response:
    """Every enabled server's tools. While the document, the tool lists known and the pins stay
    the same, and no server takes credentials from its caller, this is the same answer: it is
    encoded once, from the known lists, and kept."""
    ctx = context(request)
    timeout = request_timeout(request)
    deadline = _seconds(request, "deadline", DEFAULT_DEADLINE, MAX_DEADLINE)
    refresh = _refresh(request)
    given = client_headers(request)
    document = ctx.store.read()
    inputs = (document, ctx.tools.version, ctx.pins.read())
    kept = None if refresh else ctx.rendered.tool_catalog.find(inputs)
    if kept is not None:
        return encoded_response(kept)
    enabled = {
        name: config
        for name, (_, config) in sorted(ctx.servers.all(document).items())
        if config.get("enabled", True) is not False
    }
    if not refresh and not any(client_slots(config) for config in enabled.values()):
        known = [ctx.tools.get(name, ctx.servers.etag(name, c)) for name, c in enabled.items()]
        if all(result is not None for result in known):
            answer = _catalog(ctx, enabled, [result for result in known if result is not None])
            made = (document, ctx.tools.version, ctx.pins.read())  # tools first seen: pinned
            return encoded_response(
                ctx.rendered.tool_catalog.get(made, lambda: Encoded(dumps(answer)))
            )
    results = await _within(
        deadline,
        [
            asyncio.create_task(
                _tools(ctx, name, ctx.servers.etag(name, config), config, timeout, refresh, given)
            )
            for name, config in enabled.items()
        ],
    )
    return FastJSONResponse(_catalog(ctx, enabled, results))


def _catalog(
    ctx: AppContext, enabled: dict[str, dict[str, Any]], results: list[MCPToolsResult]
) -> dict[str, Any]:
    """The catalog (an MCPCatalogResponse, dumped) of each enabled server's tools result."""
    listed = zip(enabled.items(), results, strict=True)
    return ctx.catalog.build({name: (config, result) for (name, config), result in listed})


async def _tools(
    ctx: AppContext,
    name: str,
    etag: str,
    config: dict[str, Any],
    timeout: float,
    refresh: bool,
    given: ClientHeaders,
) -> MCPToolsResult:
    """The server's tool list as last listed (not yet marked), else listed now."""
    # A server that takes credentials from the caller answers each caller on its own: its
    # answers are never cached.
    shared = not client_slots(config)
    cached = ctx.tools.get(name, etag) if shared and not refresh else None
    if cached is None:
        cached = await live_tools(ctx, name, etag, config, timeout, given)
        if shared:
            ctx.tools.put(name, etag, cached)
    return cached


async def live_tools(
    ctx: AppContext,
    name: str,
    etag: str,
    config: dict[str, Any],
    timeout: float,
    given: ClientHeaders,
) -> MCPToolsResult:
    """Over the gateway's connection to this config when one is open, else a new probe."""
    server = ServedServer(name, etag, ctx.servers.view(config, "plaintext"))
    try:
        key, plaintext = server.connection(given)
    except ProbeFailed as missing:
        return missing.answer()
    pooled = ctx.gateway.pool.find(key)
    if pooled is not None:
        return await pooled.probe(timeout)
    return await list_tools(ctx.probes, plaintext, timeout)


async def _within(deadline: float, probes: list[Task[MCPToolsResult]]) -> list[MCPToolsResult]:
    """Each probe's result, or a deadline failure for each one not done by `deadline` seconds.

    The unfinished ones (still queued for a slot, or still connecting) are cancelled and given
    a moment to end: their stdio children are killed before the answer goes out.
    """
    if not probes:
        return []
    _, pending = await asyncio.wait(probes, timeout=deadline)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=_CUT_SHORT_WIND_DOWN)
    cut_short = MCPProbeFailed(
        ok=False,
        error=f"not reached within the catalog's deadline of {deadline:g} s",
        error_kind="deadline",
    )
    return [cut_short if task in pending else task.result() for task in probes]


async def health(request: Request) -> FastJSONResponse:
    """Lists the tools rather than sending MCP's ping: some servers do not route ping over
    HTTP, and a server that lists its tools is one an agent can use."""
    ctx = context(request)
    name = server_name(request)
    timeout = request_timeout(request)
    etag, config = stored_server(ctx, name)
    checked_at = datetime.now(UTC).isoformat(timespec="seconds")
    result = await live_tools(ctx, name, etag, config, timeout, client_headers(request))
    if isinstance(result, MCPProbeFailed):
        report = MCPHealth(ok=False, latency_ms=None, checked_at=checked_at, error=result.error)
    else:
        report = MCPHealth(ok=True, latency_ms=result.latency_ms, checked_at=checked_at, error=None)
    return FastJSONResponse(report.model_dump(), headers={"ETag": etag})


routes = [
    Resource("/api/mcp/test", {"POST": test_config}),
    Resource("/api/mcp/tools", {"GET": catalog}),
    Resource(ITEM + "/tools", {"GET": server_tools}),
    Resource(ITEM + "/health", {"GET": health}),
]

NAME_PARAM = {"name": "The server's name: 1 to 128 of letters, digits and _ . @ : -"}


def _seconds_query(description: str, default: float, most: float) -> Query:
    schema = {"type": "number", "exclusiveMinimum": 0, "maximum": most, "default": default}
    return Query(description, schema)


TIMEOUT_QUERY = _seconds_query(
    "Seconds each server has to answer, counted from when its probe starts.",
    DEFAULT_TIMEOUT,
    MAX_TIMEOUT,
)
_DEADLINE = _seconds_query(
    "Seconds the whole catalog may take; servers not reached by then are marked so.",
    DEFAULT_DEADLINE,
    MAX_DEADLINE,
)
_REFRESH = Query(
    "true (or 1, yes) connects again instead of answering from the tool cache.",
    {"type": "boolean", "default": False},
)
_RESULT = Reply(
    (MCPToolsOk, MCPProbeFailed),
    description='The tools, or {"ok": false} with the error and its kind.',
)
operations = {
    ("/api/mcp/test", "POST"): Operation(
        operation_id="test_mcp_config",
        scope="write",
        summary="Test a candidate MCP server config without saving it",
        description=(
            "Connects with fastmcp over stdio or HTTP, lists the tools and disconnects. "
            "When name names a stored server, `**********` values take its stored secrets."
        ),
        request=MCPTestRequest,
        request_description="The candidate config, an optional stored name, and a timeout.",
        responses={200: _RESULT, **errors(400, 401, 413, 415, 422, 503)},
        tags=("mcp-connections",),
        request_headers=("MCP-HEADERS",),
    ),
    ("/api/mcp/tools", "GET"): Operation(
        operation_id="get_mcp_tool_catalog",
        scope="write",
        summary="The tool catalog across enabled MCP servers",
        description=(
            "Each tool is named <server>.<tool>; gateway_name is its name on /mcp. Servers are "
            "queried concurrently, at most --max-probes at once (default 8, shared with every "
            "other live check), each with the timeout from when its probe starts; a failing "
            "server shows its error and does not fail the catalog. The answer comes within the "
            "deadline: servers not reached by then (still queued or still connecting) have ok "
            'false and error_kind "deadline", and their probes are ended before the answer.'
        ),
        query_params={"timeout": TIMEOUT_QUERY, "deadline": _DEADLINE, "refresh": _REFRESH},
        responses={200: Reply(MCPCatalogResponse), **errors(400, 401, 503)},
        tags=("mcp-connections",),
        request_headers=("MCP-HEADERS",),
    ),
    (ITEM + "/tools", "GET"): Operation(
        operation_id="get_mcp_server_tools",
        scope="write",
        summary="The tools of one stored MCP server",
        description=(
            "Cached per server ETag: a config change invalidates it; query refresh=1 bypasses it."
        ),
        path_params=NAME_PARAM,
        query_params={"timeout": TIMEOUT_QUERY, "refresh": _REFRESH},
        responses={
            200: Reply((MCPToolsOk, MCPProbeFailed), headers=("ETag",)),
            **errors(400, 401, 404, 409, 503),
        },
        tags=("mcp-connections",),
        request_headers=("MCP-HEADERS",),
    ),
    (ITEM + "/health", "GET"): Operation(
        operation_id="get_mcp_server_health",
        scope="write",
        summary="Check one MCP server over a live connection",
        description="Connects and lists the tools; ok with the latency, or the error.",
        path_params=NAME_PARAM,
        query_params={"timeout": TIMEOUT_QUERY},
        responses={200: Reply(MCPHealth, headers=("ETag",)), **errors(400, 401, 404, 503)},
        tags=("mcp-connections",),
        request_headers=("MCP-HEADERS",),
    ),
}
