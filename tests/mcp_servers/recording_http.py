"""A streamable-HTTP MCP server (endpoint /mcp) that records the headers of every request.

usage: recording_http.py PORT RECORD_FILE

Each HTTP request's headers are appended to RECORD_FILE as one JSON object per line (names in
lower case), so a test sees exactly what a client sent upstream. Tools: `echo(text)`,
`whoami()` (the Authorization header this call came with, so two callers with different tokens
each see their own), `fail()` (an error result), `structured(n)` (structured content) and
`chatty(text)`, which logs and reports progress before it answers, so its answer comes as an
event stream with notifications ahead of the result.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import uvicorn
from fastmcp import Context, FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.dependencies import get_http_headers
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send


class RecordHeaders:
    def __init__(self, app: ASGIApp, record: Path) -> None:
        self.app = app
        self.record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            with self.record.open("a") as out:
                out.write(json.dumps(headers) + "\n")
        await self.app(scope, receive, send)


def main() -> None:
    port, record = int(sys.argv[1]), Path(sys.argv[2])
    mcp = FastMCP("recording-http", version="2.0")

    @mcp.tool
    def echo(text: str) -> str:
        """Echo the text back."""
        return text

    @mcp.tool
    def whoami() -> str:
        """The Authorization header of this call."""
        return get_http_headers(include={"authorization"}).get("authorization", "")

    @mcp.tool
    def fail() -> str:
        """Always an error result."""
        raise ToolError("this tool always fails")

    @mcp.tool
    def structured(n: int) -> dict[str, int]:
        """Structured content: n and its square."""
        return {"n": n, "square": n * n}

    @mcp.tool
    async def chatty(text: str, ctx: Context) -> str:
        """Logs and reports progress, then echoes the text."""
        await ctx.info(f"about to echo {len(text)} characters")
        await ctx.report_progress(1, 2)
        return text

    app = mcp.http_app(middleware=[Middleware(RecordHeaders, record=record)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
