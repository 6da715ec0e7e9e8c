"""The HTTP hop alone: an MCP endpoint that answers at once with canned bytes, for bench.gateway.

A gateway in front of a stdio server adds an HTTP hop that a direct stdio client does not have:
the client's streamable-HTTP transport, and a server reading the request and writing the answer.
This is that hop with nothing behind it. It answers POST /mcp at protocol 2026-07-28 with what
tests/mcp_servers/stdio_tools.py answers (its discover result, its tool list, `add(1, 2)`'s
result), by method, the request's id put in; it is a bare Starlette route started with the same
`uvicorn.run` arguments as `agent_server serve` (like bench/bare_app.py).

    python -m bench.canned_mcp --port 8002
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.bare_app import serve_like_agent_server

_INFO = b'{"io.modelcontextprotocol/serverInfo":{"name":"stdio-tools","version":"1.2.3"}}'
_SCHEMA = (
    b'{"type":"object","additionalProperties":false,"properties":{"a":{"type":"integer"},'
    b'"b":{"type":"integer"}},"required":["a","b"]}'
)
_OUTPUT = (
    b'{"properties":{"result":{"type":"integer"}},"required":["result"],"type":"object",'
    b'"x-fastmcp-wrap-result":true}'
)
RESULTS = {
    "server/discover": b'{"_meta":' + _INFO + b',"ttlMs":0,"cacheScope":"private",'
    b'"supportedVersions":["2026-07-28"],"capabilities":{"tools":{"listChanged":false}},'
    b'"resultType":"complete"}',
    "tools/list": b'{"cacheScope":"private","resultType":"complete","tools":[{"_meta":'
    b'{"fastmcp":{"tags":[]}},"description":"Add two integers.","inputSchema":' + _SCHEMA + b","
    b'"name":"add","outputSchema":'
    + _OUTPUT
    + b',"title":"Add"}],"ttlMs":0,"_meta":'
    + _INFO
    + b"}",
    "tools/call": b'{"_meta":{"fastmcp":{"wrap_result":true},"io.modelcontextprotocol/'
    b'serverInfo":{"name":"stdio-tools","version":"1.2.3"}},"content":[{"text":"3","type":'
    b'"text"}],"isError":false,"resultType":"complete","structuredContent":{"result":3}}',
}


def create_app() -> Starlette:
    async def mcp(request: Request) -> Response:
        message = orjson.loads(await request.body())
        result = RESULTS.get(message.get("method"), RESULTS["tools/call"])
        body = b'{"jsonrpc":"2.0","id":' + orjson.dumps(message.get("id")) + b',"result":'
        return Response(body + result + b"}", media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[Route("/mcp", mcp, methods=["POST"]), Route("/health", health, methods=["GET"])]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.canned_mcp", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    serve_like_agent_server(create_app(), args.host, args.port, args.log_level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
