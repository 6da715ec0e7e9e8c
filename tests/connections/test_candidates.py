"""POST /api/mcp/test: a candidate config tested live, nothing saved; a masked value takes the
stored server's secret."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from connections_support import (
    BASE,
    ENV_SECRET,
    PYTHON,
    SERVERS,
    WRONG_KEY,
    WRONG_TOKEN,
    Remote,
    assert_failed,
    assert_no_canary,
    assert_tools_ok,
    env_tool,
    http,
    logged,
    probe,
    put,
    secured,
    stdio,
)
from processes import ON_PURPOSE, is_alive, live_descendants
from starlette.testclient import TestClient
from support import MASK, settings_bytes

# --- POST /api/mcp/test -------------------------------------------------------------------------


def test_candidate_stdio_server_lists_its_tools_with_its_env_and_nothing_is_saved(
    make_client: Callable[..., TestClient],
    home: Path,
    all_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    processes_before = set(live_descendants(os.getpid()))
    config = stdio("stdio_tools.py", MCP_TEST_SECRET=ENV_SECRET)
    # Entered, the client runs the app in one event loop for all requests, as a server does.
    with make_client() as client:
        files_before = sorted(p.name for p in home.iterdir())
        response = client.post("/api/mcp/test", json={"config": config})
        # The connection was closed before the answer: the child has already exited.
        left = live_descendants(os.getpid(), ON_PURPOSE | processes_before)

    assert not left, f"the stdio child outlived the probe: {left}"
    assert response.status_code == 200, response.text
    result = response.json()
    tools = assert_tools_ok(result)
    assert set(tools) == {"add", env_tool(ENV_SECRET)}  # the child got the env value
    assert tools["add"]["description"] == "Add two integers."
    schema = tools["add"]["input_schema"]
    assert schema["properties"] == {"a": {"type": "integer"}, "b": {"type": "integer"}}
    assert sorted(schema["required"]) == ["a", "b"]
    assert result["server_info"] == {"name": "stdio-tools", "version": "1.2.3"}
    assert not (home / "settings.json").exists()
    assert sorted(p.name for p in home.iterdir()) == files_before
    # The child printed its secret on stderr: it must not reach the logs or our output.
    out, err = capfd.readouterr()
    assert_no_canary(response.text, logged(all_logs), out, err)


def test_candidate_http_server_is_tested_without_changing_the_stored_settings(
    client: TestClient, home: Path, remote: Remote
) -> None:
    put(client, "kept", http(remote.refused, description="stored"))
    before = settings_bytes(home)
    stored = client.get(f"{BASE}/kept").json()

    result = probe(client, {"name": "kept", "config": http(remote.tools, description="edited")})

    tools = assert_tools_ok(result)
    assert "echo" in tools
    assert tools["echo"]["description"] == "Echo the text back."
    assert tools["echo"]["input_schema"]["properties"] == {"text": {"type": "string"}}
    assert result["server_info"] == {"name": "http-tools", "version": "0.9"}
    assert settings_bytes(home) == before
    assert client.get(f"{BASE}/kept").json() == stored


def test_candidate_timeout_may_be_120_seconds(client: TestClient, remote: Remote) -> None:
    assert_tools_ok(probe(client, {"config": http(remote.tools), "timeout": 120}))
    assert_tools_ok(probe(client, {"config": http(remote.tools), "timeout": 0.5}))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"config": "{}"}, "config"),
        ({}, "config"),
        ({"config": {}}, None),
        ({"config": {"command": ""}}, "command"),
        ({"config": {"command": PYTHON, "url": "http://127.0.0.1:1/mcp"}}, None),
        ({"config": {"url": "ftp://127.0.0.1/mcp"}}, "url"),
        ({"config": {"url": "http://127.0.0.1:1/mcp", "headers": {"A": 1}}}, "headers"),
        ({"config": {"command": PYTHON, "env": {"A": MASK}}}, "env"),  # a mask needs a name
        ({"config": {"url": "http://127.0.0.1:1/mcp"}, "timeout": 0}, "timeout"),
        ({"config": {"url": "http://127.0.0.1:1/mcp"}, "timeout": -1}, "timeout"),
        ({"config": {"url": "http://127.0.0.1:1/mcp"}, "timeout": 121}, "timeout"),
        ({"config": {"url": "http://127.0.0.1:1/mcp"}, "timeout": "soon"}, "timeout"),
        ({"config": {"url": "http://127.0.0.1:1/mcp"}, "name": "no spaces"}, "name"),
        ({"config": {"url": "http://127.0.0.1:1/mcp"}, "extra": 1}, "extra"),
    ],
)
def test_invalid_candidate_is_422(
    client: TestClient, body: dict[str, Any], field: str | None
) -> None:
    response = client.post("/api/mcp/test", json=body)

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    if field is not None:
        assert any(field in error["loc"] for error in detail), detail


def test_invalid_candidate_is_never_started(client: TestClient, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    config = stdio("stdio_crash.py", str(marker))

    invalid = client.post("/api/mcp/test", json={"config": {**config, "enabled": "yes"}})
    too_long = client.post("/api/mcp/test", json={"config": config, "timeout": 121})

    assert (invalid.status_code, too_long.status_code) == (422, 422)
    assert not marker.exists()
    # The same config, valid, is started: the marker proves what the 422s did not do.
    assert_failed(probe(client, {"config": config}), "connection")
    assert marker.exists()


@pytest.mark.parametrize(
    ("make_config", "kind"),
    [
        (lambda r: {"command": "no-such-mcp-command-7f3e"}, "connection"),
        (lambda r: {"command": str(SERVERS)}, "connection"),  # a folder: cannot be run
        (lambda r: stdio("stdio_crash.py"), "connection"),
        (lambda r: http(r.refused), "connection"),
        (lambda r: stdio("hang.py"), "timeout"),
        (lambda r: http(r.hang), "timeout"),
        (lambda r: secured(r, token=WRONG_TOKEN), "auth"),
        (lambda r: http(r.secured), "auth"),
        (lambda r: http(r.not_mcp), "protocol"),
        (lambda r: {"url": r.tools, "auth": "oauth"}, "auth"),
    ],
    ids=[
        "missing-command",
        "command-not-executable",
        "stdio-exits",
        "port-refused",
        "stdio-hangs",
        "http-hangs",
        "wrong-token",
        "no-token",
        "not-mcp",
        "oauth",
    ],
)
def test_failed_candidate_reports_its_error_kind(
    client: TestClient, remote: Remote, make_config: Callable[[Remote], dict[str, Any]], kind: str
) -> None:
    started = time.monotonic()
    result = probe(client, {"config": make_config(remote), "timeout": 1})
    elapsed = time.monotonic() - started

    assert_failed(result, kind)
    assert elapsed < 6, f"a probe with a 1 s timeout took {elapsed:.1f} s"
    if kind == "timeout":
        assert elapsed >= 0.9


def test_stdio_child_that_ignores_the_end_of_its_input_is_ended_with_its_children(
    client: TestClient, tmp_path: Path
) -> None:
    pid_file = tmp_path / "grandchild.pid"

    result = probe(client, {"config": stdio("hang.py", "--stubborn", str(pid_file)), "timeout": 1})

    assert_failed(result, "timeout")
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while is_alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = is_alive(grandchild)
    if alive:
        os.kill(grandchild, signal.SIGKILL)
    assert not alive, "the stdio child's own child outlived the probe"


# --- "**********" in a candidate takes the stored server's secrets -------------------------------


def test_masked_candidate_takes_the_stored_servers_secrets(
    client: TestClient, home: Path, remote: Remote
) -> None:
    put(client, "secured", secured(remote))
    redacted = client.get(f"{BASE}/secured").json()["config"]
    assert redacted["auth"] == MASK and redacted["headers"] == {"X-Api-Key": MASK}
    edited = {**redacted, "description": "edited, not saved"}
    before = settings_bytes(home)

    with_name = client.post("/api/mcp/test", json={"name": "secured", "config": edited})
    without_name = client.post("/api/mcp/test", json={"config": edited})
    unknown_name = client.post("/api/mcp/test", json={"name": "nobody", "config": edited})
    wrong_token = client.post(
        "/api/mcp/test",
        json={"name": "secured", "config": {**edited, "auth": WRONG_TOKEN}},
    )
    wrong_header = client.post(
        "/api/mcp/test",
        json={"name": "secured", "config": {**edited, "headers": {"X-Api-Key": WRONG_KEY}}},
    )

    assert with_name.status_code == 200, with_name.text
    tools = assert_tools_ok(with_name.json())
    assert "echo" in tools
    assert with_name.json()["server_info"]["name"] == "secured-tools"
    for refused in (without_name, unknown_name):
        assert refused.status_code == 422, refused.text
        locs = [error["loc"] for error in refused.json()["detail"]]
        assert ["config", "auth"] in locs and ["config", "headers", "X-Api-Key"] in locs
    # The stored secrets are really needed: the same candidate with a wrong one is refused.
    assert wrong_token.status_code == wrong_header.status_code == 200
    assert_failed(wrong_token.json(), "auth")
    assert_failed(wrong_header.json(), "auth")
    assert settings_bytes(home) == before
    for response in (with_name, without_name, unknown_name, wrong_token, wrong_header):
        assert_no_canary(response.text)
