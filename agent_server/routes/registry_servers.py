"""Browsing a registry: its servers page by page, and one server with its install plans.

Every route that reads a registry answers 502 when it fails and 504 when it does not answer
within --registry-timeout, with a detail naming the registry by id and never its headers.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

from agent_server.context import AppContext, context
from agent_server.document import mcp_servers
from agent_server.json_codec import FastJSONResponse
from agent_server.openapi import READS, Operation, Query, Reply, errors
from agent_server.registries.browse import detail, installed_servers, listing_page, one_entry
from agent_server.registries.client import RegistryNotFound, versions_path
from agent_server.registries.schema import (
    SERVER_NAME_PATTERN,
    RegistryEntry,
    is_registry_server_name,
)
from agent_server.routes.mcp_registries import registry_disabled, registry_id, registry_not_found
from agent_server.routes.resource import Resource
from sdk.models import REGISTRY_ID_PATTERN, RegistryServerDetail, RegistryServerList

PREFIX = "/api/mcp/registries/{id}"
DEFAULT_LIMIT = 30
MAX_LIMIT = 100


async def read_registry(
    ctx: AppContext,
    rid: str,
    path: str,
    params: dict[str, str] | None = None,
    *,
    fresh: bool = False,
) -> Any:
    """GET `path` of an enabled registry: 404 when there is no such registry, 409 when it is
    disabled; RegistryFailed (502 / 504) and RegistryNotFound from the registry itself."""
    found = ctx.registries.find(ctx.store.read(), rid)
    if found is None:
        raise registry_not_found(rid)
    config = found[1]
    if config.get("enabled", True) is False:
        raise registry_disabled(rid)
    etag = ctx.registries.etag(rid, config)
    plaintext = ctx.registries.view(config, "plaintext")
    return await ctx.registry_reader.get(rid, etag, plaintext, path, params, fresh=fresh)


async def read_server(
    ctx: AppContext, rid: str, server: str, version: str, *, fresh: bool = False
) -> RegistryEntry:
    """One version of one server (`latest` for the newest); 404 when the registry has none."""
    try:
        data = await read_registry(ctx, rid, versions_path(server, version), fresh=fresh)
    except RegistryNotFound:
        which = "" if version == "latest" else f" at version {version!r}"
        raise HTTPException(404, f"registry {rid!r} has no server {server!r}{which}") from None
    entry = ctx.registry_reader.derived(data, lambda answer: one_entry(rid, answer))
    if entry.server.name != server:
        raise HTTPException(502, f"registry {rid!r} answered with another server than asked")
    if version == "latest":
        ctx.registry_reader.remember_latest(rid, server, entry.server.version)
    return entry


def page_limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise HTTPException(400, f"limit is a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def page_params(request: Request) -> dict[str, str]:
    """The registry query of a page: latest versions, the limit, and the search and cursor."""
    params = {"version": "latest", "limit": str(page_limit(request))}
    for name in ("search", "cursor"):
        value = request.query_params.get(name)
        if value:
            params[name] = value
    return params


async def browse(request: Request) -> FastJSONResponse:
    ctx = context(request)
    rid = registry_id(request)
    params = page_params(request)
    try:
        data = await read_registry(ctx, rid, "/v0.1/servers", params)
    except RegistryNotFound:
        raise HTTPException(
            502, f"registry {rid!r} has no /v0.1/servers: is its URL right?"
        ) from None
    entries, summaries, cursor = ctx.registry_reader.derived(
        data, lambda answer: listing_page(rid, answer)
    )
    installed = installed_servers(mcp_servers(ctx.store.read()))
    servers = []
    for entry, found in zip(entries, summaries, strict=True):
        ctx.registry_reader.remember_latest(rid, entry.server.name, entry.server.version)
        name = installed.get((rid, entry.server.name))
        servers.append(found if name is None else {**found, "installed_as": name})
    return FastJSONResponse({"servers": servers, "next_cursor": cursor})


def server_name(request: Request) -> str:
    name: str = request.path_params["server_name"]
    if not is_registry_server_name(name):
        raise HTTPException(
            400, "a registry server name is namespace/name (its '/' may be sent as %2F)"
        )
    return name


async def show(request: Request) -> FastJSONResponse:
    ctx = context(request)
    rid = registry_id(request)
    name = server_name(request)
    version = request.query_params.get("version") or "latest"
    entry = await read_server(ctx, rid, name, version)
    installed = installed_servers(mcp_servers(ctx.store.read()))
    return FastJSONResponse(detail(rid, entry, installed).model_dump())


routes = [
    Resource(PREFIX + "/servers", {"GET": browse}),
    Resource(PREFIX + "/servers/{server_name:path}", {"GET": show}),
]

ID = {"id": ("The registry's id.", REGISTRY_ID_PATTERN)}
REGISTRY_ERRORS = errors(400, 401, 404, 409, 502, 503, 504)
_TAGS = ("mcp-registries", READS)
operations = {
    (PREFIX + "/servers", "GET"): Operation(
        operation_id="browse_mcp_registry",
        scope="write",
        summary="Browse the servers of a registry",
        description=(
            "One page of the registry's servers at their latest version, active ones only, "
            "with what each offers and its connector id. Answers are cached per registry and "
            "query for --registry-ttl seconds. 409 when the registry is disabled."
        ),
        path_params=ID,
        query_params={
            "search": Query("Servers whose name holds this text.", {"type": "string"}),
            "cursor": Query("The next_cursor of the previous page.", {"type": "string"}),
            "limit": Query(
                "Servers per page.",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            ),
        },
        responses={200: Reply(RegistryServerList), **REGISTRY_ERRORS},
        tags=_TAGS,
    ),
    (PREFIX + "/servers/{server_name:path}", "GET"): Operation(
        operation_id="show_mcp_registry_server",
        scope="write",
        summary="One server of a registry, with its install plans",
        description=(
            "The server.json and, for each package and remote, the config an install would "
            "store and the inputs it takes."
        ),
        path_params={
            **ID,
            "server_name": (
                "The registry's name for the server, namespace/name; send the '/' as %2F.",
                SERVER_NAME_PATTERN,
            ),
        },
        query_params={
            "version": Query("A version; absent means the latest.", {"type": "string"}),
        },
        responses={200: Reply(RegistryServerDetail), **REGISTRY_ERRORS},
        tags=_TAGS,
    ),
}
