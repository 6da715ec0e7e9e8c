"""An HTTP "MCP server" that echoes the bearer token it was sent in every error it answers.

usage: leaky_http.py PORT

POST /status/<code>/mcp answers HTTP <code> with a plain-text body, and POST /jsonrpc/mcp
answers 200 with a JSON-RPC error, both quoting the token whole, cut short, JSON-escaped and
repr-quoted (as a careless server would): none of these may reach a client's answers or logs.
It imports only Starlette and uvicorn: it starts fast.
"""

from __future__ import annotations

import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


def forms(secret: str) -> str:
    """The secret in the forms a careless error message quotes it."""
    cut = secret[: len(secret) // 2]
    return f"whole {secret} | cut {cut} | json {json.dumps(secret)} | repr {secret!r}"


def _token(request: Request) -> str:
    return request.headers.get("authorization", "").removeprefix("Bearer ")


async def status(request: Request) -> Response:
    code = int(request.path_params["code"])
    return PlainTextResponse(f"refused: {forms(_token(request))}", status_code=code)


async def jsonrpc(request: Request) -> Response:
    try:
        ident = (await request.json()).get("id")
    except ValueError:
        ident = None
    message = f"bad credentials: {forms(_token(request))}"
    error = {"code": -32050, "message": message, "data": {"sent": forms(_token(request))}}
    return JSONResponse({"jsonrpc": "2.0", "id": ident, "error": error})


app = Starlette(
    routes=[
        Route("/status/{code:int}/mcp", status, methods=["GET", "POST", "DELETE"]),
        Route("/jsonrpc/mcp", jsonrpc, methods=["POST"]),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
