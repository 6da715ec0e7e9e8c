"""POST /api/mcp/import: a client's config file imported as servers, through the HTTP API.

Real files, real encryption: stored configs are read back in plaintext with the admin key the
app made, settings.json is read to prove a refused import wrote nothing, and canary values show
that no secret leaks into an answer, a dry run, an error or the server's log.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from format_samples import IMPORT, SAMPLES, VALUES, sample
from starlette.testclient import TestClient
from support import MASK, read_settings, secret_tokens, settings_bytes

BASE = "/api/settings/mcp-servers"
PLAINTEXT = {"X-Expose-Secrets": "plaintext"}
# One stored field per sample, read back in plaintext, that shows its references were filled.
FILLED: dict[str, tuple[str, list[str], Any]] = {
    "claude-desktop": (
        "github",
        ["env", "GITHUB_PERSONAL_ACCESS_TOKEN"],
        "canary-desktop-token-7c1e",
    ),
    "claude-code": ("api-server", ["headers", "Authorization"], "Bearer canary-api-key-5d21"),
    "cursor": ("project-tools", ["args", 0], "/home/me/project/tools/mcp_server.py"),
    "vscode": ("Perplexity", ["env", "PERPLEXITY_API_KEY"], "canary-perplexity-44c1"),
    "cline": ("remote-server", ["timeout"], 30000),
    "windsurf": ("figma", ["headers", "Authorization"], "Bearer canary-figma-2e9b"),
    "continue": ("Docs", ["headers", "Authorization"], "Bearer canary-docs-8d44"),
}
SECRET = "canary-import-secret-71f2"
STDIO = {"command": "uvx", "args": ["files-mcp"], "env": {"TOKEN": SECRET}}


def post(client: TestClient, content: Any, **fields: Any) -> Any:
    return client.post(IMPORT, json={"content": content, **fields})


def stored(client: TestClient, name: str) -> dict[str, Any]:
    response = client.get(f"{BASE}/{name}", headers=PLAINTEXT)
    assert response.status_code == 200, response.text
    config: dict[str, Any] = response.json()["config"]
    return config


def at(config: Any, loc: list[Any]) -> Any:
    for part in loc:
        config = config[part]
    return config


def lines(response: Any) -> dict[str, dict[str, Any]]:
    return {line["name"]: line for line in response.json()["servers"]}


@pytest.mark.parametrize("name", SAMPLES)
def test_each_documented_sample_imports_detected_with_its_references_filled(
    client: TestClient, name: str
) -> None:
    response = post(client, sample(name), values=VALUES)
    assert response.status_code == 200, response.text
    assert response.json()["format"] == name
    assert response.json()["written"] is True
    for line in response.json()["servers"]:
        assert line["action"] in ("create", "rename"), line
        assert line["needs"] is None
    server, loc, value = FILLED[name]
    assert at(stored(client, server), loc) == value


def test_the_stored_configs_of_a_sample_are_ours(client: TestClient) -> None:
    assert post(client, sample("cline")).status_code == 200
    assert stored(client, "remote-server") == {
        "url": "https://your-server-url.com/mcp",
        "transport": "sse",
        "headers": {"Authorization": "Bearer canary-cline-bearer-91aa"},
        "autoApprove": ["tool3"],
        "enabled": False,
        "timeout": 30000,
    }
    assert stored(client, "streaming") == {
        "url": "https://stream.example.com/mcp",
        "autoApprove": [],
    }


def test_a_name_that_cannot_be_a_server_name_is_renamed(client: TestClient) -> None:
    response = post(client, sample("cline"))
    line = lines(response)["github.com/modelcontextprotocol/servers/tree/main/src/github"]
    assert line["action"] == "rename"
    assert line["as"] == "github.com-modelcontextprotocol-servers-tree-main-src-github"
    assert stored(client, line["as"])["command"] == "node"
    continue_lines = lines(post(client, sample("continue"), values=VALUES))
    assert continue_lines["Browser search"]["as"] == "Browser-search"


def test_a_reference_without_a_value_imports_the_server_disabled_with_what_it_needs(
    client: TestClient, home: Path
) -> None:
    values = {"API_KEY": VALUES["API_KEY"]}
    response = post(client, sample("claude-code"), values=values)
    assert response.status_code == 200
    assert lines(response)["local-db"]["needs"] == [
        {"reference": "DB_PASSWORD", "loc": ["env", "DB_PASSWORD"]}
    ]
    config = stored(client, "local-db")
    assert config["enabled"] is False
    # The default of ${DB_URL:-...} fills its slot; the slot without a value is left out.
    assert config["env"] == {"DB_URL": "postgres://localhost/dev"}
    on_disk = json.dumps(read_settings(home))
    assert "${" not in on_disk
    assert "DB_PASSWORD" not in on_disk
    # PATCH with the value completes it, encrypted like any other secret.
    patch = {"env": {"DB_PASSWORD": VALUES["DB_PASSWORD"]}, "enabled": True}
    assert client.patch(f"{BASE}/local-db", json=patch).status_code == 200
    assert stored(client, "local-db")["env"]["DB_PASSWORD"] == VALUES["DB_PASSWORD"]
    tokens = secret_tokens(read_settings(home)["agent_settings"])
    assert tokens[("local-db", "env", "DB_PASSWORD")].startswith("gAAAAA")


def test_a_reference_in_a_header_or_url_query_without_a_value_leaves_that_slot_out(
    client: TestClient,
) -> None:
    content = {
        "mcpServers": {
            "api": {
                "type": "http",
                "url": "https://api.example.com/mcp?key=${QUERY_KEY}",
                "headers": {"Authorization": "Bearer ${API_KEY}", "X-Team": "core"},
            }
        }
    }
    response = post(client, content, format="claude-code")
    needs = lines(response)["api"]["needs"]
    assert needs == [
        {"reference": "QUERY_KEY", "loc": ["url"]},
        {"reference": "API_KEY", "loc": ["headers", "Authorization"]},
    ]
    config = stored(client, "api")
    assert config["url"] == "https://api.example.com/mcp"
    assert config["headers"] == {"X-Team": "core"}


def test_a_reference_outside_a_secret_slot_without_a_value_keeps_its_text(
    client: TestClient,
) -> None:
    response = post(client, sample("cursor"), values={"API_KEY": "k", "MY_SERVICE_TOKEN": "t"})
    assert lines(response)["project-tools"]["needs"] == [
        {"reference": "workspaceFolder", "loc": ["args", 0]}
    ]
    config = stored(client, "project-tools")
    assert config["args"] == ["${workspaceFolder}/tools/mcp_server.py"]
    assert config["enabled"] is False


def test_imported_secrets_are_encrypted_on_disk(client: TestClient, home: Path) -> None:
    assert post(client, sample("windsurf"), values=VALUES).status_code == 200
    on_disk = (home / "settings.json").read_text()
    assert VALUES["FIGMA_TOKEN"] not in on_disk
    assert VALUES["GITHUB_TOKEN"] not in on_disk
    tokens = secret_tokens(read_settings(home)["agent_settings"])
    assert tokens[("figma", "headers", "Authorization")].startswith("gAAAAA")


# --- conflicts -----------------------------------------------------------------------------------


@pytest.fixture
def existing(client: TestClient) -> TestClient:
    assert client.put(f"{BASE}/github", json=STDIO).status_code == 201
    return client


def test_on_conflict_fail_is_409_with_the_lines_and_writes_nothing(
    existing: TestClient, home: Path
) -> None:
    before = settings_bytes(home)
    response = post(existing, sample("claude-desktop"), on_conflict="fail")
    assert response.status_code == 409
    body = response.json()
    assert body["written"] is False
    assert "nothing was written" in body["detail"]
    assert lines(response)["github"]["action"] == "error"
    assert lines(response)["filesystem"]["action"] == "create"
    assert settings_bytes(home) == before


def test_fail_is_the_default(existing: TestClient) -> None:
    assert post(existing, sample("claude-desktop")).status_code == 409


def test_on_conflict_skip_keeps_the_stored_server(existing: TestClient) -> None:
    response = post(existing, sample("claude-desktop"), on_conflict="skip")
    assert response.status_code == 200
    assert lines(response)["github"]["action"] == "skip"
    assert stored(existing, "github") == STDIO
    assert stored(existing, "filesystem")["command"] == "npx"


def test_on_conflict_replace_replaces_it(existing: TestClient) -> None:
    response = post(existing, sample("claude-desktop"), on_conflict="replace")
    assert lines(response)["github"]["action"] == "replace"
    assert stored(existing, "github")["args"] == ["-y", "@modelcontextprotocol/server-github"]


def test_on_conflict_rename_stores_it_under_a_free_name(existing: TestClient) -> None:
    assert existing.put(f"{BASE}/github-2", json=STDIO).status_code == 201
    response = post(existing, sample("claude-desktop"), on_conflict="rename")
    line = lines(response)["github"]
    assert (line["action"], line["as"]) == ("rename", "github-3")
    assert stored(existing, "github") == STDIO
    assert stored(existing, "github-3")["command"] == "npx"


def test_a_replace_keeps_a_masked_secret_while_the_destination_stays(
    existing: TestClient, home: Path
) -> None:
    token = secret_tokens(read_settings(home)["agent_settings"])[("github", "env", "TOKEN")]
    masked = {**STDIO, "env": {"TOKEN": MASK}, "description": "now described"}
    content = {"mcpServers": {"github": masked}}
    assert post(existing, content, on_conflict="replace").status_code == 200
    assert secret_tokens(read_settings(home)["agent_settings"])[("github", "env", "TOKEN")] == token
    moved = {**masked, "command": "elsewhere"}
    before = settings_bytes(home)
    response = post(existing, {"mcpServers": {"github": moved}}, on_conflict="replace")
    assert response.status_code == 422
    assert "env.TOKEN" in lines(response)["github"]["reason"]
    assert settings_bytes(home) == before


def test_a_managed_server_is_never_replaced(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    managed = tmp_path / "managed.json"
    managed.write_text(json.dumps({"mcpServers": {"github": {"command": "corp"}}}))
    client = make_client(managed_config=managed)
    response = post(client, sample("claude-desktop"), on_conflict="replace")
    assert response.status_code == 422
    assert "administrator" in lines(response)["github"]["reason"]
    renamed = lines(post(client, sample("claude-desktop"), on_conflict="rename"))["github"]
    assert renamed["as"] == "github-2"


# --- all or nothing, and the secret rules --------------------------------------------------------


def test_one_invalid_server_writes_nothing_and_its_line_names_the_field_not_the_value(
    existing: TestClient, home: Path
) -> None:
    before = settings_bytes(home)
    token = secret_tokens(read_settings(home)["agent_settings"])[("github", "env", "TOKEN")]
    content = {
        "mcpServers": {
            "good": {"command": "ok", "env": {"A": SECRET}},
            "bad-secret": {"command": "x", "env": {"LINE": f"{SECRET}\nInjected: 1"}},
            "bad-field": {"command": "x", "timeout": "soon"},
            "bad-url": {"url": f"ftp://example.com/{SECRET}"},
            "token": {"command": "x", "env": {"T": token}},
        }
    }
    response = post(existing, content)
    assert response.status_code == 422, response.text
    got = lines(response)
    assert got["good"]["action"] == "create"
    assert "env.LINE" in got["bad-secret"]["reason"]
    assert "timeout" in got["bad-field"]["reason"]
    assert got["bad-url"]["reason"].startswith("url:")
    assert "slot it was read from" in got["token"]["reason"]
    assert all(got[n]["action"] == "error" for n in ("bad-secret", "bad-field", "bad-url", "token"))
    assert SECRET not in response.text
    assert settings_bytes(home) == before


def test_a_dry_run_answers_the_plan_and_writes_nothing(existing: TestClient, home: Path) -> None:
    before = settings_bytes(home)
    dry = post(existing, sample("claude-code"), on_conflict="rename", dry_run=True, values=VALUES)
    assert dry.status_code == 200
    assert dry.json()["written"] is False
    assert settings_bytes(home) == before
    for value in VALUES.values():
        assert value not in dry.text
    real = post(existing, sample("claude-code"), on_conflict="rename", values=VALUES)
    assert real.json()["servers"] == dry.json()["servers"]
    assert real.json()["written"] is True


def test_a_dry_run_with_errors_is_a_plan_too(existing: TestClient) -> None:
    response = post(existing, sample("claude-desktop"), dry_run=True)
    assert response.status_code == 200
    assert lines(response)["github"]["action"] == "error"


def test_five_hundred_servers_import_in_one_request_or_not_at_all(
    client: TestClient, home: Path
) -> None:
    servers = {
        f"s{i:03}": {"command": "uvx", "args": [f"server-{i}"], "env": {"TOKEN": f"t-{i}"}}
        for i in range(500)
    }
    broken = {**servers, "s499": {"command": "uvx", "timeout": "never"}}
    client.put(f"{BASE}/seed", json=STDIO)
    before = settings_bytes(home)
    assert post(client, {"mcpServers": broken}).status_code == 422
    assert settings_bytes(home) == before
    response = post(client, {"mcpServers": servers})
    assert response.status_code == 200
    assert len(response.json()["servers"]) == 500
    stored_servers = read_settings(home)["agent_settings"]["mcp_config"]["mcpServers"]
    assert len(stored_servers) == 501
    assert stored(client, "s499")["env"] == {"TOKEN": "t-499"}


# --- the request itself --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"content": [1, 2]}, 422, "content"),
        ({"content": {}, "on_conflict": "merge"}, 422, "on_conflict"),
        ({"content": {}, "format": "emacs"}, 422, "format"),
        ({"content": {}, "values": {"A": 1}}, 422, "values"),
        ({"content": {"mcpServers": []}, "format": "cursor"}, 400, "cursor"),
        ({"content": "mcpServers: [", "format": "continue"}, 400, "YAML"),
        ({"content": "{}", "format": "cursor"}, 400, "JSON value"),
        ({"content": {}, "extra": 1}, 422, "extra"),
    ],
)
def test_a_bad_request_says_what_to_fix(
    client: TestClient, body: dict[str, Any], status: int, words: str
) -> None:
    response = client.post(IMPORT, json=body)
    assert response.status_code == status, response.text
    assert words in response.text


def test_an_acp_agent_has_no_servers_to_import_into(client: TestClient) -> None:
    client.patch("/api/settings", json={"agent_settings_diff": {"agent_kind": "acp"}})
    response = post(client, sample("claude-desktop"))
    assert response.status_code == 409
    assert "openhands" in response.json()["detail"]


def test_no_secret_reaches_the_log_of_a_real_server(start_server: Any, tmp_path: Path) -> None:
    server = start_server(tmp_path / "home")
    content = {
        "mcpServers": {
            "api": {"type": "http", "url": "https://a.example/mcp", "headers": {"K": "${KEY}"}},
            "bad": {"command": "x", "env": {"LINE": f"{SECRET}\r\n"}},
        }
    }
    with server.client() as http:
        values = {"KEY": VALUES["API_KEY"]}
        for dry_run in (True, False):
            body = {"content": content, "values": values, "dry_run": dry_run}
            response = http.post(IMPORT, json=body)
            assert SECRET not in response.text
            assert VALUES["API_KEY"] not in response.text
        del content["mcpServers"]["bad"]
        assert http.post(IMPORT, json={"content": content, "values": values}).status_code == 200
    log = server.log()
    assert "POST /api/mcp/import" in log
    assert SECRET not in log
    assert VALUES["API_KEY"] not in log


def test_a_body_over_one_mebibyte_is_413_and_writes_nothing(client: TestClient, home: Path) -> None:
    client.put(f"{BASE}/seed", json=STDIO)
    before = settings_bytes(home)
    big = {f"s{i}": {"command": "x" * 2000} for i in range(600)}
    response = post(client, {"mcpServers": big})
    assert response.status_code == 413
    assert settings_bytes(home) == before


def test_a_read_key_may_export_but_not_import(make_client: Callable[..., TestClient]) -> None:
    client = make_client(session_api_keys=("reader:read",))
    reader = {"X-Session-API-Key": "reader"}
    body = {"content": sample("cursor")}
    assert client.post(IMPORT, json=body, headers=reader).status_code == 403
    assert client.get("/api/mcp/export?format=cursor", headers=reader).status_code == 200
    plaintext = client.get("/api/mcp/export?format=cursor", headers={**reader, **PLAINTEXT})
    assert plaintext.status_code == 403


def test_yaml_whose_aliases_expand_past_any_body_is_refused(client: TestClient) -> None:
    """Nine anchors of nine aliases each stand for 9**9 values: refused, not walked."""
    lines_ = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines_ += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb = "\n".join(lines_) + "\nmcpServers:\n  - name: bomb\n    command: x\n    x-bomb: *a8\n"
    response = post(client, bomb, format="continue")
    assert response.status_code == 400
    assert "more than" in response.json()["detail"]
    deep = "mcpServers: " + "[" * 200 + "]" * 200
    assert post(client, deep, format="continue").status_code == 400
