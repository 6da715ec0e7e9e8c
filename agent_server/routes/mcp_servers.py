"""Each MCP server as its own resource under /api/settings/mcp-servers, with ETags.

A write runs its checks inside the store's lock, against the document it is about to change, in
the order the API promises: agent kind, managed, existence, preconditions, then the body.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from agent_server.bodies import read_json_object
from agent_server.caching import may_answer_304, read_headers
from agent_server.context import AppContext, context
from agent_server.document import (
    SERVER_NAME_RULE,
    Document,
    agent_kind,
    is_valid_server_name,
    merge_patch,
    resolve_server,
    with_server,
)
from agent_server.json_codec import FastJSONResponse
from agent_server.openapi import READ_HEADERS, Operation, Reply, errors
from agent_server.preconditions import Preconditions
from agent_server.routes.resource import Resource
from agent_server.routes.settings import expose_mode
from agent_server.secrets import log_plaintext_served, server_secret_slots
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


def preconditions(request: Request) -> Preconditions:
    return Preconditions.of(request.headers.getlist)


def not_found(name: str) -> HTTPException:
    return HTTPException(404, f"no MCP server named {name!r}")


def etag_header(etag: str | None) -> dict[str, str] | None:
    return {"ETag": etag} if etag else None


def conditional_read(request: Request, etag: str, mode: ExposeMode, what: str) -> Response | None:
    """The 304 or 412 a read answers instead of its body (RFC 9110 13.2.2), else None.

    In encrypted and plaintext mode If-None-Match is not evaluated: see agent_server.caching.
    """
    conditions = preconditions(request)
    if not may_answer_304(mode):
        conditions = replace(conditions, if_none_match=None)
    status = conditions.evaluate(etag, safe=True)
    if status == 304:
        return Response(status_code=304, headers=read_headers(mode, etag))
    if status == 412:
        raise HTTPException(412, f"If-Match does not match the {what}'s ETag", {"ETag": etag})
    return None


async def list_servers(request: Request) -> Response:
    ctx = context(request)
    catalog = ctx.servers
    found = catalog.all(ctx.store.read())
    listing = {"servers": [catalog.summary(name, *found[name]) for name in sorted(found)]}
    etag = catalog.signer.etag(listing)
    answered = conditional_read(request, etag, "redacted", "list")
    if answered is not None:
        return answered
    return FastJSONResponse({**listing, "etag": etag}, headers=read_headers("redacted", etag))


async def get_server(request: Request) -> Response:
    ctx = context(request)
    name = server_name(request)
    mode = expose_mode(request)
    found = ctx.servers.find(ctx.store.read(), name)
    if found is None:
        raise not_found(name)
    source, config = found
    etag = ctx.servers.etag(name, config)
    if source == "managed":
        mode = "redacted"  # its secrets leave the service only towards its own server
    answered = conditional_read(request, etag, mode, "server")
    if answered is not None:
        return answered
    body = MCPServerResponse(
        name=name, source=source, etag=etag, config=ctx.servers.view(config, mode)
    )
    if mode == "plaintext":
        log_plaintext_served(f"MCP server {name!r}")
    return FastJSONResponse(body.model_dump(), headers=read_headers(mode, etag))


class ServerWrite:
    """One PUT, PATCH or DELETE of a server, applied to the document inside the store's lock."""

    def __init__(self, ctx: AppContext, request: Request, name: str) -> None:
        self.ctx = ctx
        self.method = request.method
        self.name = name
        self.preconditions = preconditions(request)
        self.body: Any = None
        self.body_error: HTTPException | None = None
        self.created = False
        self.result: dict[str, Any] | None = None

    async def read_body(self, request: Request) -> None:
        """Read the body now, but report a bad one only where validation comes in the order."""
        try:
            self.body = await read_json_object(request)
        except HTTPException as exc:
            self.body_error = exc

    def __call__(self, document: Document) -> Document:
        kind = agent_kind(document["agent_settings"])
        if kind != "openhands":
            raise HTTPException(409, WRONG_KIND.format(kind=kind))
        if self.name in self.ctx.servers.managed:
            raise HTTPException(403, MANAGED.format(name=self.name))
        found = self.ctx.servers.find(document, self.name)
        stored = found[1] if found else None
        if stored is None and self.method != "PUT":
            raise not_found(self.name)
        self._check_preconditions(stored)
        if self.body_error is not None:
            raise self.body_error
        if self.method == "DELETE":
            for _, token in server_secret_slots(stored):
                self.ctx.cipher.forget(token)
            return with_server(document, self.name, None)
        config = merge_patch(stored, self.body) if self.method == "PATCH" else self.body
        self.result = resolve_server(config, stored, self.ctx.cipher)
        self.created = stored is None
        if self.result == stored:
            self.result = stored
            return document
        return with_server(document, self.name, self.result)

    def _check_preconditions(self, stored: dict[str, Any] | None) -> None:
        current = self.ctx.servers.etag(self.name, stored) if stored is not None else None
        check_write_preconditions(self.ctx, self.preconditions, current)


def check_write_preconditions(
    ctx: AppContext, conditions: Preconditions, current: str | None
) -> None:
    """428 (under --require-preconditions) or 412 for a write to a server whose ETag is
    `current` (None: it does not exist)."""
    if not conditions.given and ctx.config.require_preconditions:
        raise HTTPException(
            428,
            "this server requires a precondition on writes: send If-Match with the ETag "
            "you last read, or If-None-Match: * to create",
            etag_header(current),
        )
    if conditions.evaluate(current, safe=False):
        raise HTTPException(
            412,
            "the precondition failed: the server changed since you read it, or it "
            "exists / does not exist contrary to If-Match / If-None-Match",
            etag_header(current),
        )


async def write_server(request: Request) -> Response:
    ctx = context(request)
    write = ServerWrite(ctx, request, server_name(request))
    if request.method != "DELETE":
        await write.read_body(request)
    await ctx.store.write(write)
    if write.result is None:
        ctx.servers.forget(write.name)
        ctx.pins.forget(write.name)
        return Response(status_code=204)
    etag = ctx.servers.etag(write.name, write.result)
    body = MCPServerResponse(
        name=write.name,
        source="user",
        etag=etag,
        config=ctx.servers.view(write.result, "redacted"),
    )
    headers = {"ETag": etag}
    if write.created:
        headers["Location"] = f"{PREFIX}/{write.name}"
    return FastJSONResponse(
        body.model_dump(), status_code=201 if write.created else 200, headers=headers
    )


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
