"""The floors: bare Starlette routes that answer fixed bytes, under the same uvicorn.

The bench fetches GET /api/settings/mcp-servers/{name} from the real server and serves exactly
those bytes (and that ETag) here, at the same path, so the only difference from the real server
is the work the application does. The same holds for the server list and GET /api/settings,
whose bytes change as the bench writes: each round hands the real server's current answers to
this app (POST /bench/bodies, outside the timed requests) before both are measured. Its PUT and
PATCH of one server are the write floor: each durably writes the bytes of the real settings.json
as it was at the start of the round (POST /bench/writes) and answers what GET one server answers.

It is started the way `agent_server serve` starts uvicorn (agent_server/cli.py):
`uvicorn.run(app, host=..., port=..., log_config=log_config(), log_level="info", http=...)`,
so access logs, the event loop and the HTTP implementation are the same.

    python -m bench.bare_app --body-file BODY.json --etag '"..."' --port 8001
    BENCH_BARE_BODY_FILE=BODY.json python -m uvicorn bench.bare_app:app   # the same app
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.floors import durable_replace

ENV_BODY_FILE = "BENCH_BARE_BODY_FILE"
ENV_ETAG = "BENCH_BARE_ETAG"
LIST_PATH = "/api/settings/mcp-servers"
SETTINGS_PATH = "/api/settings"
CATALOG_PATH = "/api/mcp/tools"
RELOAD_PATH = "/bench/bodies"  # POST {"path": ..., "file": ..., "etag": ...}: serve new bytes
WRITES_PATH = "/bench/writes"  # POST {"file": ..., "target": ...}: what the writes write, where


def create_app(body: bytes, etag: str) -> Starlette:
    """GET one server answers `body`; the list, the settings and the catalog paths answer the
    bytes last given to RELOAD_PATH (the real server's own answers, fetched by the bench each
    round). PUT and PATCH of one server read the request's body, durably replace the file last
    given to WRITES_PATH with the bytes of the real settings.json it was given, and answer
    `body`: the write floor, a server that does nothing but the write."""
    headers = {"ETag": etag} if etag else None
    bodies: dict[str, tuple[bytes, dict[str, str] | None]] = {
        LIST_PATH: (b"{}", None),
        SETTINGS_PATH: (b"{}", None),
        CATALOG_PATH: (b"{}", None),
    }

    writes: dict[str, Any] = {"data": b"{}", "target": None}

    async def get_server(request: Request) -> Response:
        return Response(body, media_type="application/json", headers=headers)

    async def write_server(request: Request) -> Response:
        await request.body()
        durable_replace(writes["target"], writes["data"])
        return Response(body, media_type="application/json", headers=headers)

    async def set_writes(request: Request) -> Response:
        given = await request.json()
        writes["data"] = Path(given["file"]).read_bytes()
        writes["target"] = Path(given["target"])
        return Response(status_code=204)

    def fixed(path: str) -> Callable[[Request], Awaitable[Response]]:
        async def get(request: Request) -> Response:
            content, extra = bodies[path]
            return Response(content, media_type="application/json", headers=extra)

        return get

    async def reload(request: Request) -> Response:
        given = await request.json()
        served_etag = given.get("etag")
        bodies[given["path"]] = (
            Path(given["file"]).read_bytes(),
            {"ETag": served_etag} if served_etag else None,
        )
        return Response(status_code=204)

    async def health(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[
            Route(LIST_PATH, fixed(LIST_PATH), methods=["GET"]),
            Route(SETTINGS_PATH, fixed(SETTINGS_PATH), methods=["GET"]),
            Route(CATALOG_PATH, fixed(CATALOG_PATH), methods=["GET"]),
            Route("/api/settings/mcp-servers/{name}", get_server, methods=["GET"]),
            Route("/api/settings/mcp-servers/{name}", write_server, methods=["PUT", "PATCH"]),
            Route(RELOAD_PATH, reload, methods=["POST"]),
            Route(WRITES_PATH, set_writes, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )


def _app_from_env() -> Starlette:
    path = os.environ.get(ENV_BODY_FILE)
    body = Path(path).read_bytes() if path else b"{}"
    return create_app(body, os.environ.get(ENV_ETAG, ""))


app = _app_from_env()


def main(argv: Sequence[str] | None = None) -> int:

    parser = argparse.ArgumentParser(prog="python -m bench.bare_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--body-file", required=True, help="the bytes every GET answers")
    parser.add_argument("--etag", default="", help="the ETag header every GET answers")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    served = create_app(Path(args.body_file).read_bytes(), args.etag)
    serve_like_agent_server(served, args.host, args.port, args.log_level)
    return 0


def serve_like_agent_server(app: Starlette, host: str, port: int, log_level: str) -> None:
    """uvicorn with the same keyword arguments `agent_server serve` passes for one worker."""
    import uvicorn

    from agent_server.cli import log_config
    from agent_server.http_protocol import NAME

    uvicorn.run(app, host=host, port=port, log_config=log_config(), log_level=log_level, http=NAME)


if __name__ == "__main__":
    raise SystemExit(main())
