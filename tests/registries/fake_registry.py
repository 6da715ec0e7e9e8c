"""A fake MCP registry speaking the official API (v0.1) on a loopback port, for the tests.

usage: fake_registry.py PORT [--mcp-host HOST:PORT] [--certfile PEM --keyfile PEM]

Each first path segment is a registry of its own, so one process serves them all:
  /main/...     the schema's valid examples and tests/registries/data/servers.json, with
                deprecated and deleted entries; POST /main/publish adds a version
  /bulk/...     250 active servers (and deleted and deprecated ones between them)
  /snake/...    the bulk servers, paged with `next_cursor` instead of `nextCursor`
  /keyed/...    the main servers, only with `X-Registry-Key: canary-registry-key-31b7`;
                a refusal echoes the headers it got, as a careless registry would
  /error/...    HTTP 500 whose body echoes the request's headers
  /garbage/...  HTTP 200 with a body that is not JSON (and echoes the headers)
  /notlist/...  HTTP 200 with JSON that is not a server list
  /huge/...     HTTP 200 with 20 MiB of JSON
  /hang/...     never answers
GET /hits/{registry} counts the requests each registry got.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

DATA = Path(__file__).parent / "data"
OFFICIAL = "io.modelcontextprotocol.registry/official"
REGISTRY_KEY = "canary-registry-key-31b7"


def entry(server: dict[str, Any], status: str = "active", latest: bool = True) -> dict[str, Any]:
    meta = {"status": status, "isLatest": latest, "publishedAt": "2025-10-01T00:00:00Z"}
    return {"server": server, "_meta": {OFFICIAL: meta}}


def main_catalog(mcp_host: str) -> list[dict[str, Any]]:
    found = [
        entry(json.loads((DATA / f"{name}.json").read_text()))
        for name in ("minimal", "with-package", "with-remote")
    ]
    for server in json.loads((DATA / "servers.json").read_text()):
        status = server.pop("status", "active")
        for remote in server.get("remotes", []):
            for variable in remote.get("variables", {}).values():
                if variable.get("default") == "MCP_HOST":
                    variable["default"] = mcp_host
        found.append(entry(server, status))
    return found


def bulk_catalog() -> list[dict[str, Any]]:
    found = []
    for i in range(250):
        server = {"name": f"io.example.bulk/server-{i:03d}", "description": "", "version": "1.0.0"}
        found.append(entry(server))
        if i % 25 == 0:
            gone = {
                "name": f"io.example.bulk/server-{i:03d}-gone",
                "description": "",
                "version": "1",
            }
            found.append(entry(gone, "deleted" if i % 50 == 0 else "deprecated"))
    return found


class Registry:
    def __init__(self, entries: list[dict[str, Any]], cursor_key: str = "nextCursor") -> None:
        self.entries = entries
        self.cursor_key = cursor_key

    def latest(self) -> list[dict[str, Any]]:
        return sorted(
            (e for e in self.entries if e["_meta"][OFFICIAL]["isLatest"]),
            key=lambda e: e["server"]["name"],
        )

    def page(self, request: Request) -> Response:
        params = request.query_params
        found = self.latest() if params.get("version") == "latest" else self.entries
        search = params.get("search")
        if search:
            found = [e for e in found if search in e["server"]["name"]]
        cursor = params.get("cursor")
        if cursor:
            found = [e for e in found if e["server"]["name"] > cursor]
        limit = int(params.get("limit", "30"))
        page = found[:limit]
        metadata: dict[str, Any] = {"count": len(page)}
        if len(found) > limit:
            metadata[self.cursor_key] = page[-1]["server"]["name"]
        return JSONResponse({"servers": page, "metadata": metadata})

    def version(self, name: str, version: str) -> Response:
        for item in self.entries:
            server = item["server"]
            if server["name"] == name and (
                server["version"] == version
                or (version == "latest" and item["_meta"][OFFICIAL]["isLatest"])
            ):
                return JSONResponse(item)
        return JSONResponse({"error": "Server not found"}, status_code=404)

    def versions(self, name: str) -> Response:
        found = [item for item in self.entries if item["server"]["name"] == name]
        if not found:
            return JSONResponse({"error": "Server not found"}, status_code=404)
        return JSONResponse({"servers": found[::-1], "metadata": {"count": len(found)}})

    def publish(self, server: dict[str, Any]) -> None:
        for item in self.entries:
            if item["server"]["name"] == server["name"]:
                item["_meta"][OFFICIAL]["isLatest"] = False
        self.entries.append(entry(server))


def build_app(mcp_host: str) -> Starlette:
    hits: Counter[str] = Counter()
    main = Registry(main_catalog(mcp_host))
    registries = {
        "main": main,
        "keyed": main,
        "bulk": Registry(bulk_catalog()),
        "snake": Registry(bulk_catalog(), cursor_key="next_cursor"),
    }

    def echo(request: Request) -> str:
        return "; ".join(f"{k}: {v}" for k, v in request.headers.items())

    async def huge() -> AsyncIterator[bytes]:
        yield b'{"servers": [], "padding": "'
        for _ in range(20):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    async def api(request: Request) -> Response:
        mode = request.path_params["mode"]
        rest = request.path_params.get("rest", "")
        hits[mode] += 1
        if mode == "hang":
            while not await request.is_disconnected():
                await asyncio.sleep(0.1)
            return Response(status_code=499)
        if mode == "error":
            return PlainTextResponse(f"internal error, you sent {echo(request)}", 500)
        if mode == "garbage":
            return PlainTextResponse(f"<html>not an API, you sent {echo(request)}")
        if mode == "notlist":
            return JSONResponse({"servers": "none", "metadata": {}})
        if mode == "huge":
            return StreamingResponse(huge(), media_type="application/json")
        if mode == "keyed" and request.headers.get("x-registry-key") != REGISTRY_KEY:
            return PlainTextResponse(f"refused, you sent {echo(request)}", 401)
        registry = registries[mode]
        if rest == "":
            return registry.page(request)
        if rest.endswith("/versions"):
            return registry.versions(rest.removesuffix("/versions"))
        name, _, version = rest.rpartition("/versions/")
        return registry.version(name, version)

    async def publish(request: Request) -> Response:
        main.publish(await request.json())
        return Response(status_code=204)

    async def count(request: Request) -> Response:
        return JSONResponse({"hits": hits[request.path_params["mode"]]})

    return Starlette(
        routes=[
            Route("/hits/{mode}", count),
            Route("/main/publish", publish, methods=["POST"]),
            Route("/{mode}/v0.1/servers", api, name="page"),
            Route("/{mode}/v0.1/servers/{rest:path}", api),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--mcp-host", default="127.0.0.1:9")
    parser.add_argument("--certfile", help="serve HTTPS with this certificate (PEM)...")
    parser.add_argument("--keyfile", help="...and its key (PEM)")
    args = parser.parse_args()
    app = build_app(args.mcp_host)
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
