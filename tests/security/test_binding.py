"""A secret stays bound to where it was meant to go, through every route that can move it.

A listener on loopback stands where an attacker would point a server: it must receive nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from support import MASK, Listener, read_settings, settings_bytes

SERVERS = "/api/settings/mcp-servers"
TOKEN = "canary-bind-auth-91a7"
HEADER = "canary-bind-header-5c20"
ENV = "canary-bind-env-e64d"
QUERY = "canary-bind-query-0b3f"
GITHUB: dict[str, Any] = {
    "url": "https://api.example.com/mcp",
    "auth": TOKEN,
    "headers": {"X-Team": HEADER},
}
FILES: dict[str, Any] = {"command": "npx", "args": ["-y", "files"], "env": {"TOKEN": ENV}}


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.close()


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    assert client.put(f"{SERVERS}/github", json=GITHUB).status_code == 201
    assert client.put(f"{SERVERS}/files", json=FILES).status_code == 201
    return client


def rebind_errors(response: Any) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    for error in response.json()["detail"]:
        assert error["type"] == "secret_rebind"
        assert "give this secret again" in error["msg"]
    return sorted(error["loc"] for error in response.json()["detail"])


def test_moving_a_server_elsewhere_with_kept_secrets_is_refused_on_every_route(
    seeded: TestClient, home: Path, listener: Listener
) -> None:
    away = f"http://127.0.0.1:{listener.port}/mcp"
    redacted = seeded.get(f"{SERVERS}/github").json()["config"]
    encrypted = seeded.get(f"{SERVERS}/github", headers={"X-Expose-Secrets": "encrypted"})
    before = settings_bytes(home)

    put_masks = seeded.put(f"{SERVERS}/github", json={**redacted, "url": away})
    assert rebind_errors(put_masks) == [["auth"], ["headers", "X-Team"]]
    put_tokens = seeded.put(f"{SERVERS}/github", json={**encrypted.json()["config"], "url": away})
    assert rebind_errors(put_tokens) == [["auth"], ["headers", "X-Team"]]
    patch = seeded.patch(f"{SERVERS}/github", json={"url": away})
    assert rebind_errors(patch) == [["auth"], ["headers", "X-Team"]]
    legacy = seeded.patch(
        "/api/settings",
        json={"agent_settings_diff": {"mcp_config": {"mcpServers": {"github": {"url": away}}}}},
    )
    prefix = ["agent_settings", "mcp_config", "mcpServers", "github"]
    assert rebind_errors(legacy) == [[*prefix, "auth"], [*prefix, "headers", "X-Team"]]
    probe = seeded.post(
        "/api/mcp/test", json={"name": "github", "config": {"url": away, "auth": MASK}}
    )
    assert rebind_errors(probe) == [["config", "auth"]]
    for port in ("8443", "80"):  # another port, or another scheme, is another destination
        moved = f"http{'s' if port == '8443' else ''}://api.example.com:{port}/mcp"
        assert seeded.patch(f"{SERVERS}/github", json={"url": moved}).status_code == 422

    assert settings_bytes(home) == before
    assert listener.connections == 0 and listener.received == []
    for response in (put_masks, put_tokens, patch, legacy, probe):
        assert TOKEN not in response.text and HEADER not in response.text


def test_a_stdio_server_keeps_its_env_only_while_command_args_and_cwd_stay(
    seeded: TestClient, home: Path, tmp_path: Path
) -> None:
    leak = tmp_path / "leaked"
    before = settings_bytes(home)
    for change in (
        {"command": "sh", "args": ["-c", f'echo "$TOKEN" > {leak}']},
        {"args": ["-y", "other"]},
        {"cwd": "/tmp"},
    ):
        response = seeded.patch(f"{SERVERS}/files", json=change)
        assert rebind_errors(response) == [["env", "TOKEN"]], change
    shell = {"command": "sh", "args": ["-c", f'echo "$TOKEN" > {leak}'], "env": {"TOKEN": MASK}}
    probe = seeded.post("/api/mcp/test", json={"name": "files", "config": shell, "timeout": 5})
    assert rebind_errors(probe) == [["config", "env", "TOKEN"]]
    assert not leak.exists()
    assert settings_bytes(home) == before


def test_a_move_goes_through_when_every_secret_is_given_again_or_removed(
    seeded: TestClient,
) -> None:
    same_origin = seeded.patch(f"{SERVERS}/github", json={"url": "https://api.example.com/v2"})
    assert same_origin.status_code == 200  # the path is not the destination
    given = seeded.patch(
        f"{SERVERS}/github",
        json={"url": "https://mcp.example.org/mcp", "auth": "new-token", "headers": None},
    )
    assert given.status_code == 200, given.text
    plain = seeded.get(f"{SERVERS}/github", headers={"X-Expose-Secrets": "plaintext"}).json()
    assert plain["config"] == {"url": "https://mcp.example.org/mcp", "auth": "new-token"}
    moved = seeded.patch(f"{SERVERS}/files", json={"args": ["-y", "files@2"], "env": FILES["env"]})
    assert moved.status_code == 200, moved.text


@pytest.mark.parametrize("bad", ["a\rb", "line\nbreak", "nul\x00byte"])
def test_a_secret_with_cr_lf_or_nul_is_refused(seeded: TestClient, home: Path, bad: str) -> None:
    before = settings_bytes(home)
    for change, loc in (
        ({"auth": bad}, ["auth"]),
        ({"headers": {"X-Team": bad}}, ["headers", "X-Team"]),
    ):
        response = seeded.patch(f"{SERVERS}/github", json=change)
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert error["loc"] == loc and error["type"] == "secret_control_character"
    env = seeded.patch(f"{SERVERS}/files", json={"env": {"NEW": bad}})
    assert env.status_code == 422
    assert settings_bytes(home) == before


def test_credentials_in_a_url_are_refused(client: TestClient, home: Path) -> None:
    for url in ("https://user:pw-91c3@api.example.com/mcp", "https://tok-77e1@api.example.com/mcp"):
        response = client.put(f"{SERVERS}/creds", json={"url": url})
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert error["loc"] == ["url"] and "headers or auth" in error["msg"]
        assert "pw-91c3" not in response.text and "tok-77e1" not in response.text
    assert not (home / "settings.json").exists()


def test_a_url_query_is_a_secret_encrypted_at_rest_and_never_shown_redacted(
    client: TestClient, home: Path
) -> None:
    url = f"https://api.example.com/mcp?token={QUERY}&team=a"
    created = client.put(f"{SERVERS}/q", json={"url": url, "description": "q"})
    assert created.status_code == 201
    assert created.json()["config"]["url"] == f"https://api.example.com/mcp?{MASK}"
    assert QUERY not in (home / "settings.json").read_text()
    stored = read_settings(home)["agent_settings"]["mcp_config"]["mcpServers"]["q"]["url"]
    assert stored.startswith("https://api.example.com/mcp?gAAAAA")
    listing = client.get(SERVERS)
    assert QUERY not in listing.text and QUERY not in client.get(f"{SERVERS}/q").text
    invalid = client.patch(f"{SERVERS}/q", json={"enabled": "yes"})
    assert invalid.status_code == 422 and QUERY not in invalid.text
    kept = client.patch(f"{SERVERS}/q", json={"description": "kept"})
    assert kept.status_code == 200
    redacted_back = client.put(f"{SERVERS}/q", json=kept.json()["config"])
    assert redacted_back.headers["etag"] == kept.headers["etag"]
    plain = client.get(f"{SERVERS}/q", headers={"X-Expose-Secrets": "plaintext"}).json()
    assert plain["config"]["url"] == url
    other = client.patch(f"{SERVERS}/q", json={"url": "https://api.example.com/mcp?token=x"})
    assert other.headers["etag"] != kept.headers["etag"]


def test_a_plaintext_query_in_an_older_file_is_sealed_at_start(
    home: Path, make_client: Any
) -> None:
    home.mkdir(mode=0o700)
    url = f"https://api.example.com/mcp?key={QUERY}"
    document = {
        "schema_version": 1,
        "agent_settings": {"mcp_config": {"mcpServers": {"old": {"url": url}}}},
        "misc_settings": {},
    }
    (home / "settings.json").write_text(json.dumps(document))
    (home / "settings.json").chmod(0o600)
    client = make_client()
    assert QUERY not in (home / "settings.json").read_text()
    plain = client.get(f"{SERVERS}/old", headers={"X-Expose-Secrets": "plaintext"}).json()
    assert plain["config"]["url"] == url


def test_the_etag_covers_the_name(client: TestClient) -> None:
    """Otherwise a client could write a guess under its own name and compare ETags to learn
    whether another server holds that secret."""
    config = {"command": "x", "env": {"TOKEN": "same-secret"}}
    first = client.put(f"{SERVERS}/first", json=config).headers["etag"]
    second = client.put(f"{SERVERS}/second", json=config).headers["etag"]
    assert first != second
