"""What each client call sends and how its answer is read; shared by the sync and async clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from json import dumps
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from sdk.errors import ERRORS_BY_STATUS, BadRequest, SettingsAPIError
from sdk.models import (
    DEFAULT_CALL_TIMEOUT,
    SERVER_NAME_RULE,
    ClientFormatName,
    ExposeMode,
    OnConflict,
    is_valid_server_name,
)

SERVERS = "/api/settings/mcp-servers"
TOOLS = "/api/mcp/tools"
IMPORT = "/api/mcp/import"
EXPORT = "/api/mcp/export"
CALL_MARGIN = 30.0  # seconds for connecting to the server, on top of the call itself


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    params: dict[str, str] | None = None
    timeout: float | None = None  # seconds to wait for the answer; None: the client's own


def tool_call(
    gateway_name: str,
    arguments: dict[str, Any] | None,
    timeout: float | None,
    authorization: str | None,
    mcp_headers: dict[str, dict[str, str]] | None,
) -> Call:
    """A gateway tool call; the HTTP wait is the call's timeout plus a margin for the rest."""
    json: dict[str, Any] = {"arguments": arguments or {}}
    if timeout is not None:
        json["timeout"] = timeout
    if authorization is not None:
        json["authorization"] = authorization
    headers = {"MCP-HEADERS": dumps(mcp_headers)} if mcp_headers else {}
    wait = (timeout if timeout is not None else DEFAULT_CALL_TIMEOUT) + CALL_MARGIN
    path = f"{TOOLS}/{quote(gateway_name, safe='')}/call"
    return Call("POST", path, headers, json, timeout=wait)


def conditional(
    if_match: str | None = None,
    if_none_match: str | None = None,
    expose: ExposeMode | None = None,
) -> dict[str, str]:
    headers = {}
    if if_match is not None:
        headers["If-Match"] = if_match
    if if_none_match is not None:
        headers["If-None-Match"] = if_none_match
    if expose is not None:
        headers["X-Expose-Secrets"] = expose
    return headers


def server_path(name: str) -> str:
    """The URL path of a server; BadRequest, without a request, for a name no URL can carry."""
    if not is_valid_server_name(name):
        raise BadRequest(400, f"invalid MCP server name: {SERVER_NAME_RULE}")
    return f"{SERVERS}/{quote(name, safe='')}"


def body(value: Any) -> Any:
    """A JSON body from a model (its fields as given, unknown ones too) or plain JSON."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True)
    return value


def check(response: httpx.Response) -> httpx.Response:
    """The response if it succeeded, else the typed error of its status."""
    if response.status_code < 300:
        return response
    try:
        answer = response.json()
        detail = answer.get("detail")
    except ValueError:
        answer, detail = None, response.text or response.reason_phrase
    error = ERRORS_BY_STATUS.get(response.status_code, SettingsAPIError)
    raise error(response.status_code, detail, etag=response.headers.get("etag"), body=answer)


def import_call(
    content: dict[str, Any] | str,
    format: ClientFormatName | None,
    on_conflict: OnConflict,
    dry_run: bool,
    values: dict[str, str] | None,
) -> Call:
    json: dict[str, Any] = {"content": content, "on_conflict": on_conflict, "dry_run": dry_run}
    if format is not None:
        json["format"] = format
    if values:
        json["values"] = values
    return Call("POST", IMPORT, json=json)


def export_call(
    format: ClientFormatName,
    servers: list[str] | None,
    via_gateway: bool,
    expose: ExposeMode | None,
) -> Call:
    params: dict[str, str] = {"format": format}
    if servers is not None:
        params["servers"] = ",".join(servers)
    if via_gateway:
        params["via"] = "gateway"
    return Call("GET", EXPORT, conditional(expose=expose), params=params)
