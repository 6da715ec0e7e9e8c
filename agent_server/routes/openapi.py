"""GET /openapi.json: the document the app built from its own route table at start."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from agent_server.openapi import Operation, Reply
from agent_server.routes.resource import Resource


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.openapi)


routes = [Resource("/openapi.json", {"GET": openapi})]

operations = {
    ("/openapi.json", "GET"): Operation(
        operation_id="get_openapi",
        summary="This OpenAPI document",
        description="Built from the route table and the sdk models. Needs no session API key.",
        responses={200: Reply({"type": "object"})},
        tags=("meta",),
        secured=False,
    ),
}
