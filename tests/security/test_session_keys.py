"""Session keys by default, their scopes on every route, and how clients find the key."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import ROOT, ServerProcess, cli_env, free_port, run_refused, serving

from agent_server.security.session_keys import generate_session_key
from sdk import SettingsClient, Unauthorized

KEYS = {"read": "key-read-7d21", "write": "key-write-0c9e", "admin": "key-admin-44b3"}
RANK = ("read", "write", "admin")


# --- a key by default ---------------------------------------------------------------------------


def test_the_first_start_makes_a_private_admin_key_and_logs_only_where_it_is(
    home: Path, start_server: Any
) -> None:
    server: ServerProcess = start_server(home)
    path = home / "session.key"
    key = path.read_text().strip()
    assert len(key) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert str(path) in server.log()
    assert key not in server.log()

    assert httpx.get(server.url + "/api/settings").status_code == 401
    assert httpx.get(server.url + "/health").status_code == 200
    admin = {"X-Session-API-Key": key, "X-Expose-Secrets": "plaintext"}
    assert httpx.get(server.url + "/api/settings", headers=admin).status_code == 200

    server.stop()
    again: ServerProcess = start_server(home)
    assert path.read_text().strip() == key
    assert httpx.get(again.url + "/api/settings", headers=again.headers).status_code == 200


def test_no_auth_serves_without_a_key_and_warns(home: Path, start_server: Any) -> None:
    server: ServerProcess = start_server(home, "--no-auth")
    assert httpx.get(server.url + "/api/settings").status_code == 200
    assert not (home / "session.key").exists()
    warning = [line for line in server.log().splitlines() if "WARNING" in line]
    assert any("--no-auth" in line for line in warning), server.log()


def test_a_key_entry_with_an_unknown_scope_refuses_to_start(home: Path) -> None:
    env = cli_env(AGENT_SERVER_SESSION_API_KEYS="fine-key,secret-value:reader")
    result = run_refused("serve", "--port", str(free_port()), "--home", str(home), env=env)
    assert result.returncode == 2
    assert "KEY:SCOPE" in result.stderr
    assert "secret-value" not in result.stderr


# --- scopes on every route ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def scoped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    entries = ",".join(f"{key}:{scope}" for scope, key in KEYS.items())
    home = tmp_path_factory.mktemp("scopes") / "home"
    yield from serving(home, env=cli_env(AGENT_SERVER_SESSION_API_KEYS=entries))


def operations(server: ServerProcess) -> list[tuple[str, str, str, list[str]]]:
    """(method, path, scope, tags) of every secured operation the served document lists."""
    document = httpx.get(server.url + "/openapi.json").json()
    found = []
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            if path.startswith("/api/") or "x-session-key-scope" in op:
                assert op.get("security") != [], (method, path)  # no /api/ route is open
                scope = op["x-session-key-scope"]
                found.append((method.upper(), path, scope, op.get("tags", [])))
    return found


def test_every_secured_operation_declares_a_scope_and_writes_need_write(
    scoped: ServerProcess,
) -> None:
    found = operations(scoped)
    assert len(found) >= 11
    for method, path, scope, tags in found:
        assert scope in RANK
        if method != "GET":
            assert scope != "read", (method, path)
        if "mcp-connections" in tags or path.endswith(("/tools", "/health")):
            assert scope != "read", (method, path)  # it connects to MCP servers


@pytest.mark.parametrize("have", RANK)
def test_each_key_reaches_exactly_the_routes_of_its_scope(scoped: ServerProcess, have: str) -> None:
    for method, path, needed, _ in operations(scoped):
        concrete = path.replace("{name}", "no-such-server").replace("{id}", "no-such-id")
        concrete = concrete.replace("{gateway_name}", "no_such_tool")
        body = {} if method in ("POST", "PUT", "PATCH") else None
        response = httpx.request(
            method,
            scoped.url + concrete,
            json=body,
            headers={"X-Session-API-Key": KEYS[have]},
            timeout=30,
        )
        allowed = RANK.index(have) >= RANK.index(needed)
        if allowed:
            assert response.status_code != 403, (method, path, response.text)
        else:
            assert response.status_code == 403, (method, path, response.text)
            assert repr(needed) in response.json()["detail"]


@pytest.mark.parametrize("mode", ["encrypted", "plaintext"])
def test_secrets_in_any_form_need_an_admin_key(scoped: ServerProcess, mode: str) -> None:
    write = {"X-Session-API-Key": KEYS["write"]}
    created = httpx.put(
        scoped.url + "/api/settings/mcp-servers/scoped-secret",
        json={"command": "x", "env": {"TOKEN": "canary-scope-3f"}},
        headers=write,
    )
    assert created.status_code in (200, 201)
    for path in ("/api/settings", "/api/settings/mcp-servers/scoped-secret"):
        for have in ("read", "write"):
            headers = {"X-Session-API-Key": KEYS[have], "X-Expose-Secrets": mode}
            refused = httpx.get(scoped.url + path, headers=headers)
            assert refused.status_code == 403
            assert "'admin'" in refused.json()["detail"]
            assert "canary-scope-3f" not in refused.text
        admin = {"X-Session-API-Key": KEYS["admin"], "X-Expose-Secrets": mode}
        assert httpx.get(scoped.url + path, headers=admin).status_code == 200


# --- clients find the key -----------------------------------------------------------------------


@pytest.fixture
def keyed(home: Path, start_server: Any) -> ServerProcess:
    server: ServerProcess = start_server(home)
    return server


def test_the_sdk_finds_the_key_in_the_home(
    keyed: ServerProcess, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENT_SERVER_API_KEY", raising=False)
    monkeypatch.delenv("AGENT_SERVER_HOME", raising=False)
    with SettingsClient(keyed.url, home=home) as client:
        assert client.mcp_servers.list().servers == []
    monkeypatch.setenv("AGENT_SERVER_HOME", str(home))
    localhost = keyed.url.replace("127.0.0.1", "localhost")
    with SettingsClient(localhost) as client:
        assert client.mcp_servers.list().servers == []
    monkeypatch.delenv("AGENT_SERVER_HOME")
    monkeypatch.setenv("AGENT_SERVER_API_KEY", "not-the-key")
    with SettingsClient(keyed.url, home=home) as client, pytest.raises(Unauthorized):
        client.mcp_servers.list()  # the environment wins over the file


def test_the_sdk_sends_a_key_file_only_to_a_loopback_address(
    keyed: ServerProcess, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENT_SERVER_API_KEY", raising=False)
    seen: list[str | None] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("x-session-api-key"))
        return httpx.Response(200, json={"servers": [], "etag": '"e"'}, headers={"ETag": '"e"'})

    remote = SettingsClient("http://agents.example:8000", home=home)
    remote._http._transport = httpx.MockTransport(record)  # a host this test cannot reach
    with remote:
        remote.mcp_servers.list()
    assert seen == [None]


def test_a_generated_key_never_starts_with_a_dash() -> None:
    # One urlsafe key in 64 starts with "-", which `--api-key KEY` would read as a flag; in 3,000
    # draws the old generator gives such a key with a probability of 1 - (63/64)**3000 > 0.999999.
    keys = {generate_session_key() for _ in range(3000)}
    assert len(keys) == 3000
    assert not [key for key in keys if key.startswith("-")]
    assert all(len(key) == 43 for key in keys)


def mcp_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent_server", "mcp", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_the_cli_finds_the_key_from_home_flag_env_or_explicit_key(
    keyed: ServerProcess, home: Path, tmp_path: Path
) -> None:
    key = (home / "session.key").read_text().strip()
    bare = cli_env(HOME=str(tmp_path / "nobody"))  # the default home holds no key
    listed = [
        mcp_cli("list", "--json", "--url", keyed.url, "--home", str(home), env=bare),
        mcp_cli("list", "--json", "--url", keyed.url, env={**bare, "AGENT_SERVER_HOME": str(home)}),
        mcp_cli("list", "--json", "--url", keyed.url, env={**bare, "AGENT_SERVER_API_KEY": key}),
        mcp_cli("list", "--json", "--url", keyed.url, "--api-key", key, env=bare),
    ]
    for result in listed:
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["servers"] == []
    default_home = tmp_path / "nobody" / ".agent_server"
    default_home.mkdir(parents=True)
    (default_home / "session.key").write_text(key + "\n")
    assert mcp_cli("list", "--url", keyed.url, env=bare).returncode == 0
    missing = mcp_cli("list", "--url", keyed.url, env=cli_env(HOME=str(tmp_path / "none")))
    assert missing.returncode == 11, missing.stderr
    assert key not in missing.stderr
    assert os.environ.get("AGENT_SERVER_API_KEY") != key
