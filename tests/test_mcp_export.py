"""GET /api/mcp/export: the servers as each client's file, and back again.

Every sample is imported, exported in its own format and imported back with the values its
references name: the servers and their ETags are unchanged, and settings.json is not rewritten.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from format_samples import IMPORT, SAMPLES, VALUES, sample
from starlette.testclient import TestClient
from support import MASK, settings_bytes

EXPORT = "/api/mcp/export"
BASE = "/api/settings/mcp-servers"
PLAINTEXT = {"X-Expose-Secrets": "plaintext"}
REFERENCE = {
    "claude-code": r"\$\{(\w+)\}",
    "cursor": r"\$\{env:(\w+)\}",
    "windsurf": r"\$\{env:(\w+)\}",
    "vscode": r"\$\{input:(\w+)\}",
    "continue": r"\$\{\{ secrets\.(\w+) \}\}",
}
SECRET = "canary-export-secret-3e0a"
STDIO = {"command": "uvx", "args": ["files-mcp"], "env": {"TOKEN": SECRET}}


def parse(name: str, text: str) -> Any:
    return yaml.safe_load(text) if name == "continue" else json.loads(text)


def export(client: TestClient, name: str, **params: str) -> Any:
    response = client.get(EXPORT, params={"format": name, **params})
    assert response.status_code == 200, response.text
    return response


def values_for(name: str, redacted: Any, plaintext: Any) -> dict[str, str]:
    """The value of every reference in a redacted export: what the plaintext export has there."""
    found: dict[str, str] = {}
    if isinstance(redacted, dict):
        for key, value in redacted.items():
            if key == "inputs":  # VS Code declares its references; the plaintext file has none
                continue
            found.update(values_for(name, value, plaintext[key]))
    elif isinstance(redacted, list):
        for r, p in zip(redacted, plaintext, strict=True):
            found.update(values_for(name, r, p))
    elif isinstance(redacted, str) and redacted != plaintext:
        match = re.search(REFERENCE[name], redacted)
        assert match, redacted
        start, tail = match.start(), len(redacted) - match.end()
        found[match.group(1)] = plaintext[start : len(plaintext) - tail]
    return found


def etags(client: TestClient) -> dict[str, str]:
    listing = client.get(BASE).json()["servers"]
    return {server["name"]: server["etag"] for server in listing}


@pytest.mark.parametrize("name", SAMPLES)
def test_an_export_imported_back_with_its_values_gives_the_same_servers_and_etags(
    client: TestClient, home: Path, name: str
) -> None:
    assert client.post(IMPORT, json={"content": sample(name), "values": VALUES}).status_code == 200
    before, file_before = etags(client), settings_bytes(home)
    every = ",".join(before)  # disabled servers too
    redacted = export(client, name, servers=every).text
    for value in VALUES.values():
        assert not value.startswith("canary") or value not in redacted
    plaintext = client.get(EXPORT, params={"format": name, "servers": every}, headers=PLAINTEXT)
    values = (
        {}
        if name not in REFERENCE
        else values_for(name, parse(name, redacted), parse(name, plaintext.text))
    )
    content = redacted if name == "continue" else json.loads(redacted)
    body = {"content": content, "on_conflict": "replace", "values": values}
    response = client.post(IMPORT, json=body)
    assert response.status_code == 200, response.text
    assert response.json()["format"] == name
    assert {line["action"] for line in response.json()["servers"]} == {"replace"}
    assert etags(client) == before
    assert settings_bytes(home) == file_before


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("claude-code", "${FILES_TOKEN}"),
        ("cursor", "${env:FILES_TOKEN}"),
        ("windsurf", "${env:FILES_TOKEN}"),
        ("vscode", "${input:FILES_TOKEN}"),
        ("continue", "${{ secrets.FILES_TOKEN }}"),
        ("claude-desktop", MASK),
        ("cline", MASK),
    ],
)
def test_a_redacted_export_writes_each_secret_in_the_clients_own_syntax(
    client: TestClient, name: str, reference: str
) -> None:
    client.put(f"{BASE}/files", json=STDIO)
    text = export(client, name).text
    assert SECRET not in text
    assert reference in text
    if name == "vscode":
        inputs = json.loads(text)["inputs"]
        assert inputs[0]["id"] == "FILES_TOKEN"
        assert inputs[0]["password"] is True


def test_the_file_is_a_download_named_as_the_client_names_it(client: TestClient) -> None:
    response = export(client, "cline")
    assert response.headers["content-disposition"] == (
        'attachment; filename="cline_mcp_settings.json"'
    )
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-cache"
    continue_file = export(client, "continue")
    assert continue_file.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(continue_file.text)["mcpServers"] == []


def test_plaintext_needs_an_admin_key_and_is_logged(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(session_api_keys=("admin-key:admin", "writer:write"))
    admin = {"X-Session-API-Key": "admin-key"}
    client.put(f"{BASE}/files", json=STDIO, headers=admin)
    params = {"format": "cursor"}
    writer = {"X-Session-API-Key": "writer", **PLAINTEXT}
    assert client.get(EXPORT, params=params, headers=writer).status_code == 403
    response = client.get(EXPORT, params=params, headers={**admin, **PLAINTEXT})
    assert response.status_code == 200
    assert json.loads(response.text)["mcpServers"]["files"]["env"] == {"TOKEN": SECRET}
    assert response.headers["cache-control"] == "no-store"
    assert "plaintext" in caplog.text
    assert SECRET not in caplog.text


def test_a_managed_server_is_exported_but_never_its_secret_values(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    managed = tmp_path / "managed.json"
    corp = {"url": "https://corp.example/mcp", "headers": {"X-Key": "canary-managed-55aa"}}
    managed.write_text(json.dumps({"mcpServers": {"corp": corp}}))
    client = make_client(managed_config=managed)
    text = client.get(EXPORT, params={"format": "claude-code"}, headers=PLAINTEXT).text
    assert "canary-managed-55aa" not in text
    assert json.loads(text)["mcpServers"]["corp"]["headers"] == {"X-Key": "${CORP_X_KEY}"}


def test_disabled_servers_are_left_out_unless_named(client: TestClient) -> None:
    client.put(f"{BASE}/on", json={"command": "a"})
    client.put(f"{BASE}/off", json={"command": "b", "enabled": False})
    assert list(json.loads(export(client, "cursor").text)["mcpServers"]) == ["on"]
    named = json.loads(export(client, "cline", servers="off").text)["mcpServers"]
    assert named == {"off": {"command": "b", "disabled": True}}
    missing = client.get(EXPORT, params={"format": "cursor", "servers": "on,nope"})
    assert missing.status_code == 404
    assert "nope" in missing.json()["detail"]


@pytest.mark.parametrize("name", SAMPLES)
def test_the_gateway_entry_points_here_with_the_key_as_a_reference(
    client: TestClient, name: str
) -> None:
    client.put(f"{BASE}/files", json=STDIO)
    text = export(client, name, via="gateway").text
    key = client.headers["X-Session-API-Key"]
    assert key not in text
    assert SECRET not in text
    entries = parse(name, text)
    servers = entries.get("servers") or entries["mcpServers"]
    entry = servers[0] if isinstance(servers, list) else servers["agent-server"]
    url = entry.get("url") or entry.get("serverUrl")
    assert url == "http://127.0.0.1:8000/mcp"
    headers = entry.get("headers") or entry["requestOptions"]["headers"]
    reference = headers["X-Session-API-Key"]
    assert reference == MASK or "AGENT_SERVER_API_KEY" in reference


@pytest.mark.parametrize(
    ("params", "headers", "words"),
    [
        ({}, {}, "format is one of"),
        ({"format": "emacs"}, {}, "format is one of"),
        ({"format": "cursor", "via": "proxy"}, {}, "via"),
        ({"format": "cursor", "servers": ","}, {}, "servers"),
        ({"format": "cursor"}, {"X-Expose-Secrets": "encrypted"}, "plaintext"),
    ],
)
def test_a_bad_export_request_says_what_to_fix(
    client: TestClient, params: dict[str, str], headers: dict[str, str], words: str
) -> None:
    response = client.get(EXPORT, params=params, headers=headers)
    assert response.status_code == 400
    assert words in response.json()["detail"]
