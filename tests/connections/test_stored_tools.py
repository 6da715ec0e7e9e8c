"""A stored server's tools (cached per ETag), the tool catalog across enabled servers, and a
server's health, live against real MCP servers."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from connections_support import (
    BASE,
    ENV_SECRET,
    WRONG_TOKEN,
    Remote,
    assert_failed,
    assert_no_canary,
    assert_tools_ok,
    env_tool,
    http,
    listed,
    logged,
    put,
    secured,
    spawn,
    stdio,
    stop,
    tools_of,
    wait_listening,
)
from starlette.testclient import TestClient
from support import free_port

# --- GET /api/settings/mcp-servers/{name}/tools -------------------------------------------------


def test_stored_stdio_server_lists_its_tools_with_its_decrypted_env(
    client: TestClient,
    all_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    etag = put(client, "local", stdio("stdio_tools.py", MCP_TEST_SECRET=ENV_SECRET))

    response = client.get(f"{BASE}/local/tools")

    assert response.status_code == 200, response.text
    assert response.headers["etag"] == etag
    tools = assert_tools_ok(response.json())
    # The child got the plaintext, not the stored token nor the mask.
    assert set(tools) == {"add", env_tool(ENV_SECRET)}
    assert response.json()["server_info"] == {"name": "stdio-tools", "version": "1.2.3"}
    out, err = capfd.readouterr()
    assert_no_canary(response.text, logged(all_logs), out, err)


def test_stored_servers_tools_are_cached_per_etag(client: TestClient, remote: Remote) -> None:
    first_etag = put(client, "counted", http(remote.tools))

    first = tools_of(client, "counted")
    n = listed(assert_tools_ok(first))
    again = client.get(f"{BASE}/counted/tools")
    patched = client.patch(f"{BASE}/counted", json={"description": "changed"})
    after_change = tools_of(client, "counted")
    after_change_again = tools_of(client, "counted")
    refreshed = tools_of(client, "counted", "?refresh=1")

    assert again.status_code == 200 and again.headers["etag"] == first_etag
    assert again.json() == first  # from the cache: the server was not asked again
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] != first_etag
    assert listed(assert_tools_ok(after_change)) == n + 1  # a config change: a new connection
    assert after_change_again == after_change
    assert listed(assert_tools_ok(refreshed)) == n + 2  # refresh=1 bypasses the cache
    assert "echo" in assert_tools_ok(refreshed)


def test_cached_tools_outlive_the_server(client: TestClient, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "http.log"
    proc = spawn("http_tools.py", str(port), log=log)
    try:
        wait_listening(proc, port, log)
        put(client, "short-lived", http(f"http://127.0.0.1:{port}/mcp"))
        first = tools_of(client, "short-lived")
    finally:
        stop(proc)

    assert_tools_ok(first)
    assert tools_of(client, "short-lived") == first
    assert_failed(tools_of(client, "short-lived", "?refresh=1"), "connection")


def test_tools_of_a_disabled_server_are_409_and_of_a_missing_one_404(
    client: TestClient, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    put(client, "off", {**stdio("stdio_crash.py", str(marker)), "enabled": False})

    disabled = client.get(f"{BASE}/off/tools")
    missing = client.get(f"{BASE}/nobody/tools")

    assert disabled.status_code == 409, disabled.text
    assert missing.status_code == 404, missing.text
    assert not marker.exists()


# --- GET /api/mcp/tools -------------------------------------------------------------------------


def test_catalog_names_tools_by_server_and_reports_each_server(
    client: TestClient, remote: Remote, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    put(client, "alpha", http(remote.tools))
    put(client, "beta", secured(remote))
    put(client, "broken", {"command": "no-such-mcp-command-7f3e"})
    put(client, "refusing", secured(remote, token=WRONG_TOKEN))
    put(client, "off", {**stdio("stdio_crash.py", str(marker)), "enabled": False})
    put(client, "off-http", http(remote.tools, enabled=False))
    own = {name: assert_tools_ok(tools_of(client, name)) for name in ("alpha", "beta")}

    response = client.get("/api/mcp/tools")

    assert response.status_code == 200, response.text
    catalog = response.json()
    assert set(catalog) == {"tools", "servers"}
    servers = {server["name"]: server for server in catalog["servers"]}
    assert set(servers) == {"alpha", "beta", "broken", "refusing"}  # disabled ones left out
    assert not marker.exists()
    for name in ("alpha", "beta"):
        assert servers[name]["ok"] is True and servers[name]["error"] is None
        assert servers[name]["error_kind"] is None
        assert servers[name]["tool_count"] == len(own[name])
        assert servers[name]["latency_ms"] > 0
    for name, kind in (("broken", "connection"), ("refusing", "auth")):
        assert servers[name]["ok"] is False and servers[name]["tool_count"] == 0
        assert servers[name]["error_kind"] == kind and servers[name]["error"]
    tools = {tool["name"]: tool for tool in catalog["tools"]}
    assert set(tools) == {f"{server}.{tool}" for server in own for tool in own[server]}
    for server, server_tools in own.items():
        for name, tool in server_tools.items():
            assert tools[f"{server}.{name}"] == {
                "name": f"{server}.{name}",
                "gateway_name": f"{server}__{name}",
                "server": server,
                "tool": name,
                "description": tool["description"],
                "input_schema": tool["input_schema"],
                "changed": False,
            }
    assert_no_canary(response.text)


def test_catalog_queries_servers_concurrently_each_with_the_timeout(
    client: TestClient, remote: Remote
) -> None:
    put(client, "alpha", http(remote.tools))
    put(client, "hang-1", http(remote.hang))
    put(client, "hang-2", http(remote.hang))
    put(client, "hang-stdio", stdio("hang.py"))

    started = time.monotonic()
    response = client.get("/api/mcp/tools?timeout=2&refresh=1")
    elapsed = time.monotonic() - started

    assert response.status_code == 200, response.text
    assert 1.9 <= elapsed < 4.0, f"three servers hanging 2 s each took {elapsed:.1f} s"
    servers = {server["name"]: server for server in response.json()["servers"]}
    for name in ("hang-1", "hang-2", "hang-stdio"):
        assert servers[name]["ok"] is False and servers[name]["error_kind"] == "timeout"
    assert servers["alpha"]["ok"] is True
    names = {tool["name"] for tool in response.json()["tools"]}
    assert "alpha.echo" in names
    assert all(name.startswith("alpha.") for name in names)


def test_catalog_of_no_servers_is_empty(client: TestClient) -> None:
    response = client.get("/api/mcp/tools")

    assert response.status_code == 200, response.text
    assert response.json() == {"tools": [], "servers": []}


# --- GET /api/settings/mcp-servers/{name}/health ------------------------------------------------


def _checked_at(report: dict[str, Any], before: datetime, after: datetime) -> None:
    checked = datetime.fromisoformat(report["checked_at"])
    assert checked.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= checked <= after + timedelta(seconds=1)


def test_health_of_a_working_server(client: TestClient, remote: Remote) -> None:
    etag = put(client, "alpha", secured(remote))
    before = datetime.now(UTC)

    response = client.get(f"{BASE}/alpha/health")

    after = datetime.now(UTC)
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == etag
    report = response.json()
    assert set(report) == {"ok", "latency_ms", "checked_at", "error"}
    assert report["ok"] is True and report["error"] is None
    assert isinstance(report["latency_ms"], float | int) and report["latency_ms"] > 0
    _checked_at(report, before, after)


@pytest.mark.parametrize(
    "make_config",
    [
        lambda r: http(r.refused),
        lambda r: secured(r, token=WRONG_TOKEN),
        lambda r: {"command": "no-such-mcp-command-7f3e"},
    ],
    ids=["refused", "wrong-token", "missing-command"],
)
def test_health_of_a_broken_server(
    client: TestClient, remote: Remote, make_config: Callable[[Remote], dict[str, Any]]
) -> None:
    put(client, "broken", make_config(remote))
    before = datetime.now(UTC)

    response = client.get(f"{BASE}/broken/health?timeout=5")

    after = datetime.now(UTC)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["ok"] is False and report["latency_ms"] is None
    assert isinstance(report["error"], str) and report["error"]
    _checked_at(report, before, after)
    assert_no_canary(response.text)


def test_health_of_a_missing_server_is_404(client: TestClient) -> None:
    assert client.get(f"{BASE}/nobody/health").status_code == 404
