"""Each MCP registry as its own resource under /api/settings/mcp-registries, with ETags.

The same rules as MCP servers (routes.named): ETags, If-Match / If-None-Match, 428 mode,
managed registries read-only, header values read redacted unless an admin asks otherwise.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from agent_server.context import AppContext, context
from agent_server.document import Document, with_registry
from agent_server.entries import Source
from agent_server.openapi import READ_HEADERS, Operation, Reply, errors
from agent_server.registries.catalog import MANAGED_REGISTRY, resolve_registry
from agent_server.routes.named import (
    Collection,
    entry_response,
    listing_response,
    write_entry,
)
from agent_server.routes.resource import Resource
from agent_server.routes.settings import expose_mode
from sdk.models import (
    REGISTRY_ID_PATTERN,
    REGISTRY_ID_RULE,
    ErrorBody,
    ExposeMode,
    RegistryConfig,
    RegistryListResponse,
    RegistryResponse,
    is_valid_registry_id,
)

PREFIX = "/api/settings/mcp-registries"
ITEM = PREFIX + "/{id}"


def registry_id(request: Request) -> str:
    """The {id} of the path, or 400 with the rule."""
    found: str = request.path_params["id"]
    if not is_valid_registry_id(found):
        raise HTTPException(400, f"invalid registry id: {REGISTRY_ID_RULE}")
    return found


def registry_not_found(registry_id: str) -> HTTPException:
    return HTTPException(404, f"no registry with id {registry_id!r}")


def registry_disabled(registry_id: str) -> HTTPException:
    return HTTPException(409, f"registry {registry_id!r} is disabled; enable it to read it")


class Registries(Collection):
    what = "registry"
    label = "registry"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx, ctx.registries)

    def find(self, document: Document, name: str) -> tuple[Source, dict[str, Any]] | None:
        return self.ctx.registries.find(document, name)

    def not_found(self, name: str) -> HTTPException:
        return registry_not_found(name)

    def check_writable(self, document: Document, name: str) -> None:
        if name in self.ctx.registries.managed:
            raise HTTPException(403, MANAGED_REGISTRY.format(name=name))

    def resolve(self, config: Any, stored: dict[str, Any] | None) -> dict[str, Any]:
        return resolve_registry(config, stored, self.ctx.cipher)

    def with_entry(self, document: Document, name: str, config: dict[str, Any] | None) -> Document:
        return with_registry(document, name, config)


async def list_registries(request: Request) -> Response:
    ctx = context(request)
    catalog = ctx.registries
    document = ctx.store.read()

    def listing() -> dict[str, Any]:
        found = catalog.all(document)
        return {"registries": [catalog.summary(rid, *found[rid]) for rid in sorted(found)]}

    return listing_response(request, catalog, ctx.rendered.registry_list, (document,), listing)


async def get_registry(request: Request) -> Response:
    ctx = context(request)
    rid = registry_id(request)
    mode = expose_mode(request)
    found = ctx.registries.find(ctx.store.read(), rid)
    if found is None:
        raise registry_not_found(rid)

    def body(etag: str, mode: ExposeMode) -> RegistryResponse:
        config = ctx.registries.view(found[1], mode)
        return RegistryResponse(id=rid, source=found[0], etag=etag, config=config)

    return entry_response(request, Registries(ctx), rid, found, mode, body)


async def write_registry(request: Request) -> Response:
    rid = registry_id(request)

    def body(etag: str, config: dict[str, Any]) -> RegistryResponse:
        return RegistryResponse(id=rid, source="user", etag=etag, config=config)

    return await write_entry(request, Registries(context(request)), rid, f"{PREFIX}/{rid}", body)


routes = [
    Resource(PREFIX, {"GET": list_registries}),
    Resource(
        ITEM,
        {
            "GET": get_registry,
            "PUT": write_registry,
            "PATCH": write_registry,
            "DELETE": write_registry,
        },
    ),
]

_ID = {"id": ("The registry's id.", REGISTRY_ID_PATTERN)}
_CONDITIONAL = ("If-Match", "If-None-Match")
_READ = ("ETag", *READ_HEADERS)
_REGISTRY = Reply(RegistryResponse, headers=("ETag",), description="The registry, redacted.")
_WRITE_ERRORS = {
    412: Reply(ErrorBody, headers=("ETag",)),
    **errors(413, 415, 422, 503),
    428: Reply(ErrorBody, headers=("ETag",)),
}
_TAGS = ("mcp-registries",)
operations = {
    (PREFIX, "GET"): Operation(
        operation_id="list_mcp_registries",
        summary="List MCP registries",
        description="Summaries sorted by id; never a secret. The ETag covers the whole list.",
        request_headers=_CONDITIONAL,
        responses={
            200: Reply(RegistryListResponse, headers=_READ),
            304: Reply(headers=_READ),
            **errors(401),
            412: Reply(ErrorBody, headers=("ETag",)),
            503: Reply(ErrorBody),
        },
        tags=_TAGS,
    ),
    (ITEM, "GET"): Operation(
        operation_id="get_mcp_registry",
        summary="Read one MCP registry",
        description=(
            "Header values read as X-Expose-Secrets says (redacted by default; encrypted and "
            "plaintext need an admin key). A managed registry reads redacted in every mode."
        ),
        path_params=_ID,
        request_headers=("X-Expose-Secrets", *_CONDITIONAL),
        responses={
            200: Reply(RegistryResponse, headers=_READ),
            304: Reply(headers=_READ),
            **errors(400, 401, 404),
            412: Reply(ErrorBody, headers=("ETag",)),
            503: Reply(ErrorBody),
        },
        tags=_TAGS,
    ),
    (ITEM, "PUT"): Operation(
        operation_id="put_mcp_registry",
        scope="write",
        summary="Create or replace one MCP registry",
        description="201 with Location when it creates, 200 when it replaces.",
        path_params=_ID,
        request_headers=_CONDITIONAL,
        request=RegistryConfig,
        request_description=(
            "The registry: its base URL, an optional title, enabled, and headers (secrets; "
            "`**********` keeps the stored value while the URL's origin stays the same)."
        ),
        responses={
            200: _REGISTRY,
            201: Reply(RegistryResponse, headers=("ETag", "Location")),
            **errors(400, 401, 403),
            **_WRITE_ERRORS,
        },
        tags=_TAGS,
    ),
    (ITEM, "PATCH"): Operation(
        operation_id="patch_mcp_registry",
        scope="write",
        summary="Change one MCP registry with a JSON Merge Patch",
        description='RFC 7396 merge into the stored config: {"enabled": false} disables it.',
        path_params=_ID,
        request_headers=_CONDITIONAL,
        request={"type": "object", "additionalProperties": True},
        request_description="A JSON Merge Patch of the registry's config.",
        responses={200: _REGISTRY, **errors(400, 401, 403, 404), **_WRITE_ERRORS},
        tags=_TAGS,
    ),
    (ITEM, "DELETE"): Operation(
        operation_id="delete_mcp_registry",
        scope="write",
        summary="Delete one MCP registry",
        description="204 with no body. Servers installed from it stay as they are.",
        path_params=_ID,
        request_headers=_CONDITIONAL,
        responses={
            204: Reply(),
            **errors(400, 401, 403, 404),
            412: Reply(ErrorBody, headers=("ETag",)),
            428: Reply(ErrorBody, headers=("ETag",)),
            503: Reply(ErrorBody),
        },
        tags=_TAGS,
    ),
}
