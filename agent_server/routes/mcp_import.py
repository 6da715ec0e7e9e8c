"""POST /api/mcp/import: a client's MCP config file imported as servers, in one write.

The file is untrusted input: it is read with the same limits as any body, each server is
validated as a PUT would be, and its secrets follow the same rules. Nothing is written when a
line is an error, on a dry run, or when a conflict meets on_conflict "fail".
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request

from agent_server.bodies import read_json_object
from agent_server.context import context
from agent_server.document import Document, agent_kind, pydantic_field_errors
from agent_server.errors import InvalidSettings
from agent_server.formats import FormatError
from agent_server.importer import Outcome, Plan, apply, prepare
from agent_server.json_codec import FastJSONResponse
from agent_server.openapi import Operation, Reply, errors
from agent_server.routes.mcp_servers import WRONG_KIND
from agent_server.routes.resource import Resource
from sdk.models import (
    ErrorBody,
    ImportRefused,
    ImportRequest,
    ImportResponse,
    ValidationErrorBody,
)

PATH = "/api/mcp/import"


def _request(body: dict[str, object]) -> ImportRequest:
    try:
        return ImportRequest.model_validate(body)
    except ValidationError as exc:
        raise InvalidSettings(pydantic_field_errors(exc, ("body",))) from None


def _plan(request: ImportRequest) -> Plan:
    try:
        return prepare(request.content, request.format, request.values)
    except FormatError as exc:
        raise HTTPException(400, f"the content cannot be read: {exc}") from None


async def import_servers(request: Request) -> FastJSONResponse:
    ctx = context(request)
    body = _request(await read_json_object(request))
    plan = _plan(body)
    outcome: Outcome | None = None

    def change(document: Document) -> Document:
        nonlocal outcome
        kind = agent_kind(document["agent_settings"])
        if kind != "openhands":
            raise HTTPException(409, WRONG_KIND.format(kind=kind))
        outcome = apply(document, plan, body.on_conflict, ctx.servers.managed, ctx.cipher)
        return document if body.dry_run else outcome.document

    if body.dry_run:
        change(ctx.store.read())
    else:
        await ctx.store.write(change)
    assert outcome is not None
    written = not body.dry_run and not outcome.failed
    answer = {"format": plan.format, "written": written, "servers": outcome.lines}
    if not outcome.failed or body.dry_run:
        reply = ImportResponse.model_validate(answer)
        return FastJSONResponse(reply.model_dump(by_alias=True))
    errors_count = sum(line.action == "error" for line in outcome.lines)
    if outcome.conflict:
        status, detail = 409, "servers of these names exist and on_conflict is fail"
    else:
        status, detail = 422, f"{errors_count} server(s) cannot be imported"
    reply = ImportRefused.model_validate({**answer, "detail": detail + "; nothing was written"})
    return FastJSONResponse(reply.model_dump(by_alias=True), status_code=status)


routes = [Resource(PATH, {"POST": import_servers})]

operations = {
    (PATH, "POST"): Operation(
        operation_id="import_mcp_config",
        scope="write",
        summary="Import a client's MCP config file",
        description=(
            "Claude Desktop, Claude Code, Cursor, VS Code, Cline, Windsurf or Continue; the "
            "format is detected when not given. One line per server; all servers are written "
            "in one write, or none (an error line, a conflict under on_conflict fail). "
            "References without a value leave the server disabled with what it `needs`."
        ),
        request=ImportRequest,
        request_description="The file and how to import it.",
        responses={
            200: Reply(ImportResponse),
            **errors(400, 401, 403),
            409: Reply(
                (ImportRefused, ErrorBody),
                description="A server of that name exists and on_conflict is fail (the lines), "
                "or the agent kind has no MCP servers",
            ),
            **errors(413, 415),
            422: Reply(
                (ImportRefused, ValidationErrorBody),
                description="Servers that cannot be imported (the lines), or a malformed body",
            ),
            **errors(503),
        },
        tags=("mcp-import-export",),
    ),
}
