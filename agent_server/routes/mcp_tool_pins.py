"""`POST /api/settings/mcp-servers/{name}/tools/{tool}/approve`: pin a tool's definition.

A tool whose definition changed since it was first seen (or last approved) is marked changed;
under the server's `pin_tools` the gateway withholds it until this route approves it. Pins live
beside the server (agent_server.gateway.pins), so approving never changes the server's ETag.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request

from agent_server.context import client_headers, context
from agent_server.gateway.pins import definition_hash
from agent_server.gateway.tool_rules import tool_enabled
from agent_server.json_codec import FastJSONResponse
from agent_server.openapi import Operation, Reply, errors
from agent_server.routes.mcp_connections import (
    NAME_PARAM,
    TIMEOUT_QUERY,
    live_tools,
    request_timeout,
    stored_server,
)
from agent_server.routes.mcp_servers import ITEM, server_name
from agent_server.routes.named import check_write_preconditions, preconditions
from agent_server.routes.resource import Resource
from sdk.models import MCPProbeFailed, MCPTool

PATH = ITEM + "/tools/{tool}/approve"


async def approve_tool(request: Request) -> FastJSONResponse:
    """Pin the tool's current definition: a changed tool is served again under pin_tools."""
    ctx = context(request)
    name = server_name(request)
    tool = request.path_params["tool"]
    etag, config = stored_server(ctx, name)
    if config.get("enabled", True) is False:
        raise HTTPException(409, f"MCP server {name!r} is disabled; enable it to approve its tools")
    check_write_preconditions(ctx, preconditions(request), etag, "server")
    result = await live_tools(
        ctx, name, etag, config, request_timeout(request), client_headers(request)
    )
    if isinstance(result, MCPProbeFailed):
        raise HTTPException(
            502, f"the tools of MCP server {name!r} could not be listed: {result.error}"
        )
    found = next((t for t in result.tools if t.name == tool), None)
    if found is None:
        raise HTTPException(404, f"MCP server {name!r} has no tool named {tool!r}")
    ctx.pins.approve(name, tool, definition_hash(found.name, found.description, found.input_schema))
    approved = found.model_copy(
        update={"changed": False, "enabled": tool_enabled(config, found.name, found.tags)}
    )
    return FastJSONResponse(approved.model_dump(), headers={"ETag": etag})


routes = [Resource(PATH, {"POST": approve_tool})]

operations = {
    (PATH, "POST"): Operation(
        operation_id="approve_mcp_server_tool",
        scope="write",
        summary="Approve the current definition of one tool of a server",
        description=(
            "Lists the server's tools over a live connection and pins this tool's definition "
            "(name, description, input schema) as it is now: it is no longer marked changed, "
            "and under pin_tools the gateway serves it again. Pins are kept beside the "
            "server, not in its config: approving does not change the server's ETag. "
            "If-Match is honoured as on other writes."
        ),
        path_params={**NAME_PARAM, "tool": "The tool's own name on that server."},
        query_params={"timeout": TIMEOUT_QUERY},
        request_headers=("If-Match", "If-None-Match", "MCP-HEADERS"),
        responses={
            200: Reply(MCPTool, headers=("ETag",)),
            **errors(400, 401, 404, 409, 412, 428, 502, 503),
        },
        tags=("mcp-connections",),
    ),
}
