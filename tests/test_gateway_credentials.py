"""Credentials given at use time: `"client"` header and auth slots, filled per request from the
caller's MCP-HEADERS (or the call route's bare token), on /mcp and on the REST routes, against a
real server process and header-recording MCP servers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from gateway_support import BASE, Remote, put, recorded, remote, serve
from support import ServerProcess, read_settings

__all__ = ["remote", "serve"]  # fixtures

TOKEN_A = "canary-client-token-a-41c2"
TOKEN_B = "canary-client-token-b-93d7"
TEAM = "canary-client-team-0e6f"
CALL = "/api/mcp/tools/{}/call"


@pytest.fixture
def server(serve: Callable[..., ServerProcess], remote: Remote) -> ServerProcess:
    started = serve()
    put(started, "rec", {"url": remote.recording, "transport": "http", "auth": "client"})
    put(
        started,
        "team",
        {"url": remote.second, "transport": "http", "headers": {"X-Team": "client"}},
    )
    return started


def mcp_headers(value: Any) -> dict[str, str]:
    return {"MCP-HEADERS": json.dumps(value)}


@asynccontextmanager
async def gateway(server: ServerProcess, given: Any = None) -> AsyncIterator[Client[Any]]:
    headers = {**server.headers, **(mcp_headers(given) if given is not None else {})}
    transport = StreamableHttpTransport(server.url + "/mcp", headers=headers)
    async with Client(transport, timeout=30) as client:
        yield client


async def whoami(server: ServerProcess, given: Any) -> str:
    async with gateway(server, given) as client:
        result = await client.call_tool_mcp("rec__whoami", {})
        assert not result.is_error, result
        return str(result.content[0].text)


def test_client_slots_are_stored_as_client_not_as_secrets(server: ServerProcess) -> None:
    stored = read_settings(server.home)["agent_settings"]["mcp_config"]["mcpServers"]
    assert stored["rec"]["auth"] == "client"
    assert stored["team"]["headers"] == {"X-Team": "client"}
    with server.client() as http:
        assert http.get(f"{BASE}/team").json()["config"]["headers"] == {"X-Team": "client"}


def test_each_caller_reaches_its_server_with_its_own_credential(
    server: ServerProcess, remote: Remote
) -> None:
    async def both() -> list[str]:
        return await asyncio.gather(
            whoami(server, {"rec": {"Authorization": f"Bearer {TOKEN_A}"}}),
            whoami(server, {remote.recording: {"Authorization": f"Bearer {TOKEN_B}"}}),
        )

    assert asyncio.run(both()) == [f"Bearer {TOKEN_A}", f"Bearer {TOKEN_B}"]

    async def team() -> None:
        async with gateway(server, {"team": {"X-Team": TEAM}}) as client:
            assert "team__echo" in {tool.name for tool in await client.list_tools()}
            await client.call_tool_mcp("team__echo", {"text": "hi"})

    asyncio.run(team())
    assert TEAM in recorded(remote.second_record)
    assert TEAM not in recorded(remote.record)
    for token in (TOKEN_A, TOKEN_B):
        assert token not in recorded(remote.second_record)
    assert "canary-client" not in server.log()


def test_a_missing_credential_leaves_the_server_out_and_says_what_to_send(
    server: ServerProcess,
) -> None:
    async def check() -> None:
        async with gateway(server, {"team": {"X-Team": TEAM}}) as client:
            names = {tool.name for tool in await client.list_tools()}
            assert "team__echo" in names
            assert not any(name.startswith("rec__") for name in names)
            result = await client.call_tool_mcp("rec__whoami", {})
            assert result.is_error
            assert "MCP-HEADERS" in result.content[0].text
            assert "Authorization" in result.content[0].text

    asyncio.run(check())
    with server.client(timeout=60) as http:
        called = http.post(CALL.format("rec__whoami"), json={}).json()
        assert called["ok"] is False and called["error_kind"] == "auth"
        assert "Authorization" in called["error"]
        tools = http.get(f"{BASE}/team/tools").json()
        assert tools["ok"] is False and tools["error_kind"] == "auth"
        assert "X-Team" in tools["error"]
        catalog = http.get("/api/mcp/tools").json()
        kinds = {s["name"]: s["error_kind"] for s in catalog["servers"]}
        assert kinds == {"rec": "auth", "team": "auth"}


def test_the_call_route_takes_a_bare_token_and_the_header(server: ServerProcess) -> None:
    with server.client(timeout=60) as http:
        bare = http.post(CALL.format("rec__whoami"), json={"authorization": TOKEN_A}).json()
        assert bare["content"] == [{"type": "text", "text": f"Bearer {TOKEN_A}"}]
        given = mcp_headers({"rec": {"Authorization": f"Bearer {TOKEN_B}"}})
        header = http.post(CALL.format("rec__whoami"), json={}, headers=given).json()
        assert header["content"] == [{"type": "text", "text": f"Bearer {TOKEN_B}"}]
        tools = http.get(f"{BASE}/team/tools", headers=mcp_headers({"team": {"X-Team": TEAM}}))
        assert tools.json()["ok"] is True
    assert "canary-client" not in server.log()


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"team": {"Authorization": f"Bearer {TOKEN_A}"}}, "'Authorization'"),
        ({"rec": {"X-Other": TOKEN_A}}, "'X-Other'"),
        ("not an object", "MCP-HEADERS"),
        ({"rec": {"Authorization": 3}}, "MCP-HEADERS"),
    ],
)
def test_refused_mcp_headers_are_400_naming_the_header(
    server: ServerProcess, given: Any, named: str
) -> None:
    value = given if isinstance(given, str) else json.dumps(given)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    accept = {"Accept": "application/json, text/event-stream", "MCP-HEADERS": value}
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as http:
        for answer in (
            http.post("/mcp", json=body, headers=accept),
            http.post(CALL.format("rec__whoami"), json={}, headers={"MCP-HEADERS": value}),
            http.get("/api/mcp/tools", headers={"MCP-HEADERS": value}),
        ):
            assert answer.status_code == 400, answer.text
            assert named in answer.json()["detail"]
            assert TOKEN_A not in answer.text


def test_mcp_headers_keyed_by_url_are_checked_against_that_server(
    server: ServerProcess, remote: Remote
) -> None:
    query = "key=canary-url-query-5a1f"
    config = {
        "url": f"{remote.second}?{query}",
        "transport": "http",
        "headers": {"X-Team": "client"},
    }
    put(server, "keyed", config)
    with server.client(timeout=60) as http:
        # The whole URL names this server alone; the URL before `?` is also team's.
        for key, named in (
            (f"{remote.second}?{query}", ("'keyed'",)),
            (remote.second, ("'keyed'", "'team'")),
        ):
            refused = http.get(
                "/api/mcp/tools", headers=mcp_headers({key: {"Authorization": TOKEN_A}})
            )
            assert refused.status_code == 400, refused.text
            assert any(name in refused.json()["detail"] for name in named), refused.text
            assert TOKEN_A not in refused.text and "canary-url-query" not in refused.text
        given = mcp_headers({f"{remote.second}?{query}": {"X-Team": TEAM}})
        tools = http.get(f"{BASE}/keyed/tools", headers=given).json()
        assert tools["ok"] is True, tools
    assert TEAM in recorded(remote.second_record)
