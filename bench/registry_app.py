"""A registry for the bench: the official API's two reads over 100 servers, each an npm package
with the three secret environment variables of the bench's servers (A, B, C).

    python -m bench.registry_app --port 8002
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent_server.cli import log_config
from bench.seed import ENV_KEYS

SERVERS = 100
OFFICIAL = "io.modelcontextprotocol.registry/official"


def registry_server_name(index: int) -> str:
    return f"io.bench/server-{index:03d}"


def server_json(index: int) -> dict[str, Any]:
    return {
        "name": registry_server_name(index),
        "title": f"Bench server {index}",
        "description": f"benchmark server {index}",
        "version": "1.0.0",
        "packages": [
            {
                "registryType": "npm",
                "identifier": "@modelcontextprotocol/server-filesystem",
                "version": "1.0.0",
                "packageArguments": [{"type": "positional", "value": f"/srv/data/{index:05d}"}],
                "environmentVariables": [
                    {"name": key, "isSecret": True, "isRequired": True} for key in ENV_KEYS
                ],
            }
        ],
    }


def create_app() -> Starlette:
    entries = [
        {"server": server_json(i), "_meta": {OFFICIAL: {"status": "active", "isLatest": True}}}
        for i in range(SERVERS)
    ]
    by_name = {entry["server"]["name"]: entry for entry in entries}

    async def page(request: Request) -> Response:
        limit = int(request.query_params.get("limit", "30"))
        cursor = request.query_params.get("cursor", "")
        found = [e for e in entries if e["server"]["name"] > cursor][:limit]
        metadata: dict[str, Any] = {"count": len(found)}
        if found and found[-1] is not entries[-1]:
            metadata["nextCursor"] = found[-1]["server"]["name"]
        return JSONResponse({"servers": found, "metadata": metadata})

    async def latest(request: Request) -> Response:
        entry = by_name.get(unquote(request.path_params["name"]))
        return JSONResponse(entry) if entry else JSONResponse({"error": "not found"}, 404)

    async def health(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/v0.1/servers", page),
            Route("/v0.1/servers/{name:path}/versions/latest", latest),
            Route("/health", health),
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.registry_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    uvicorn.run(
        create_app(),
        host=args.host,
        port=args.port,
        log_config=log_config(),
        log_level=args.log_level,
    )


if __name__ == "__main__":
    main()
