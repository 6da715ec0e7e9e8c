"""The whole settings document: GET and PATCH /api/settings (the legacy, whole-document API)."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from agent_server.bodies import read_json_object
from agent_server.caching import read_headers
from agent_server.context import AppContext, context
from agent_server.document import Document, apply_settings_patch
from agent_server.errors import InvalidSettings, field_error
from agent_server.json_codec import FastJSONResponse, dumps, encoded_response
from agent_server.openapi import READ_HEADERS, Operation, Reply, errors
from agent_server.rendered import Encoded
from agent_server.routes.resource import Resource
from agent_server.secrets import (
    log_plaintext_served,
    map_agent_secrets,
    map_listed_server,
    parse_expose_mode,
    view_fn,
)
from agent_server.security.session_keys import require_scope
from agent_server.servers import MANAGED
from sdk.models import ExposeMode, SettingsPatch, SettingsResponse

_PATCH_FIELDS = tuple(SettingsPatch.model_fields)


def expose_mode(request: Request) -> ExposeMode:
    """The X-Expose-Secrets mode; anything but redacted needs an admin key."""
    try:
        mode = parse_expose_mode(request.headers.get("x-expose-secrets"))
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    if mode != "redacted":
        require_scope(request, "admin", f"X-Expose-Secrets: {mode}")
    return mode


def settings_view(ctx: AppContext, document: Document, mode: ExposeMode) -> dict[str, Any]:
    """A SettingsResponse, built as a plain dict: validating a copy of a large document would
    cost more than the rest of the request."""
    agent = document["agent_settings"]
    llm = agent.get("llm")
    return {
        "schema_version": document["schema_version"],
        "agent_settings": map_agent_secrets(agent, view_fn(mode, ctx.cipher)),
        "misc_settings": document["misc_settings"],
        "llm_api_key_is_set": isinstance(llm, dict) and bool(llm.get("api_key")),
    }


def redacted_answer(ctx: AppContext, document: Document) -> Encoded:
    """The redacted settings view of `document`, encoded (SettingsAnswer keeps the last)."""
    hide = view_fn("redacted", ctx.cipher)

    def part(name: str, config: Any) -> bytes:
        return dumps(name) + b":" + dumps(map_listed_server(name, config, hide))

    return ctx.settings_answer.answer(
        document, lambda whole: settings_view(ctx, whole, "redacted"), part
    )


async def get_settings(request: Request) -> Response:
    ctx = context(request)
    mode = expose_mode(request)
    document = ctx.store.read()
    if mode == "redacted":  # the same bytes for every reader of this version: encoded once
        return encoded_response(redacted_answer(ctx, document), read_headers(mode))
    body = settings_view(ctx, document, mode)
    if mode == "plaintext":
        log_plaintext_served("the settings document")
    return FastJSONResponse(body, headers=read_headers(mode))


def _patch_body(body: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    unknown = sorted(set(body) - set(_PATCH_FIELDS))
    if unknown:
        raise HTTPException(
            400,
            f"unknown field(s) {', '.join(unknown)}: the body takes "
            "agent_settings_diff and/or misc_settings_diff",
        )
    diffs = [body.get(name) for name in _PATCH_FIELDS]
    if all(diff is None for diff in diffs):
        raise HTTPException(400, "give agent_settings_diff, misc_settings_diff, or both")
    errors = [
        field_error(("body", name), "must be a JSON object (a JSON Merge Patch)", "dict_type")
        for name, diff in zip(_PATCH_FIELDS, diffs, strict=True)
        if diff is not None and not isinstance(diff, dict)
    ]
    if errors:
        raise InvalidSettings(errors)
    return diffs[0], diffs[1]


def _reject_managed(ctx: AppContext, agent_diff: dict[str, Any] | None) -> None:
    """A managed server name stays the administrator's, on this path too."""
    mcp = (agent_diff or {}).get("mcp_config")
    servers = mcp.get("mcpServers") if isinstance(mcp, dict) else None
    if isinstance(servers, dict):
        for name in sorted(set(servers) & set(ctx.servers.managed)):
            raise HTTPException(403, MANAGED.format(name=name))


async def patch_settings(request: Request) -> FastJSONResponse:
    ctx = context(request)
    agent_diff, misc_diff = _patch_body(await read_json_object(request))
    _reject_managed(ctx, agent_diff)
    document = await ctx.store.write(
        lambda current: apply_settings_patch(current, agent_diff, misc_diff, ctx.cipher)
    )
    return encoded_response(redacted_answer(ctx, document))


routes = [Resource("/api/settings", {"GET": get_settings, "PATCH": patch_settings})]

operations = {
    ("/api/settings", "GET"): Operation(
        operation_id="get_settings",
        summary="Read the whole settings document",
        description="Secrets read as X-Expose-Secrets says (redacted by default).",
        request_headers=("X-Expose-Secrets",),
        responses={200: Reply(SettingsResponse, headers=READ_HEADERS), **errors(400, 401, 503)},
        tags=("settings",),
    ),
    ("/api/settings", "PATCH"): Operation(
        operation_id="patch_settings",
        summary="Change the settings document with JSON Merge Patch diffs",
        description=(
            "RFC 7396 merge of agent_settings_diff and/or misc_settings_diff: objects merge, "
            "null deletes, arrays and scalars replace. A secret given as `**********` keeps the "
            "stored value; a token from an encrypted read is taken as its plaintext. A diff that "
            "changes agent_kind starts from the new kind's defaults. Answers the new document, "
            "redacted."
        ),
        request=SettingsPatch,
        request_description="At least one of the two diffs.",
        scope="write",
        responses={200: Reply(SettingsResponse), **errors(400, 401, 403, 413, 415, 422, 503)},
        tags=("settings",),
    ),
}
