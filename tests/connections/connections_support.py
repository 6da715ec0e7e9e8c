"""What the live-connection suites share: the canaries, the HTTP MCP servers they start, and
helpers that store, probe and check servers through the API."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from processes import ON_PURPOSE
from starlette.testclient import TestClient

SERVERS = Path(__file__).resolve().parent.parent / "mcp_servers"
PYTHON = sys.executable
BASE = "/api/settings/mcp-servers"

TOKEN = "canary-token-4b1e90"
API_KEY = "canary-apikey-8c2d17"
ENV_SECRET = "canary-env-6f0a55"
WRONG_TOKEN = "canary-wrong-token-19d7"
WRONG_KEY = "canary-wrong-key-2a5c"
CANARY = "canary-"

TOOLS_OK_KEYS = {"ok", "tools", "latency_ms", "server_info"}
FAILED_KEYS = {"ok", "error", "error_kind"}
TOOL_KEYS = {"name", "description", "input_schema", "tags", "enabled", "changed"}


@dataclass(frozen=True)
class Remote:
    tools: str  # an open streamable-HTTP server: tools echo and listed_<n>
    secured: str  # the same, but it needs `Bearer TOKEN` and `X-Api-Key: API_KEY`
    hang: str  # a TCP server that never answers
    not_mcp: str  # the open server at a path that is not MCP (404)
    refused: str  # a loopback port where nothing listens


def spawn(script: str, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [PYTHON, str(SERVERS / script), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ON_PURPOSE.add(proc.pid)
    return proc


def wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{proc.args} is not listening after 30 s:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    ON_PURPOSE.discard(proc.pid)


def stdio(script: str, *args: str, **env: str) -> dict[str, Any]:
    config: dict[str, Any] = {"command": PYTHON, "args": [str(SERVERS / script), *args]}
    if env:
        config["env"] = env
    return config


def http(url: str, **extra: Any) -> dict[str, Any]:
    return {"url": url, "transport": "http", **extra}


def secured(remote: Remote, token: str = TOKEN, key: str = API_KEY) -> dict[str, Any]:
    return http(remote.secured, auth=token, headers={"X-Api-Key": key})


def env_tool(value: str) -> str:
    """The name of the tool stdio_tools.py names after the hash of its MCP_TEST_SECRET."""
    return "env_" + hashlib.sha256(value.encode()).hexdigest()[:16]


def put(client: TestClient, name: str, config: dict[str, Any]) -> str:
    """Store a new server; its ETag."""
    response = client.put(f"{BASE}/{name}", json=config)
    assert response.status_code == 201, response.text
    return response.headers["etag"]


def probe(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/mcp/test", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def tools_of(client: TestClient, name: str, query: str = "") -> dict[str, Any]:
    response = client.get(f"{BASE}/{name}/tools{query}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_tools_ok(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Check the MCPToolsOk shape; the tools by name."""
    assert result["ok"] is True, result
    assert set(result) == TOOLS_OK_KEYS
    assert isinstance(result["latency_ms"], float | int) and result["latency_ms"] > 0
    for tool in result["tools"]:
        assert set(tool) == TOOL_KEYS
        assert isinstance(tool["input_schema"], dict)
    return {tool["name"]: tool for tool in result["tools"]}


def assert_failed(result: dict[str, Any], kind: str) -> str:
    """Check the MCPProbeFailed shape and kind; the error text."""
    assert result["ok"] is False, result
    assert set(result) == FAILED_KEYS
    assert result["error_kind"] == kind, result
    assert isinstance(result["error"], str) and result["error"]
    error: str = result["error"]
    return error


def listed(tools: dict[str, dict[str, Any]]) -> int:
    """The count in the `listed_<n>` tool of http_tools.py: tool lists that server has served."""
    (name,) = [n for n in tools if n.startswith("listed_")]
    return int(name.removeprefix("listed_"))


def assert_no_canary(*texts: str) -> None:
    for text in texts:
        assert CANARY not in text, f"a secret leaked: {text!r}"


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return caplog.text + "\n".join(r.getMessage() for r in caplog.records)
