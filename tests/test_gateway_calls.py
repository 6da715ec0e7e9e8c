"""Gateway tools over plain HTTP: `POST /api/mcp/tools/{gateway_name}/call`, the sdk's
`client.mcp.call_tool(...)` and `agent-server mcp call SERVER TOOL --args JSON`, against a real
server process and real MCP servers behind it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from gateway_support import Remote, put, remote, serve, stdio
from support import ServerProcess, cli_env, run_cli

from sdk import MCPProbeFailed, MCPToolCallOk, NotFound, SettingsClient

__all__ = ["remote", "serve"]  # fixtures

CALL = "/api/mcp/tools/{}/call"


@pytest.fixture
def server(serve: Callable[..., ServerProcess], remote: Remote) -> ServerProcess:
    keys = "admin-key-2:admin,read-key-2:read"
    started = serve("--mcp-timeout", "5", env=cli_env(AGENT_SERVER_SESSION_API_KEYS=keys))
    put(started, "calc.v1", stdio("stdio_tools.py"))
    put(started, "rec", {"url": remote.recording, "transport": "http"})
    not_mcp = remote.recording.replace("/mcp", "/nothing")
    put(started, "broken", {"url": not_mcp, "transport": "http"})
    return started


def test_the_call_route_answers_as_the_server_did(server: ServerProcess) -> None:
    with server.client(timeout=60) as http:
        added = http.post(CALL.format("calc_v1__add"), json={"arguments": {"a": 2, "b": 3}})
        assert added.status_code == 200, added.text
        body = added.json()
        assert set(body) == {"ok", "content", "structured_content", "is_error", "latency_ms"}
        assert body["ok"] is True and body["is_error"] is False
        assert body["content"] == [{"type": "text", "text": "5"}]
        assert body["structured_content"] == {"result": 5}

        structured = http.post(CALL.format("rec__structured"), json={"arguments": {"n": 3}})
        assert structured.json()["structured_content"] == {"n": 3, "square": 9}
        failed = http.post(CALL.format("rec__fail"), json={}).json()
        assert failed["ok"] is True and failed["is_error"] is True
        assert failed["content"][0]["text"] == "this tool always fails"
        invalid = http.post(CALL.format("calc_v1__add"), json={"arguments": {"a": "x"}}).json()
        assert invalid["ok"] is True and invalid["is_error"] is True


def test_unknown_tools_unreachable_servers_and_bad_bodies(server: ServerProcess) -> None:
    with server.client(timeout=60) as http:
        unknown = http.post(CALL.format("calc_v1__nope"), json={})
        assert unknown.status_code == 404
        assert "gateway_name" in unknown.json()["detail"]
        assert http.post(CALL.format("not.a.gateway.name"), json={}).status_code == 404

        down = http.post(CALL.format("broken__echo"), json={})
        assert down.status_code == 200
        assert down.json()["ok"] is False
        assert set(down.json()) == {"ok", "error", "error_kind"}
        assert down.json()["error_kind"] in ("protocol", "connection")

        for bad in ({"arguments": []}, {"timeout": 601}, {"timeout": 0}, {"other": 1}):
            answer = http.post(CALL.format("calc_v1__add"), json=bad)
            assert answer.status_code == 422, bad

        read = http.post(
            CALL.format("calc_v1__add"), json={}, headers={"X-Session-API-Key": "read-key-2"}
        )
        assert read.status_code == 403


def test_the_sdk_calls_tools(server: ServerProcess) -> None:
    with SettingsClient(server.url, api_key="admin-key-2") as client:
        result = client.mcp.call_tool("calc_v1__add", {"a": 20, "b": 22}, timeout=30)
        assert isinstance(result, MCPToolCallOk)
        assert result.structured_content == {"result": 42}
        assert isinstance(client.mcp.call_tool("broken__echo"), MCPProbeFailed)
        with pytest.raises(NotFound):
            client.mcp.call_tool("calc_v1__nope")
        names = {tool.gateway_name for tool in client.mcp.tools().tools}
        assert "calc_v1__add" in names


def test_the_cli_calls_a_tool_by_server_and_tool(server: ServerProcess) -> None:
    put(server, "calc_v1", stdio("stdio_tools.py"))  # now calc.v1 and calc_v1 collide: hashed
    common = ("--url", server.url, "--api-key", "admin-key-2")
    done = run_cli("mcp", "call", "calc.v1", "add", "--args", '{"a": 1, "b": 2}', *common)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "3\n"
    as_json = run_cli("mcp", "call", "rec", "fail", "--json", *common)
    assert as_json.returncode == 4
    assert json.loads(as_json.stdout)["is_error"] is True
    bad = run_cli("mcp", "call", "calc.v1", "add", "--args", "[1]", *common)
    assert bad.returncode == 2 and "--args" in bad.stderr
    missing = run_cli("mcp", "call", "calc.v1", "nope", *common)
    assert missing.returncode == 13
