"""Each MCP server as its own resource under /api/settings/mcp-servers, with ETags.

The rules of reads and writes are those of every named resource (routes.named); a server's own
checks come first on a write: the agent kind, then managed.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from agent_server.context import AppContext, context
from agent_server.document import (
    SERVER_NAME_RULE,
    Document,
    agent_kind,
    is_valid_server_name,
    resolve_server,
)
from agent_server.entries import Source
from agent_server.json_codec import dumps
from agent_server.openapi import READ_HEADERS, Operation, Reply, errors
from agent_server.registries.install import is_newer
from agent_server.routes.named import (
    Collection,
    entry_response,
    listing_answer,
    write_entry,
)
from agent_server.routes.resource import Resource
from agent_server.routes.settings import expose_mode
from agent_server.server_writes import with_server
from agent_server.servers import MANAGED
from sdk.models import (
    ErrorBody,
    ExposeMode,
    MCPServerListResponse,
    MCPServerResponse,
    RemoteServerConfig,
    StdioServerConfig,
)

PREFIX = "/api/settings/mcp-servers"
WRONG_KIND = (
    "MCP servers need the openhands agent kind, and this agent's kind is {kind!r}; switch with "
    'PATCH /api/settings {{"agent_settings_diff": {{"agent_kind": "openhands"}}}}'
)


def server_name(request: Request) -> str:
    """The {name} of the path; a slash, even percent-encoded, never names a server (404)."""
    if b"%2f" in request.scope.get("raw_path", b"").lower():
        raise HTTPException(404, "no such route: a server name cannot contain '/'")
    name: str = request.path_params["name"]
    if not is_valid_server_name(name):
        raise HTTPException(400, f"invalid MCP server name: {SERVER_NAME_RULE}")
    return name


def not_found(name: str) -> HTTPException:
    return HTTPException(404, f"no MCP server named {name!r}")


class Servers(Collection):
    """The user's MCP servers, beside the administrator's managed ones."""

    what = "server"
    label = "MCP server"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx, ctx.servers)

    def find(self, document: Document, name: str) -> tuple[Source, dict[str, Any]] | None:
        return self.ctx.servers.find(document, name)

    def forget(self, name: str) -> None:
        super().forget(name)
        self.ctx.pins.forget(name)  # a server made again under this name starts unpinned

    def not_found(self, name: str) -> HTTPException:
        return not_found(name)

    def check_writable(self, document: Document, name: str) -> None:
        kind = agent_kind(document["agent_settings"])
        if kind != "openhands":
            raise HTTPException(409, WRONG_KIND.format(kind=kind))
        if name in self.ctx.servers.managed:
            raise HTTPException(403, MANAGED.format(name=name))

    def resolve(self, config: Any, stored: dict[str, Any] | None) -> dict[str, Any]:
        return resolve_server(config, stored, self.ctx.cipher)

    def with_entry(self, document: Document, name: str, config: dict[str, Any] | None) -> Document:
        return with_server(document, name, config)


async def list_servers(request: Request) -> Response:
    ctx = context(request)
    catalog = ctx.servers

    def part(name: str, source: Source, config: dict[str, Any]) -> tuple[bytes, bool]:
        summary = catalog.summary(name, source, config)
        return dumps(with_update(ctx, summary)), summary["registry"] is not None

    generation = ctx.registry_reader.latest_generation
    encoded = ctx.server_list.answer(ctx.store.read(), generation, catalog.managed, part)
    return listing_answer(request, encoded)


def with_update(ctx: AppContext, summary: dict[str, Any]) -> dict[str, Any]:
    """The summary with update_available, from the latest version last read from its registry."""
    source = summary["registry"]
    if source is None:
        return summary
    latest = ctx.registry_reader.known_latest(source["id"], source["server"])
    if latest is None or not is_newer(latest, source["version"]):
        return summary
    return {**summary, "update_available": latest}


async def get_server(request: Request) -> Response:
    ctx = context(request)
    name = server_name(request)
    mode = expose_mode(request)
    found = ctx.servers.find(ctx.store.read(), name)
    if found is None:
        raise not_found(name)

    def body(etag: str, mode: ExposeMode) -> MCPServerResponse:
        config = ctx.servers.view(found[1], mode)
        return MCPServerResponse(name=name, source=found[0], etag=etag, config=config)

    return entry_response(request, Servers(ctx), name, found, mode, body)


async def write_server(request: Request) -> Response:
    name = server_name(request)

    def body(etag: str, config: dict[str, Any]) -> MCPServerResponse:
        return MCPServerResponse(name=name, source="user", etag=etag, config=config)

    return await write_entry(request, Servers(context(request)), name, f"{PREFIX}/{name}", body)


routes = [
    Resource(PREFIX, {"GET": list_servers}),
    Resource(
        PREFIX + "/{name}",
        {"GET": get_server, "PUT": write_server, "PATCH": write_server, "DELETE": write_server},
    ),
]

ITEM = PREFIX + "/{name}"
_NAME = {"name": "The server's name: 1 to 128 of letters, digits and _ . @ : -"}
_CONDITIONAL = ("If-Match", "If-None-Match")
_READ = ("ETag", *READ_HEADERS)
_SERVER = Reply(MCPServerResponse, headers=("ETag",), description="The server, redacted.")
_CONFIG_TEXT = (
    "A server entry in fastmcp's MCPConfig shape: stdio (command, args, env) or remote (url, "
    "headers, auth). Unknown fields are kept. A secret given as `**********` keeps the stored "
    "value."
)
operations = {
    (PREFIX, "GET"): Operation(
        operation_id="list_mcp_servers",
        summary="List MCP servers",
        description="Summaries sorted by name; never a secret. The ETag covers the whole list.",
        request_headers=_CONDITIONAL,
        responses={
            200: Reply(MCPServerListResponse, headers=_READ),
            304: Reply(headers=_READ),
            **errors(401),
            412: Reply(ErrorBody, headers=("ETag",)),
            503: Reply(ErrorBody),
        },
        tags=("mcp-servers",),
    ),
    (ITEM, "GET"): Operation(
        operation_id="get_mcp_server",
        summary="Read one MCP server",
        description=(
            "Secrets read as X-Expose-Secrets says (redacted by default; encrypted and "
            "plaintext need an admin key). A managed server's secrets read redacted in every "
            "mode."
        ),
        path_params=_NAME,
        request_headers=("X-Expose-Secrets", *_CONDITIONAL),
        responses={
            200: Reply(MCPServerResponse, headers=_READ),
            304: Reply(headers=_READ),
            **errors(400, 401, 404),
            412: Reply(ErrorBody, headers=("ETag",)),
            503: Reply(ErrorBody),
        },
        tags=("mcp-servers",),
    ),
    (ITEM, "PUT"): Operation(
        operation_id="put_mcp_server",
        scope="write",
        summary="Create or replace one MCP server",
        description="201 with Location when it creates, 200 when it replaces.",
        path_params=_NAME,
        request_headers=_CONDITIONAL,
        request=(StdioServerConfig, RemoteServerConfig),
        request_description=_CONFIG_TEXT,
        responses={
            200: _SERVER,
            201: Reply(MCPServerResponse, headers=("ETag", "Location")),
            **errors(400, 401, 403, 409),
            412: Reply(ErrorBody, headers=("ETag",)),
            **errors(413, 415, 422, 503),
            428: Reply(ErrorBody, headers=("ETag",)),
        },
        tags=("mcp-servers",),
    ),
    (ITEM, "PATCH"): Operation(
        operation_id="patch_mcp_server",
        scope="write",
        summary="Change one MCP server with a JSON Merge Patch",
        description=(
            'RFC 7396 merge into the stored config: {"env": {"A": null}} deletes one variable, '
            '{"env": {"B": "x"}} sets one; the others stay. Never creates.'
        ),
        path_params=_NAME,
        request_headers=_CONDITIONAL,
        request={"type": "object", "additionalProperties": True},
        request_description="A JSON Merge Patch of the server's config.",
        responses={
            200: _SERVER,
            **errors(400, 401, 403, 404, 409),
            412: Reply(ErrorBody, headers=("ETag",)),
            **errors(413, 415, 422, 503),
            428: Reply(ErrorBody, headers=("ETag",)),
        },
        tags=("mcp-servers",),
    ),
    (ITEM, "DELETE"): Operation(
        operation_id="delete_mcp_server",
        scope="write",
        summary="Delete one MCP server",
        description="204 with no body.",
        path_params=_NAME,
        request_headers=_CONDITIONAL,
        responses={
            204: Reply(),
            **errors(400, 401, 403, 404, 409),
            412: Reply(ErrorBody, headers=("ETag",)),
            428: Reply(ErrorBody, headers=("ETag",)),
            503: Reply(ErrorBody),
        },
        tags=("mcp-servers",),
    ),
}
