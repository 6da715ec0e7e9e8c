"""The committed API docs: docs/openapi.json and docs/api.html, made from the route table.

`make openapi` runs this module. The HTML page is rendered from the same OpenAPI document,
self-contained (inline style, no scripts, nothing fetched), so it reads offline.
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path
from typing import Any

from agent_server.openapi import build_openapi
from agent_server.routes import operations, routes

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{border-bottom:1px solid #ccc;margin-top:2.5rem}h3{margin-top:2rem}
code,.m{font-family:ui-monospace,monospace;font-size:90%}
.m{font-weight:bold;padding:.1rem .4rem;border-radius:3px;background:#eef}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f6f6f6}
"""


def openapi_document() -> dict[str, Any]:
    return build_openapi(routes, operations)


def openapi_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _e(value: Any) -> str:
    return html.escape(str(value))


def _type(schema: dict[str, Any]) -> str:
    """A short, readable type for a JSON schema, with links to named schemas."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{_e(name)}">{_e(name)}</a>'
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return " | ".join(_type(s) for s in schema[union])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {_type(schema['additionalProperties'])}"
    if "enum" in schema:
        return " | ".join(f"<code>{_e(json.dumps(v))}</code>" for v in schema["enum"])
    return _e(kind)


def _table(head: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return ""
    cells = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + f"</tr>{cells}</table>"


def _operation(path: str, method: str, op: dict[str, Any]) -> str:
    parts = [
        f'<h3 id="{_e(op["operationId"])}"><span class="m">{method.upper()}</span> '
        f"<code>{_e(path)}</code></h3>",
        f"<p><b>{_e(op['summary'])}</b>. {_e(op['description'])}</p>",
        f"<p>operationId <code>{_e(op['operationId'])}</code>"
        + (" &middot; no session API key needed" if op.get("security") == [] else "")
        + "</p>",
    ]
    params = [
        [f"<code>{_e(p['name'])}</code>", _e(p["in"]), _type(p["schema"]), _e(p["description"])]
        for p in op.get("parameters", [])
    ]
    parts.append(_table(["parameter", "in", "type", "meaning"], params))
    body = op.get("requestBody")
    if body:
        schema = body["content"]["application/json"]["schema"]
        parts.append(f"<p>Request body (JSON): {_type(schema)}. {_e(body['description'])}</p>")
    replies = []
    for status, reply in op["responses"].items():
        content = reply.get("content", {}).get("application/json")
        headers = ", ".join(f"<code>{_e(h)}</code>" for h in reply.get("headers", {}))
        replies.append(
            [
                _e(status),
                _e(reply["description"]),
                _type(content["schema"]) if content else "",
                headers,
            ]
        )
    parts.append(_table(["status", "meaning", "body", "headers"], replies))
    return "\n".join(p for p in parts if p)


def _schema(name: str, schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = [
        [
            f"<code>{_e(prop)}</code>",
            _type(spec),
            "yes" if prop in required else "",
            _e(spec.get("description", "")),
        ]
        for prop, spec in schema.get("properties", {}).items()
    ]
    extra = "<p>Unknown fields are kept.</p>" if schema.get("additionalProperties") is True else ""
    return (
        f'<h3 id="schema-{_e(name)}">{_e(name)}</h3>'
        + (f"<p>{_e(schema['description'])}</p>" if "description" in schema else "")
        + _table(["field", "type", "required", "meaning"], rows)
        + extra
    )


def render_html(document: dict[str, Any]) -> str:
    info = document["info"]
    operations_html = [
        _operation(path, method, op)
        for path, methods in document["paths"].items()
        for method, op in methods.items()
    ]
    schemas_html = [_schema(n, s) for n, s in document["components"]["schemas"].items()]
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{_e(info['title'])}: API reference</title><style>{_STYLE}</style></head><body>"
        f"<h1>{_e(info['title'])}: API reference</h1><p>{_e(info['description'])}</p>"
        "<p>Rendered from <a href=openapi.json>openapi.json</a> (OpenAPI "
        f"{_e(document['openapi'])}). When session API keys are set, every <code>/api/</code> "
        "route needs the header <code>X-Session-API-Key</code>.</p>"
        "<h2>Operations</h2>\n"
        + "\n".join(operations_html)
        + "\n<h2>Schemas</h2>\n"
        + "\n".join(schemas_html)
        + "\n</body></html>\n"
    )


def write_docs(folder: Path) -> None:
    document = openapi_document()
    (folder / "openapi.json").write_text(openapi_json(document), encoding="utf-8")
    (folder / "api.html").write_text(render_html(document), encoding="utf-8")


if __name__ == "__main__":
    write_docs(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
