"""Registries as resources under /api/settings/mcp-registries: the same rules as MCP servers
(ETags, If-Match / If-None-Match, 428 mode, managed read-only, redacted secrets), the official
registry in a new document, and version 1 documents read as before and upgraded on first write.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient
from support import MASK, read_settings, run_cli, settings_bytes, settings_written

from agent_server import Config, create_app
from agent_server.errors import ConfigError

BASE = "/api/settings/mcp-registries"
PLAINTEXT = {"X-Expose-Secrets": "plaintext"}
TOKEN = "canary-registry-token-5a1f"
ACME: dict[str, Any] = {
    "url": "https://registry.acme.example",
    "title": "Acme",
    "headers": {"Authorization": f"Bearer {TOKEN}"},
}
OFFICIAL = {
    "id": "official",
    "source": "user",
    "url": "https://registry.modelcontextprotocol.io",
    "title": "Official MCP Registry",
    "enabled": True,
}


def without_etag(summary: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in summary.items() if key != "etag"}


def test_a_new_document_lists_the_official_registry(client: TestClient, home: Path) -> None:
    listed = client.get(BASE)

    assert listed.status_code == 200
    assert [without_etag(r) for r in listed.json()["registries"]] == [OFFICIAL]
    assert listed.headers["etag"] == listed.json()["etag"]
    again = client.get(BASE, headers={"If-None-Match": listed.headers["etag"]})
    assert again.status_code == 304
    assert not settings_written(home)


def test_header_values_are_secrets_stored_encrypted_and_read_redacted(
    client: TestClient, home: Path
) -> None:
    created = client.put(f"{BASE}/acme", json=ACME)

    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{BASE}/acme"
    assert created.json()["config"]["headers"] == {"Authorization": MASK}
    assert TOKEN not in settings_bytes(home).decode()
    stored = read_settings(home)["mcp_registries"]["acme"]["headers"]["Authorization"]
    assert stored.startswith("gAAAAA")
    for response in (client.get(BASE), client.get(f"{BASE}/acme")):
        assert TOKEN not in response.text
        assert TOKEN not in json.dumps(dict(response.headers))
    plaintext = client.get(f"{BASE}/acme", headers=PLAINTEXT).json()["config"]
    assert plaintext["headers"] == ACME["headers"]
    # The mask keeps the secret while the origin stays; a new title is all that changes.
    kept = client.put(f"{BASE}/acme", json={**ACME, "headers": {"Authorization": MASK}})
    assert kept.status_code == 200
    assert read_settings(home)["mcp_registries"]["acme"]["headers"]["Authorization"] == stored


def test_a_kept_secret_cannot_follow_the_registry_to_another_origin(
    client: TestClient, home: Path
) -> None:
    etag = client.put(f"{BASE}/acme", json=ACME).headers["etag"]
    before = settings_bytes(home)

    moved = client.patch(
        f"{BASE}/acme", json={"url": "https://collector.example"}, headers={"If-Match": etag}
    )

    assert moved.status_code == 422
    assert moved.json()["detail"][0]["loc"] == ["headers", "Authorization"]
    assert moved.json()["detail"][0]["type"] == "secret_rebind"
    assert settings_bytes(home) == before


def test_preconditions_follow_the_rules_of_mcp_servers(client: TestClient, home: Path) -> None:
    etag = client.put(f"{BASE}/acme", json=ACME).headers["etag"]
    before = settings_bytes(home)

    taken = client.put(f"{BASE}/acme", json=ACME, headers={"If-None-Match": "*"})
    stale = client.patch(f"{BASE}/acme", json={"title": "x"}, headers={"If-Match": '"stale"'})
    read = client.get(f"{BASE}/acme", headers={"If-None-Match": etag})

    assert taken.status_code == 412
    assert taken.headers["etag"] == etag
    assert stale.status_code == 412
    assert read.status_code == 304
    assert settings_bytes(home) == before
    changed = client.patch(f"{BASE}/acme", json={"title": "Acme 2"}, headers={"If-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


def test_428_mode_needs_a_precondition(make_client: Callable[..., TestClient]) -> None:
    strict = make_client(require_preconditions=True)

    assert strict.put(f"{BASE}/acme", json=ACME).status_code == 428
    assert strict.put(f"{BASE}/acme", json=ACME, headers={"If-None-Match": "*"}).status_code == 201
    refused = strict.delete(f"{BASE}/official")
    assert refused.status_code == 428
    assert refused.headers["etag"]


def test_the_official_registry_may_be_disabled_or_deleted(client: TestClient) -> None:
    disabled = client.patch(f"{BASE}/official", json={"enabled": False})
    assert disabled.status_code == 200
    assert client.get(BASE).json()["registries"][0]["enabled"] is False

    assert client.delete(f"{BASE}/official").status_code == 204
    assert client.get(BASE).json()["registries"] == []
    assert client.get(f"{BASE}/official").status_code == 404


def test_bad_input_is_a_clear_4xx_and_leaves_the_file_alone(client: TestClient, home: Path) -> None:
    client.put(f"{BASE}/acme", json=ACME)
    before = settings_bytes(home)
    cases = {
        "Upper": (ACME, 400, "registry id"),
        "-dash": (ACME, 400, "registry id"),
        "a" * 65: (ACME, 400, "registry id"),
        "ftp": ({"url": "ftp://registry.example"}, 422, "http"),
        "query": ({"url": f"https://registry.example/?token={TOKEN}"}, 422, "headers"),
        "userinfo": ({"url": f"https://u:{TOKEN}@registry.example"}, 422, "headers"),
        "typo": ({"url": "https://registry.example", "header": {}}, 422, "header"),
        "badheader": ({"url": "https://r.example", "headers": {"a b": "x"}}, 422, "header name"),
        "crlf": ({"url": "https://r.example", "headers": {"X": "a\r\nb"}}, 422, "CR"),
        "enabled": ({"url": "https://registry.example", "enabled": "yes"}, 422, "boolean"),
    }
    for rid, (config, status, words) in cases.items():
        response = client.put(f"{BASE}/{rid}", json=config)
        assert response.status_code == status, (rid, response.text)
        assert words in json.dumps(response.json()["detail"]), (rid, response.text)
        assert TOKEN not in response.text
    assert settings_bytes(home) == before


MANAGED_TOKEN = "canary-managed-registry-8e20"


def test_managed_registries_are_listed_read_only_and_always_redacted(
    make_client: Callable[..., TestClient], tmp_path: Path, home: Path, monkeypatch: Any
) -> None:
    managed = tmp_path / "managed.json"
    managed.write_text(
        json.dumps(
            {
                "registries": {
                    "corp": {
                        "url": "https://registry.corp.example",
                        "headers": {"X-Corp-Key": "${env:CORP_REGISTRY_KEY}"},
                    }
                }
            }
        )
    )
    monkeypatch.setenv("CORP_REGISTRY_KEY", MANAGED_TOKEN)
    client = make_client(managed_config=managed)

    listed = client.get(BASE).json()["registries"]
    assert [(r["id"], r["source"]) for r in listed] == [("corp", "managed"), ("official", "user")]
    read = client.get(f"{BASE}/corp", headers=PLAINTEXT)
    assert read.status_code == 200
    assert read.json()["config"]["headers"] == {"X-Corp-Key": MASK}
    for method in ("PUT", "PATCH", "DELETE"):
        body = None if method == "DELETE" else {"url": "https://registry.corp.example"}
        refused = client.request(method, f"{BASE}/corp", json=body)
        assert refused.status_code == 403, method
        assert "managed" in refused.json()["detail"]
    assert not settings_written(home)


V1_SERVER = {"command": "uvx", "args": ["files"], "env": {"TOKEN": "canary-v1-env-44d0"}}


@pytest.mark.file_only("a version 1 settings.json is a file's history")
def test_a_version_1_file_reads_as_before_and_is_upgraded_on_first_write(
    config: Config, make_client: Callable[..., TestClient], home: Path
) -> None:
    # A version 1 document as the previous release wrote it, its secret sealed by that release.
    first = make_client()
    first.put("/api/settings/mcp-servers/files", json=V1_SERVER)
    first.patch("/api/settings", json={"misc_settings_diff": {"theme": "dark"}})
    document = read_settings(home)
    del document["mcp_registries"]
    document["schema_version"] = 1
    document["written_by"] = "a newer tool"
    (home / "settings.json").write_text(json.dumps(document))
    v1_bytes = settings_bytes(home)

    client = make_client()
    legacy = client.get("/api/settings")
    assert legacy.status_code == 200
    assert set(legacy.json()) == {
        "schema_version",
        "agent_settings",
        "misc_settings",
        "llm_api_key_is_set",
    }
    assert legacy.json()["misc_settings"] == {"theme": "dark"}
    plain = client.get("/api/settings/mcp-servers/files", headers=PLAINTEXT).json()["config"]
    assert plain == V1_SERVER
    assert [r["id"] for r in client.get(BASE).json()["registries"]] == ["official"]
    assert settings_bytes(home) == v1_bytes  # reads never write

    assert client.put(f"{BASE}/acme", json=ACME).status_code == 201

    upgraded = read_settings(home)
    assert upgraded["schema_version"] == 2
    assert upgraded["agent_settings"] == document["agent_settings"]
    assert upgraded["misc_settings"] == {"theme": "dark"}
    assert upgraded["written_by"] == "a newer tool"
    assert set(upgraded["mcp_registries"]) == {"official", "acme"}


def test_rotate_key_reencrypts_registry_headers(config: Config, client: TestClient) -> None:
    client.put(f"{BASE}/acme", json=ACME)
    old = read_settings(config.home)["mcp_registries"]["acme"]["headers"]["Authorization"]

    rotated = run_cli(
        "rotate-key",
        "--home",
        str(config.home),
        env={"AGENT_SERVER_SECRET_KEY": config.secret_key or "", "PATH": "/usr/bin:/bin"},
    )

    assert rotated.returncode == 0, rotated.stderr
    new_key = rotated.stdout.splitlines()[0].split("=", 1)[1]
    new = read_settings(config.home)["mcp_registries"]["acme"]["headers"]["Authorization"]
    assert new != old
    assert Fernet(new_key).decrypt(new.encode()).decode() == ACME["headers"]["Authorization"]


def test_a_registry_secret_no_key_opens_stops_the_start(config: Config, client: TestClient) -> None:
    client.put(f"{BASE}/acme", json=ACME)
    before = settings_bytes(config.home)

    with pytest.raises(ConfigError) as refused:
        create_app(dataclasses.replace(config, secret_key=Fernet.generate_key().decode()))

    assert "mcp_registries.acme.headers.Authorization" in str(refused.value)
    assert TOKEN not in str(refused.value)
    assert settings_bytes(config.home) == before
