"""The OpenAPI 3.1 document, built from the route table and the sdk models.

Each route module declares an `Operation` for every (path, method) it serves; the builder walks
the app's routes and refuses a route that has none, so the document cannot drift from the API.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute, Route

from agent_server.security.session_keys import KeyScope
from sdk.models import SERVER_NAME_PATTERN, ErrorBody, ValidationErrorBody

_CONVERTOR = re.compile(r"\{(\w+):\w+\}")
SchemaRef = type[BaseModel] | tuple[type[BaseModel], ...] | dict[str, Any]
"""A model, one of several models (oneOf), or a literal JSON schema."""

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No Content",
    303: "See Other: the Location header says where",
    304: "Not Modified: the representation matches If-None-Match",
    400: "Bad request: the detail says what to fix",
    401: "Missing or wrong X-Session-API-Key",
    403: "Managed by the administrator's configuration: read-only through the API",
    404: "Not found",
    409: "Conflict: the detail says with what (the agent kind, a disabled server or registry)",
    412: "Precondition failed: the ETag header carries the current ETag when the server exists",
    413: "The body is larger than 1 MiB",
    415: "The body must be JSON (Content-Type: application/json)",
    422: "Invalid fields: the detail lists each field's location and message",
    428: "Precondition required: send If-Match or If-None-Match",
    502: "An upstream failed (a registry, or an MCP server): the detail says which and why",
    503: "settings.json is unusable, or a stored secret cannot be decrypted",
    504: "The registry did not answer within --registry-timeout",
}

HEADERS = {
    "If-Match": (
        "Strong comparison against the current ETag; `*` matches an existing resource; "
        "comma-separated lists (or several header lines) are allowed and weak tags never match."
    ),
    "If-None-Match": (
        "Weak comparison against the current ETag; `*` matches when the resource does not "
        "exist. On GET a match answers 304 (redacted reads only: encrypted and plaintext reads "
        "always answer the body), on writes 412."
    ),
    "MCP-HEADERS": (
        'Credentials given at use time, as JSON: {"<server name or URL>": {"<Header>": '
        '"<value>"}}. Only header slots (or auth) the server\'s config marks "client" may be '
        "filled; they go to that server alone and are never stored or logged."
    ),
    "X-Expose-Secrets": (
        "How secret values read: `redacted` (default, each reads `**********`), `encrypted` "
        "(the Fernet tokens, accepted back on writes) or `plaintext`."
    ),
}
_HEADER_SCHEMAS: dict[str, dict[str, Any]] = {
    "X-Expose-Secrets": {"type": "string", "enum": ["redacted", "encrypted", "plaintext"]},
}
RESPONSE_HEADERS = {
    "ETag": "The strong ETag of the resource as it is now.",
    "Location": "The URL of the created resource.",
    "Cache-Control": "`no-cache` on redacted reads, `no-store` on encrypted and plaintext reads.",
    "Vary": "`X-Expose-Secrets`: the body depends on it.",
    "Content-Disposition": "`attachment` with the file name the client uses.",
}
READ_HEADERS = ("Cache-Control", "Vary")
READS = "registry-reads"
"""The tag of every operation that reads a registry (it answers 502 / 504 when that fails)."""


@dataclass(frozen=True)
class Reply:
    model: SchemaRef | None = None
    headers: tuple[str, ...] = ()
    description: str | None = None
    media_types: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Other media types the body may have (besides JSON when `model` is set), with their
    literal schemas."""


@dataclass(frozen=True)
class Query:
    """An optional query parameter: what it means and its JSON schema (with its default)."""

    description: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Operation:
    operation_id: str
    summary: str
    description: str
    responses: dict[int, Reply]
    request: SchemaRef | None = None
    request_description: str = ""
    request_headers: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    secured: bool = True
    scope: KeyScope = "read"
    path_params: dict[str, str | tuple[str, str | None]] = field(default_factory=dict)
    """Each path parameter's description; (description, pattern) where it is not a server
    name, with pattern None for any string."""
    query_params: dict[str, Query] = field(default_factory=dict)


def errors(*statuses: int) -> dict[int, Reply]:
    """Error replies: 422 with field errors, the rest with a detail string."""
    return {s: Reply(ValidationErrorBody if s == 422 else ErrorBody) for s in statuses}


