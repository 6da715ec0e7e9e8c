"""`POST /api/mcp/tools/{gateway_name}/call`: a gateway tool called over plain HTTP, for callers
that do not speak MCP. Same tools, names, connections and credentials as `/mcp`.
"""

from __future__ import annotations

import time

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request

from agent_server.bodies import read_json_object
from agent_server.context import client_headers, context
from agent_server.document import pydantic_field_errors
from agent_server.errors import InvalidSettings
from agent_server.gateway.names import PATTERN
from agent_server.gateway.tools import UnknownTool
from agent_server.json_codec import FastJSONResponse
from agent_server.openapi import Operation, Reply, errors
from agent_server.probes import ProbeFailed
from agent_server.routes.resource import Resource
from sdk.models import MCPProbeFailed, MCPToolCallOk, MCPToolCallRequest

PATH = "/api/mcp/tools/{gateway_name}/call"


def _unknown(name: str) -> HTTPException:
    return HTTPException(
        404,
        f"no tool named {name!r} on the gateway; GET /api/mcp/tools lists each tool's gateway_name",
    )


async def call_tool(request: Request) -> FastJSONResponse:
    ctx = context(request)
    name = request.path_params["gateway_name"]
    if not PATTERN.match(name):
        raise _unknown(name)
    try:
        body = MCPToolCallRequest.model_validate(await read_json_object(request))
    except ValidationError as exc:
        raise InvalidSettings(pydantic_field_errors(exc, ())) from None
    given = client_headers(request)
    if body.authorization is not None:
        given = ctx.gateway.with_bearer(name, given, body.authorization)
    started = time.perf_counter()
    try:
        result = await ctx.gateway.call(name, body.arguments, body.timeout, given)
    except UnknownTool:
        raise _unknown(name) from None
    except ProbeFailed as failed:
        return FastJSONResponse(failed.answer().model_dump())
    answer = MCPToolCallOk(
        ok=True,
        content=[
            block.model_dump(mode="json", by_alias=True, exclude_none=True)
            for block in result.content
        ],
        structured_content=result.structured_content,
        is_error=bool(result.is_error),
        latency_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return FastJSONResponse(answer.model_dump())


routes = [Resource(PATH, {"POST": call_tool})]

operations = {
    (PATH, "POST"): Operation(
        operation_id="call_mcp_tool",
        scope="write",
        summary="Call one tool of the MCP gateway",
        description=(
            "Routes the call to the server that owns the tool, as /mcp does, over the same "
            "connections. The server's answer comes back as it gave it: an error result (such "
            'as invalid arguments) is ok true with is_error true. {"ok": false} with the '
            "error and its kind when the server cannot be reached, does not answer in time, "
            "or is left out of the gateway. Tool names are the gateway_name of "
            "GET /api/mcp/tools."
        ),
        path_params={"gateway_name": "The tool's gateway name: <server>__<tool>, as listed."},
        request=MCPToolCallRequest,
        request_description=(
            'The arguments, a timeout in seconds, and for a server whose auth is "client" '
            "the caller's bare token (sent as Authorization: Bearer <token>)."
        ),
        responses={
            200: Reply(
                (MCPToolCallOk, MCPProbeFailed),
                description='The server\'s answer, or {"ok": false} with the error and its kind.',
            ),
            **errors(400, 401, 404, 413, 415, 422, 503),
        },
        tags=("mcp-gateway", "mcp-connections"),
        request_headers=("MCP-HEADERS",),
    ),
}
