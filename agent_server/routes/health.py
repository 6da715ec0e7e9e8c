"""Liveness: answers once the app is built, without auth."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from agent_server.openapi import Operation, Reply
from agent_server.routes.resource import Resource
from sdk.models import HealthResponse


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


routes = [Resource("/health", {"GET": health})]

operations = {
    ("/health", "GET"): Operation(
        operation_id="get_health",
        summary="Liveness",
        description="200 once the server can serve. Needs no session API key.",
        responses={200: Reply(HealthResponse)},
        tags=("health",),
        secured=False,
    ),
}