class _Schemas:
    """Collects the models an API refers to into components/schemas."""

    def __init__(self) -> None:
        self.models: list[tuple[type[BaseModel], str]] = []

    def ref(self, schema: SchemaRef, mode: str) -> dict[str, Any]:
        if isinstance(schema, dict):
            return schema
        if isinstance(schema, tuple):
            return {"oneOf": [self.ref(model, mode) for model in schema]}
        self.models.append((schema, mode))
        return {"$ref": f"#/components/schemas/{schema.__name__}"}

    def components(self) -> dict[str, Any]:
        refs, defs = models_json_schema(
            [(m, mode) for m, mode in self.models],  # type: ignore[misc]
            ref_template="#/components/schemas/{model}",
        )
        schemas: dict[str, Any] = defs.get("$defs", {})
        requests = [ref for (_, mode), ref in refs.items() if mode == "validation"]
        for name in _referenced(requests, schemas):
            _omittable(schemas[name])
        return dict(sorted(schemas.items()))


def _referenced(roots: list[Any], schemas: dict[str, Any]) -> set[str]:
    """The names of the schemas `roots` refer to, directly or through others."""
    found: set[str] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.rsplit("/", 1)[-1] not in found:
                name = ref.rsplit("/", 1)[-1]
                found.add(name)
                stack.append(schemas.get(name))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _omittable(schema: dict[str, Any]) -> None:
    """A request schema whose fields with a server-side default read as optional everywhere.

    Generators read `default` as "always present" (openapi-typescript makes such a field
    required), which is true of answers but not of requests: there the default is what an
    absent field means, so it moves into the description.
    """
    for spec in schema.get("properties", {}).values():
        if "default" not in spec:
            continue
        default = spec.pop("default")
        if default is not None:
            absent = f"Absent means {json.dumps(default)}."
            spec["description"] = (
                f"{spec['description']} {absent}" if "description" in spec else absent
            )


def _path_param(name: str, spec: str | tuple[str, str | None]) -> dict[str, Any]:
    text, pattern = (spec, SERVER_NAME_PATTERN) if isinstance(spec, str) else spec
    schema = {"type": "string"} if pattern is None else {"type": "string", "pattern": pattern}
    return {"name": name, "in": "path", "required": True, "description": text, "schema": schema}


def openapi_path(path: str) -> str:
    """A route's path as OpenAPI writes it: `{name:path}` is `{name}`."""
    return _CONVERTOR.sub(r"{\1}", path)


def _operation(op: Operation, schemas: _Schemas) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": op.description,
    }
    if op.tags:
        out["tags"] = list(op.tags)
    parameters = [_path_param(name, spec) for name, spec in op.path_params.items()]
    parameters += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": query.description,
            "schema": query.schema,
        }
        for name, query in op.query_params.items()
    ]
    parameters += [
        {
            "name": header,
            "in": "header",
            "required": False,
            "description": HEADERS[header],
            "schema": _HEADER_SCHEMAS.get(header, {"type": "string"}),
        }
        for header in op.request_headers
    ]
    if parameters:
        out["parameters"] = parameters
    if op.request is not None:
        out["requestBody"] = {
            "required": True,
            "description": op.request_description,
            "content": {"application/json": {"schema": schemas.ref(op.request, "validation")}},
        }
    responses: dict[str, Any] = {}
    for status, reply in sorted(op.responses.items()):
        body: dict[str, Any] = {"description": reply.description or STATUS_TEXT[status]}
        content = {media: {"schema": schema} for media, schema in reply.media_types.items()}
        if reply.model is not None:
            json_body = {"schema": schemas.ref(reply.model, "serialization")}
            content = {"application/json": json_body, **content}
        if content:
            body["content"] = content
        if reply.headers:
            # On a success the headers are always sent; on an error only when the resource
            # exists (a 412 or 428 for a missing server has no ETag to give).
            body["headers"] = {
                h: {
                    "description": RESPONSE_HEADERS[h],
                    "required": status < 400,
                    "schema": {"type": "string"},
                }
                for h in reply.headers
            }
        responses[str(status)] = body
    out["responses"] = responses
    if op.secured:
        out["x-session-key-scope"] = op.scope
    else:
        out["security"] = []
    return out


def build_openapi(
    routes: list[BaseRoute], operations: dict[tuple[str, str], Operation]
) -> dict[str, Any]:
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            op = operations.get((route.path, method))
            if op is None:
                raise LookupError(f"{method} {route.path} has no OpenAPI operation")
            paths.setdefault(openapi_path(route.path), {})[method.lower()] = _operation(op, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Agent settings server",
            "version": "1",
            "description": (
                "One settings document per agent, with every secret encrypted at rest, served "
                "whole (/api/settings) and as one resource per MCP server with ETags."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas.components(),
            "securitySchemes": {
                "SessionAPIKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Session-API-Key",
                    "description": (
                        "Needed on every /api/ route and on /mcp unless the server runs with "
                        "--no-auth. "
                        "Each key has a scope: read, write or admin; an operation's "
                        "x-session-key-scope names the one it needs, and X-Expose-Secrets "
                        "encrypted or plaintext needs admin."
                    ),
                }
            },
        },
        "security": [{"SessionAPIKey": []}],
    }
