"""`/mcp`: the MCP gateway endpoint (streamable HTTP), served by agent_server.gateway.

The route only hands the request to the app's mounted gateway; the guard, the session key and
the `write` scope (it runs tools) are checked before, as on every route.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from agent_server.context import client_headers
from agent_server.gateway.endpoint import GIVEN_KEY, PATH
from agent_server.openapi import Operation, Reply, errors
from agent_server.routes.resource import Resource
from sdk.models import ErrorBody

METHODS = ("GET", "POST", "DELETE")


class GatewayEndpoint:
    """ASGI: the request goes to the gateway app of the app serving it, with the caller's
    MCP-HEADERS parsed and checked first (a refused one is a 400)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope["app"]
        scope[GIVEN_KEY] = client_headers(Request(scope))
        await app.state.gateway(scope, receive, send)


class GatewayRoute(Resource):
    """A Resource (its 405 lists every method) whose endpoint is the ASGI gateway."""

    def __init__(self) -> None:
        Route.__init__(self, PATH, GatewayEndpoint(), methods=list(METHODS))


routes = [GatewayRoute()]

_TRANSPORT = (
    "The MCP streamable HTTP transport (JSON-RPC 2.0 over POST; GET opens the stream of a "
    "session's notifications; DELETE ends a session). tools/list gives the tools of every "
    "enabled MCP server under gateway names (<server>__<tool>, at most 64 of A-Z a-z 0-9 _ -); "
    "tools/call routes to the server that owns the tool and answers as it did. Use an MCP "
    "client (it sends Accept: application/json, text/event-stream) rather than plain HTTP."
)
_ANSWER = Reply(
    {"type": "object", "description": "A JSON-RPC 2.0 message (or a text/event-stream)."},
    description="The JSON-RPC answer, as JSON or as an event stream.",
)
_REFUSED = Reply(
    ErrorBody, description="The key lacks the write scope, or a browser request from another site"
)
operations = {
    (PATH, method): Operation(
        operation_id=f"mcp_gateway_{method.lower()}",
        scope="write",
        summary=summary,
        description=_TRANSPORT,
        request={"type": "object", "description": "A JSON-RPC 2.0 message."}
        if method == "POST"
        else None,
        request_description="A JSON-RPC 2.0 request or notification." if method == "POST" else "",
        responses={200: _ANSWER, 403: _REFUSED, **errors(400, 401, 404, 415)},
        tags=("mcp-gateway", "mcp-connections"),
    )
    for method, summary in (
        ("POST", "Send an MCP message to the gateway"),
        ("GET", "Open the stream of an MCP session's notifications"),
        ("DELETE", "End an MCP session of the gateway"),
    )
}
