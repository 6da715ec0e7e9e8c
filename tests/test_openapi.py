"""The OpenAPI document: served, committed, complete, and the static reference made from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from agent_server.openapi import openapi_path
from agent_server.reference import render_html

DOCS = Path(__file__).resolve().parent.parent / "docs"
ITEM = "/api/settings/mcp-servers/{name}"
LIST = "/api/settings/mcp-servers"


@pytest.fixture
def served(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_committed_copy_matches_what_the_server_serves(served: dict[str, Any]) -> None:
    committed = json.loads((DOCS / "openapi.json").read_text())
    assert committed == served, "docs/openapi.json is stale: run `make openapi`"


def test_static_reference_is_rendered_from_the_committed_document() -> None:
    committed = json.loads((DOCS / "openapi.json").read_text())
    assert (DOCS / "api.html").read_text() == render_html(committed), "run `make openapi`"


def test_reference_page_needs_no_network() -> None:
    page = (DOCS / "api.html").read_text()
    assert "<script" not in page
    assert "http://" not in page and "https://" not in page
    assert "put_mcp_server" in page and 'id="schema-MCPServerResponse"' in page


def test_document_is_openapi_3_1_with_every_route(
    client: TestClient, served: dict[str, Any]
) -> None:
    assert served["openapi"].startswith("3.1")
    served_routes = {
        (openapi_path(route.path), method)
        for route in client.app.routes  # type: ignore[attr-defined]
        for method in route.methods - {"HEAD"}
    }
    documented = {(path, method.upper()) for path, ops in served["paths"].items() for method in ops}
    assert documented == served_routes


def test_operation_ids_are_stable_and_unique(served: dict[str, Any]) -> None:
    ids = {
        (path, method): op["operationId"]
        for path, ops in served["paths"].items()
        for method, op in ops.items()
    }
    assert len(set(ids.values())) == len(ids)
    assert ids[(LIST, "get")] == "list_mcp_servers"
    assert ids[(ITEM, "get")] == "get_mcp_server"
    assert ids[(ITEM, "put")] == "put_mcp_server"
    assert ids[(ITEM, "patch")] == "patch_mcp_server"
    assert ids[(ITEM, "delete")] == "delete_mcp_server"
    assert ids[("/api/settings", "get")] == "get_settings"
    assert ids[("/api/settings", "patch")] == "patch_settings"


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        (LIST, "get", {200, 304, 401, 412}),
        (ITEM, "get", {200, 304, 400, 401, 404, 412}),
        (ITEM, "put", {200, 201, 400, 401, 403, 409, 412, 413, 422, 428}),
        (ITEM, "patch", {200, 400, 401, 403, 404, 409, 412, 413, 422, 428}),
        (ITEM, "delete", {204, 400, 401, 403, 404, 409, 412, 428}),
        ("/api/settings", "get", {200, 400, 401}),
        ("/api/settings", "patch", {200, 400, 401, 413, 422}),
    ],
)
def test_every_status_a_route_can_answer_is_documented(
    served: dict[str, Any], path: str, method: str, statuses: set[int]
) -> None:
    documented = {int(s) for s in served["paths"][path][method]["responses"]}
    assert statuses <= documented


def test_request_and_response_headers_are_documented(served: dict[str, Any]) -> None:
    def params(path: str, method: str) -> set[str]:
        return {p["name"] for p in served["paths"][path][method].get("parameters", [])}

    assert {"If-Match", "If-None-Match", "X-Expose-Secrets"} <= params(ITEM, "get")
    assert {"If-Match", "If-None-Match"} <= params(LIST, "get")
    for method in ("put", "patch", "delete"):
        assert {"If-Match", "If-None-Match"} <= params(ITEM, method)
    assert "X-Expose-Secrets" in params("/api/settings", "get")
    scheme = served["components"]["securitySchemes"]["SessionAPIKey"]
    assert (scheme["in"], scheme["name"]) == ("header", "X-Session-API-Key")
    put = served["paths"][ITEM]["put"]["responses"]
    assert {"ETag", "Location"} <= set(put["201"]["headers"])
    assert "ETag" in put["200"]["headers"]
    assert "ETag" in put["412"]["headers"]
    assert "ETag" in served["paths"][ITEM]["get"]["responses"]["304"]["headers"]
    # Always sent on success, so a checker can catch a missing one; on errors only sometimes.
    assert put["201"]["headers"]["ETag"]["required"] is True
    assert put["201"]["headers"]["Location"]["required"] is True
    assert served["paths"][LIST]["get"]["responses"]["200"]["headers"]["ETag"]["required"] is True
    assert put["412"]["headers"]["ETag"]["required"] is False
    assert "ETag" in put["428"]["headers"]


def test_schemas_come_from_the_sdk_models_with_descriptions(served: dict[str, Any]) -> None:
    from sdk.models import MCPServerResponse, MCPServerSummary, StdioServerConfig

    schemas = served["components"]["schemas"]
    for model in (MCPServerResponse, MCPServerSummary):
        schema = model.model_json_schema(
            mode="serialization", ref_template="#/components/schemas/{model}"
        )
        for name, nested in schema.pop("$defs", {}).items():
            assert schemas[name] == nested
        assert schemas[model.__name__] == schema
    assert schemas["StdioServerConfig"]["description"] == StdioServerConfig.__doc__
    for path, ops in served["paths"].items():
        for method, op in ops.items():
            assert op["summary"] and op["description"], (path, method)
            for status, reply in op["responses"].items():
                assert reply["description"], (path, method, status)


def _refs(node: Any) -> set[str]:
    """The component names a part of the document refers to directly."""
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if "$ref" in node else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


def _closure(names: set[str], schemas: dict[str, Any]) -> set[str]:
    """`names` and every component they refer to, through any number of others."""
    while True:
        more = names | _refs([schemas[n] for n in names])
        if more == names:
            return names
        names = more


def test_request_schemas_let_a_client_omit_every_field_with_a_server_side_default(
    served: dict[str, Any],
) -> None:
    """A `default` reads as "always present" to generators; in a request it is not."""
    schemas = served["components"]["schemas"]
    bodies = [op.get("requestBody") for ops in served["paths"].values() for op in ops.values()]
    requests = _closure(_refs(bodies), schemas)
    assert {
        "StdioServerConfig",
        "RemoteServerConfig",
        "SettingsPatch",
        "MCPTestRequest",
    } <= requests
    for name in requests:
        for prop, spec in schemas[name].get("properties", {}).items():
            assert "default" not in spec, (name, prop)
    assert schemas["StdioServerConfig"]["required"] == ["command"]
    assert "required" not in schemas["SettingsPatch"]
    assert (
        "Absent means true." in schemas["StdioServerConfig"]["properties"]["enabled"]["description"]
    )


def test_response_schemas_require_every_field_the_server_always_sends(
    served: dict[str, Any],
) -> None:
    schemas = served["components"]["schemas"]
    replies = [op["responses"] for ops in served["paths"].values() for op in ops.values()]
    responses = _closure(_refs(replies), schemas)
    assert {"MCPServerListResponse", "MCPServerResponse", "SettingsResponse"} <= responses
    for name in responses:
        schema = schemas[name]
        assert set(schema.get("required", [])) == set(schema.get("properties", {})), name
    assert "etag" in schemas["MCPServerListResponse"]["required"]


def test_query_parameters_are_typed_parameters(served: dict[str, Any]) -> None:
    def query(path: str) -> dict[str, Any]:
        parameters = served["paths"][path]["get"]["parameters"]
        return {p["name"]: p["schema"] for p in parameters if p["in"] == "query"}

    catalog = query("/api/mcp/tools")
    assert catalog.pop("deadline")["maximum"] == 120
    assert catalog == query(ITEM + "/tools")
    assert query(ITEM + "/tools")["refresh"]["type"] == "boolean"
    assert query(ITEM + "/tools")["timeout"]["maximum"] == 120
    assert set(query(ITEM + "/health")) == {"timeout"}
