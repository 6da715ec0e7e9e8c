"""Installing a registry's server as an MCP server, and upgrading one to its latest version.

An install creates the server with If-None-Match: * semantics (412 when the name is taken); an
upgrade is a write to an existing server, with its preconditions. Both read the registry first
(502 / 504 as browsing does) and write inside the store's lock.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from agent_server.bodies import read_json_object
from agent_server.context import AppContext, context
from agent_server.document import (
    Document,
    agent_kind,
    pydantic_field_errors,
    resolve_server,
)
from agent_server.errors import InvalidSettings, field_error
from agent_server.json_codec import FastJSONResponse
from agent_server.openapi import READS, Operation, Reply, errors
from agent_server.preconditions import Preconditions
from agent_server.registries.browse import provenance
from agent_server.registries.install import (
    installed_config,
    recorded_choice,
    recovered_inputs,
    upgraded,
)
from agent_server.registries.plans import default_name
from agent_server.registries.schema import is_registry_server_name
from agent_server.routes.mcp_registries import registry_id
from agent_server.routes.mcp_servers import ITEM, PREFIX, WRONG_KIND, not_found, server_name
from agent_server.routes.named import check_write_preconditions, etag_header, preconditions
from agent_server.routes.registry_servers import ID, read_server
from agent_server.routes.resource import Resource
from agent_server.server_writes import with_server
from agent_server.servers import MANAGED
from agent_server.stored_servers import same_config
from sdk.models import (
    SERVER_NAME_RULE,
    ErrorBody,
    InstallRequest,
    MCPServerResponse,
    UpgradeRequest,
    is_valid_server_name,
)

INSTALL = "/api/mcp/registries/{id}/install"
UPGRADE = ITEM + "/upgrade"


def _check_kind(document: Document) -> None:
    kind = agent_kind(document["agent_settings"])
    if kind != "openhands":
        raise HTTPException(409, WRONG_KIND.format(kind=kind))


def _answer(ctx: AppContext, name: str, config: dict[str, Any], status: int) -> Response:
    etag = ctx.servers.etag(name, config)
    body = MCPServerResponse(
        name=name, source="user", etag=etag, config=ctx.servers.view(config, "redacted")
    )
    headers = {"ETag": etag}
    if status == 201:
        headers["Location"] = f"{PREFIX}/{name}"
    return FastJSONResponse(body.model_dump(), status_code=status, headers=headers)


def _install_request(body: dict[str, Any]) -> InstallRequest:
    try:
        request = InstallRequest.model_validate(body)
    except ValidationError as exc:
        raise InvalidSettings(pydantic_field_errors(exc, ())) from None
    problems = []
    if not is_registry_server_name(request.server):
        problems.append(
            field_error(("server",), "a registry server name is namespace/name", "server")
        )
    name = request.as_ or default_name(request.server)
    if not is_valid_server_name(name):
        problems.append(field_error(("as",), SERVER_NAME_RULE, "server_name"))
    if problems:
        raise InvalidSettings(problems)
    return request


async def install(request: Request) -> Response:
    ctx = context(request)
    rid = registry_id(request)
    wanted = _install_request(await read_json_object(request))
    name = wanted.as_ or default_name(wanted.server)
    entry = await read_server(ctx, rid, wanted.server, wanted.version or "latest")
    if entry.status == "deleted":
        raise HTTPException(409, f"registry {rid!r} marks {wanted.server!r} as deleted")
    config = installed_config(rid, entry.server, wanted.choose, wanted.inputs)
    stored: dict[str, Any] = {}

    def create(document: Document) -> Document:
        _check_kind(document)
        found = ctx.servers.find(document, name)
        if found is not None:
            raise HTTPException(
                412,
                f'an MCP server named {name!r} exists: give another name with "as"',
                etag_header(ctx.servers.etag(name, found[1])),
            )
        stored["config"] = resolve_server(config, None, ctx.cipher)
        return with_server(document, name, stored["config"])

    await ctx.store.write(create)
    return _answer(ctx, name, stored["config"], 201)


async def _upgrade_request(request: Request) -> UpgradeRequest:
    """The optional body of an upgrade: bounded as every body, empty meaning no new inputs."""
    try:
        return UpgradeRequest.model_validate(await read_json_object(request, optional=True))
    except ValidationError as exc:
        raise InvalidSettings(pydantic_field_errors(exc, ())) from None


async def upgrade(request: Request) -> Response:
    ctx = context(request)
    name = server_name(request)
    conditions: Preconditions = preconditions(request)
    document = ctx.store.read()
    _check_kind(document)
    if name in ctx.servers.managed:
        raise HTTPException(403, MANAGED.format(name=name))
    found = ctx.servers.find(document, name)
    if found is None:
        raise not_found(name)
    old = found[1]
    source = provenance(old)
    if source is None:
        raise HTTPException(409, f"MCP server {name!r} was not installed from a registry")
    wanted = await _upgrade_request(request)
    entry = await read_server(ctx, source.id, source.server, "latest", fresh=True)
    given = {**recovered_inputs(ctx.servers.view(old, "plaintext")), **wanted.inputs}
    choose = recorded_choice(old, entry.server)
    try:
        built = installed_config(source.id, entry.server, choose, given, upgrading=True)
    except InvalidSettings as invalid:  # reported after the preconditions, as on every write
        problem: InvalidSettings | None = invalid
    else:
        problem, new = None, upgraded(old, built)
    result: dict[str, Any] = {}

    def change(document: Document) -> Document:
        _check_kind(document)
        now = ctx.servers.find(document, name)
        current = ctx.servers.etag(name, now[1]) if now is not None else None
        check_write_preconditions(ctx, conditions, current, "server")
        if now is None or not same_config(now[1], old):
            raise HTTPException(
                412,
                "the server changed while it was being upgraded: try again",
                etag_header(current),
            )
        if problem is not None:
            raise problem
        resolved = resolve_server(new, old, ctx.cipher)
        result["config"] = old if resolved == old else resolved
        return document if resolved == old else with_server(document, name, resolved)

    await ctx.store.write(change)
    return _answer(ctx, name, result["config"], 200)


routes = [
    Resource(INSTALL, {"POST": install}),
    Resource(UPGRADE, {"POST": upgrade}),
]

_CREATED = Reply(MCPServerResponse, headers=("ETag", "Location"), description="The new server.")
operations = {
    (INSTALL, "POST"): Operation(
        operation_id="install_from_mcp_registry",
        scope="write",
        summary="Install a registry's server as an MCP server",
        description=(
            "Builds the server's config from the registry's server.json (a remote first, "
            "else a package: npm, pypi, oci, nuget) and the inputs, and creates it as "
            "If-None-Match: * would: 412 when the name is taken. Secret inputs are stored "
            "encrypted. The config records its origin as `registry`."
        ),
        path_params=ID,
        request=InstallRequest,
        request_description="The server, and optionally its version, our name, the way to "
        "run it and the inputs.",
        responses={
            201: _CREATED,
            **errors(400, 401, 404, 409),
            412: Reply(ErrorBody, headers=("ETag",)),
            **errors(413, 415, 422, 502, 503, 504),
        },
        tags=("mcp-registries", READS),
    ),
    (UPGRADE, "POST"): Operation(
        operation_id="upgrade_mcp_server",
        scope="write",
        summary="Move a server installed from a registry to its latest version",
        description=(
            "Keeps the way it runs (when the new version still offers it), the inputs given "
            "before and every field the install did not write. 200 with no change when it is "
            "already the latest. 409 when the server was not installed from a registry."
        ),
        path_params={"name": "The server's name: 1 to 128 of letters, digits and _ . @ : -"},
        request_headers=("If-Match", "If-None-Match"),
        request=UpgradeRequest,
        request_description="Optional: values for inputs the new version adds.",
        responses={
            200: Reply(MCPServerResponse, headers=("ETag",), description="The server, redacted."),
            **errors(400, 401, 403, 404, 409),
            412: Reply(ErrorBody, headers=("ETag",)),
            **errors(413, 415, 422, 502, 503, 504),
            428: Reply(ErrorBody, headers=("ETag",)),
        },
        tags=("mcp-servers", READS),
    ),
}
