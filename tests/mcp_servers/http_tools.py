"""A streamable-HTTP MCP server on a loopback port (its endpoint is /mcp), for the tests.

usage: http_tools.py PORT [--name NAME] [--token TOKEN] [--header NAME=VALUE]
                     [--certfile PEM --keyfile PEM]

With --token every request needs `Authorization: Bearer TOKEN`, with --header it needs that
header with that value. A refused request gets 401 with a body that echoes what was sent, as a
careless server would: a client must not copy it into its errors unmasked. With --certfile and
--keyfile it serves HTTPS with that certificate.

Each tools/list answer also holds a tool named `listed_<n>`, n the number of tool lists this
process has served, so a test tells a cached answer from a new connection.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import uvicorn
from fastmcp import FastMCP
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools import Tool
from starlette.middleware import Middleware as ASGIMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send


class RequireHeaders:
    """Pure ASGI: 401 unless every required header has exactly its value."""

    def __init__(self, app: ASGIApp, required: dict[str, str]) -> None:
        self.app = app
        self.required = {name.lower(): value for name, value in required.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.required:
            sent = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            if any(sent.get(name) != value for name, value in self.required.items()):
                echo = "; ".join(f"{name}: {sent.get(name)!r}" for name in self.required)
                await PlainTextResponse(f"refused, you sent {echo}", status_code=401)(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)


class CountLists(Middleware):
    def __init__(self) -> None:
        self.served = 0

    async def on_list_tools(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Sequence[Tool]]
    ) -> Sequence[Tool]:
        tools = await call_next(context)
        self.served += 1
        marker = tools[0].model_copy(
            update={"name": f"listed_{self.served}", "description": "A counter."}
        )
        return [*tools, marker]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--name", default="http-tools")
    parser.add_argument("--token")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    args = parser.parse_args()

    mcp = FastMCP(args.name, version="0.9")

    @mcp.tool
    def echo(text: str) -> str:
        """Echo the text back."""
        return text

    mcp.add_middleware(CountLists())
    required = dict(h.split("=", 1) for h in args.header)
    if args.token is not None:
        required["Authorization"] = f"Bearer {args.token}"
    app = mcp.http_app(middleware=[ASGIMiddleware(RequireHeaders, required=required)])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        ssl_certfile=args.certfile,
        ssl_keyfile=args.keyfile,
    )


if __name__ == "__main__":
    main()
