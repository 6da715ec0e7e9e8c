"""GET /api/mcp/export: the servers kept here as a client's config file, for download."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from agent_server.caching import read_headers
from agent_server.context import context
from agent_server.exporter import ExportedFile
from agent_server.formats import FORMAT_NAMES, FORMATS, ClientFormat
from agent_server.openapi import Operation, Query, Reply, errors
from agent_server.routes.mcp_servers import not_found
from agent_server.routes.resource import Resource
from agent_server.routes.settings import expose_mode
from agent_server.secrets import log_plaintext_served

PATH = "/api/mcp/export"
GATEWAY_PATH = "/mcp"


def _format(request: Request) -> ClientFormat:
    name = request.query_params.get("format")
    if name not in FORMATS:
        raise HTTPException(400, "format is one of: " + ", ".join(FORMAT_NAMES))
    return FORMATS[name]


def _names(request: Request) -> list[str] | None:
    raw = request.query_params.get("servers")
    if raw is None:
        return None
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if not names:
        raise HTTPException(400, "servers is a comma-separated list of server names")
    return names


async def export_servers(request: Request) -> Response:
    ctx = context(request)
    client = _format(request)
    mode = expose_mode(request)
    if mode == "encrypted":
        raise HTTPException(
            400, "an export shows secrets as the client's references (redacted) or in plaintext"
        )
    via = request.query_params.get("via")
    if via not in (None, "gateway"):
        raise HTTPException(400, "via takes one value: gateway")
    exported = ExportedFile(client, ctx.cipher, plaintext=mode == "plaintext")
    names = _names(request)
    if via == "gateway":
        exported.add_gateway(str(request.base_url).rstrip("/") + GATEWAY_PATH)
    else:
        found = ctx.servers.all(ctx.store.read())
        if names is None:
            names = [n for n in sorted(found) if found[n][1].get("enabled", True) is not False]
        for name in names:
            if name not in found:
                raise not_found(name)
            exported.add(name, *found[name])
    if mode == "plaintext" and via is None:
        log_plaintext_served(f"an export of MCP servers as {client.name}")
    media = "application/yaml" if client.is_yaml else "application/json"
    headers = {
        **read_headers(mode),
        "Content-Disposition": f'attachment; filename="{client.filename}"',
    }
    return Response(exported.content(), media_type=media, headers=headers)


routes = [Resource(PATH, {"GET": export_servers})]

_FILE = {"type": "object", "additionalProperties": True}
operations = {
    (PATH, "GET"): Operation(
        operation_id="export_mcp_config",
        summary="Export MCP servers as a client's config file",
        description=(
            "A download (Content-Disposition) of the enabled user and managed servers, or "
            "those named, as the client's file: JSON, or YAML for continue. Secrets read as "
            "the client's own references (the mask where it has none); X-Expose-Secrets: "
            "plaintext (admin) shows a user server's values, never a managed one's. "
            "`via=gateway` writes one entry for this service's /mcp instead, its session key "
            "as a reference."
        ),
        request_headers=("X-Expose-Secrets",),
        query_params={
            "format": Query(
                "The client: " + ", ".join(FORMAT_NAMES) + ".",
                {"type": "string", "enum": list(FORMAT_NAMES)},
            ),
            "servers": Query(
                "Comma-separated server names; absent means every enabled server.",
                {"type": "string"},
            ),
            "via": Query(
                "`gateway`: one entry pointing the client at this service.",
                {"type": "string", "enum": ["gateway"]},
            ),
        },
        responses={
            200: Reply(
                _FILE,
                headers=("Content-Disposition", "Cache-Control", "Vary"),
                description="The client's config file",
                media_types={"application/yaml": _FILE},
            ),
            **errors(400, 401, 403, 404, 503),
        },
        tags=("mcp-import-export",),
    ),
}
