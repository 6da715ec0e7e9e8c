"""The MCP gateway (/mcp) through real processes: an `agent_server serve` process, fastmcp's
Client against its /mcp, and real MCP servers behind it (tests/mcp_servers): stdio children the
gateway starts itself, streamable-HTTP servers on loopback ports (one records every header it
gets), and servers that never answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from gateway_support import (
    BASE,
    BEARER,
    NAME_RULE,
    Remote,
    ToolListChanges,
    children_running,
    env_tool,
    put,
    remote,
    serve,
    stdio,
    wait_for,
)
from mcp.client.subscriptions import listen
from mcp.shared.subscriptions import ToolsListChanged
from processes import is_alive
from support import ServerProcess, cli_env

from agent_server.cli import SHUTDOWN_GRACE_SECONDS
from agent_server.gateway.endpoint import LISTEN_STREAMS

__all__ = ["remote", "serve"]  # fixtures

SESSION_CANARY = "canary-session-key-5e1d"
CALLER_CANARY = "canary-caller-header-77b0"
STORED_CANARY = "canary-stored-header-3f9a"


@asynccontextmanager
async def gateway(
    server: ServerProcess, headers: dict[str, str] | None = None, **options: Any
) -> AsyncIterator[Client[Any]]:
    """A fastmcp Client connected to the server's /mcp with its session key."""
    transport = StreamableHttpTransport(
        server.url + "/mcp", headers={**server.headers, **(headers or {})}
    )
    async with Client(transport, timeout=30, **options) as client:
        yield client


async def tool_names(server: ServerProcess) -> set[str]:
    async with gateway(server) as client:
        return {tool.name for tool in await client.list_tools()}


# --- tools/list and tools/call -------------------------------------------------------------------


def test_every_enabled_server_is_served_under_gateway_names(
    serve: Callable[..., ServerProcess], remote: Remote, tmp_path: Path
) -> None:
    managed = tmp_path / "managed.json"
    managed.write_text(json.dumps({"mcpServers": {"admin:tools": stdio("stdio_tools.py")}}))
    server = serve("--managed-config", str(managed))
    put(server, "calc.v1@home", stdio("stdio_tools.py"))
    put(server, "web", {"url": remote.tools, "transport": "http"})
    put(server, "off", {**stdio("stdio_tools.py"), "enabled": False})

    async def check() -> None:
        async with gateway(server) as client:
            tools = {tool.name: tool for tool in await client.list_tools()}
            assert {"calc_v1_home__add", "admin_tools__add", "web__echo"} <= set(tools)
            assert not any(name.startswith("off__") for name in tools)
            assert all(NAME_RULE.match(name) for name in tools)
            assert tools["calc_v1_home__add"].description == "Add two integers."
            assert set(tools["calc_v1_home__add"].input_schema["properties"]) == {"a", "b"}
            added = await client.call_tool_mcp("calc_v1_home__add", {"a": 2, "b": 5})
            assert not added.is_error
            assert added.structured_content == {"result": 7}
            assert [c.text for c in added.content] == ["7"]
            echoed = await client.call_tool_mcp("web__echo", {"text": "hi"})
            assert [c.text for c in echoed.content] == ["hi"]
            managed_sum = await client.call_tool_mcp("admin_tools__add", {"a": 1, "b": 1})
            assert managed_sum.structured_content == {"result": 2}

    asyncio.run(check())


def test_results_pass_through_as_the_server_gave_them(
    serve: Callable[..., ServerProcess], remote: Remote
) -> None:
    server = serve()
    put(server, "rec", {"url": remote.recording, "transport": "http"})
    put(server, "calc", stdio("stdio_tools.py"))

    async def check() -> None:
        async with Client(StreamableHttpTransport(remote.recording)) as direct:
            expected = await direct.call_tool_mcp("structured", {"n": 4})
        async with gateway(server) as client:
            got = await client.call_tool_mcp("rec__structured", {"n": 4})
            assert got.structured_content == expected.structured_content == {"n": 4, "square": 16}
            assert got.content == expected.content
            failed = await client.call_tool_mcp("rec__fail", {})
            assert failed.is_error
            assert [c.text for c in failed.content] == ["this tool always fails"]
            # Invalid arguments are the server's own answer, an error result.
            invalid = await client.call_tool_mcp("calc__add", {"a": "x"})
            assert invalid.is_error

    asyncio.run(check())


def test_colliding_and_long_names_get_stable_hash_suffixes(
    serve: Callable[..., ServerProcess],
) -> None:
    server = serve()
    long_name = "l" * 70
    for name in ("a.b", "a_b", "a:b", long_name):
        put(server, name, stdio("stdio_tools.py"))

    async def check() -> set[str]:
        async with gateway(server) as client:
            tools = await client.list_tools()
            names = [tool.name for tool in tools]
            assert len(names) == len(set(names)) == 8  # two tools of each of four servers
            assert all(NAME_RULE.match(name) for name in names)
            # The three servers' "add" would all be a_b__add: none of them takes it.
            assert "a_b__add" not in names
            adds = [tool.name for tool in tools if tool.description == "Add two integers."]
            assert len(adds) == 4
            assert sum(name.startswith("a_b__add_") for name in adds) == 3
            assert any(len(name) == 64 and name.startswith("l" * 50) for name in adds)
            for name in adds:
                result = await client.call_tool_mcp(name, {"a": 1, "b": 2})
                assert result.structured_content == {"result": 3}, name
            return set(names)

    first = asyncio.run(check())
    assert asyncio.run(check()) == first  # stable


def test_a_failing_server_drops_out_with_a_logged_reason(
    serve: Callable[..., ServerProcess], remote: Remote
) -> None:
    server = serve("--mcp-timeout", "3")
    put(server, "web", {"url": remote.tools, "transport": "http"})
    put(server, "hangs", stdio("hang.py"))
    put(server, "crashes", stdio("stdio_crash.py", MCP_TEST_SECRET="canary-crash-91aa"))

    names = asyncio.run(tool_names(server))
    assert "web__echo" in names
    assert not any(n.startswith(("hangs__", "crashes__")) for n in names)
    log = server.log()
    assert "MCP server 'hangs' left out of the gateway" in log
    assert "MCP server 'crashes' left out of the gateway" in log
    assert "canary-" not in log


def test_a_stored_bearer_token_is_sent_and_a_wrong_one_leaves_the_server_out(
    serve: Callable[..., ServerProcess], remote: Remote
) -> None:
    server = serve()
    put(server, "good", {"url": remote.secured, "transport": "http", "auth": BEARER})
    put(server, "bad", {"url": remote.secured, "transport": "http", "auth": "canary-wrong-77"})

    async def check() -> None:
        async with gateway(server) as client:
            names = {tool.name for tool in await client.list_tools()}
            assert "good__echo" in names
            assert not any(name.startswith("bad__") for name in names)
            echoed = await client.call_tool_mcp("good__echo", {"text": "through"})
            assert [c.text for c in echoed.content] == ["through"]
            refused = await client.call_tool_mcp("bad__echo", {"text": "x"})
            assert refused.is_error and "(auth)" in refused.content[0].text

    asyncio.run(check())
    log = server.log()
    assert "MCP server 'bad' left out of the gateway" in log
    assert "canary-" not in log


# --- what goes upstream -------------------------------------------------------------------------


def test_neither_the_session_key_nor_the_callers_headers_go_upstream(
    serve: Callable[..., ServerProcess], remote: Remote
) -> None:
    server = serve(env=cli_env(AGENT_SERVER_SESSION_API_KEYS=SESSION_CANARY))
    put(
        server,
        "rec",
        {"url": remote.recording, "transport": "http", "headers": {"X-Stored": STORED_CANARY}},
    )
    before = len(remote.record.read_text().splitlines()) if remote.record.exists() else 0

    async def call() -> None:
        caller = {"X-Caller-Secret": CALLER_CANARY, "Authorization": f"Bearer {CALLER_CANARY}"}
        async with gateway(server, headers=caller) as client:
            await client.list_tools()
            result = await client.call_tool_mcp("rec__whoami", {})
            assert [c.text for c in result.content] == [""]

    asyncio.run(call())
    sent = remote.record.read_text().splitlines()[before:]
    assert sent, "the recording server got nothing"
    assert all(json.loads(line).get("x-stored") == STORED_CANARY for line in sent)
    upstream = "\n".join(sent)
    assert SESSION_CANARY not in upstream
    assert CALLER_CANARY not in upstream


# --- access -------------------------------------------------------------------------------------


def test_mcp_needs_a_write_key_and_passes_the_guard(serve: Callable[..., ServerProcess]) -> None:
    keys = "admin-key-1:admin,read-key-1:read,write-key-1:write"
    server = serve(env=cli_env(AGENT_SERVER_SESSION_API_KEYS=keys))
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    accept = {"Accept": "application/json, text/event-stream"}
    with httpx.Client(base_url=server.url) as http:
        assert http.post("/mcp", json=body, headers=accept).status_code == 401
        read = http.post("/mcp", json=body, headers={**accept, "X-Session-API-Key": "read-key-1"})
        assert read.status_code == 403
        assert "write" in read.json()["detail"]
        keyed = {**accept, "X-Session-API-Key": "write-key-1"}
        host = http.post("/mcp", json=body, headers={**keyed, "Host": "evil.example"})
        assert host.status_code == 421
        origin = http.post("/mcp", json=body, headers={**keyed, "Origin": "http://evil.example"})
        assert origin.status_code == 403
        text = http.post("/mcp", content="{}", headers={**keyed, "Content-Type": "text/plain"})
        assert text.status_code == 415

    async def works() -> None:
        transport = StreamableHttpTransport(
            server.url + "/mcp", headers={"X-Session-API-Key": "write-key-1"}
        )
        async with Client(transport) as client:
            assert await client.list_tools() == []

    asyncio.run(works())


# --- the connection pool ------------------------------------------------------------------------


def test_sessions_share_one_child_restarted_when_it_dies(
    serve: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = serve()
    starts = tmp_path / "starts"
    put(server, "calc", stdio("stdio_tools.py", MCP_TEST_STARTS=str(starts)))

    async def check() -> None:
        async with gateway(server) as one, gateway(server) as two:
            sums = await asyncio.gather(
                *(
                    c.call_tool_mcp("calc__add", {"a": i, "b": 1})
                    for i in range(10)
                    for c in (one, two)
                )
            )
            assert sorted(r.structured_content["result"] for r in sums) == sorted(
                [i + 1 for i in range(10)] * 2
            )
            children = children_running(server.proc.pid, "stdio_tools.py")
            assert len(children) == 1, children
            # The live checks use the open connection rather than starting another child.
            with server.client(timeout=60) as http:
                listed = http.get(f"{BASE}/calc/tools", params={"refresh": "1"}).json()
                assert "add" in {tool["name"] for tool in listed.get("tools", [])}, listed
                health = http.get(f"{BASE}/calc/health").json()
                assert health["ok"] is True, health
                catalog = http.get("/api/mcp/tools", params={"refresh": "1"}).json()
                assert "calc__add" in {tool["gateway_name"] for tool in catalog["tools"]}
            assert len(starts.read_text().splitlines()) == 1, server.log()[-3000:]
            os.kill(children[0], signal.SIGKILL)
            wait_for(lambda: not is_alive(children[0]))
            again = await one.call_tool_mcp("calc__add", {"a": 20, "b": 22})
            assert again.structured_content == {"result": 42}, (again, server.log()[-3000:])
            restarted = children_running(server.proc.pid, "stdio_tools.py")
            assert len(restarted) == 1 and restarted != children
            assert len(starts.read_text().splitlines()) == 2, server.log()[-3000:]

    asyncio.run(check())


def test_a_changed_server_replaces_its_child_and_notifies_sessions(
    serve: Callable[..., ServerProcess],
) -> None:
    server = serve()
    put(server, "calc", stdio("stdio_tools.py", MCP_TEST_SECRET="canary-first-0a0a"))
    changes = ToolListChanges()

    async def check() -> None:
        async with gateway(server, mode="legacy", message_handler=changes) as client:
            await client.call_tool_mcp("calc__add", {"a": 1, "b": 1})
            first = children_running(server.proc.pid, "stdio_tools.py")
            assert len(first) == 1
            with server.client() as http:
                patched = http.patch(
                    f"{BASE}/calc", json={"env": {"MCP_TEST_SECRET": "canary-second-1b1b"}}
                )
                assert patched.status_code == 200, patched.text
            await asyncio.to_thread(wait_for, lambda: changes.count > 0)
            await asyncio.to_thread(
                wait_for, lambda: not children_running(server.proc.pid, "stdio_tools.py")
            )
            names = {tool.name for tool in await client.list_tools()}
            assert f"calc__{env_tool('canary-second-1b1b')}" in names
            assert f"calc__{env_tool('canary-first-0a0a')}" not in names
            second = children_running(server.proc.pid, "stdio_tools.py")
            assert len(second) == 1 and second != first

    asyncio.run(check())


def test_a_session_is_notified_of_a_change_made_right_after_it_listed_the_tools(
    serve: Callable[..., ServerProcess], remote: Remote
) -> None:
    """The first session of a fresh server only lists its tools, and a server is added at once:
    the session is told (it was not when sessions were remembered by their requests' objects)."""
    server = serve()
    put(server, "web", {"url": remote.tools, "transport": "http"})
    changes = ToolListChanges()

    async def check() -> None:
        async with gateway(server, mode="legacy", message_handler=changes) as client:
            assert "web__echo" in {tool.name for tool in await client.list_tools()}
            put(server, "more", {"url": remote.tools, "transport": "http"})
            await asyncio.to_thread(wait_for, lambda: changes.count > 0)
            assert "more__echo" in {tool.name for tool in await client.list_tools()}

    asyncio.run(check())


def test_a_2026_session_that_listens_hears_of_a_changed_tool_set(
    serve: Callable[..., ServerProcess], remote: Remote
) -> None:
    """At the 2026-07-28 protocol a change reaches a client through the
    `subscriptions/listen` stream it opened, and the discover result says so."""
    server = serve()
    put(server, "web", {"url": remote.tools, "transport": "http"})

    async def check() -> None:
        async with gateway(server) as client:
            assert client.session.protocol_version == "2026-07-28"
            capabilities = client.session.server_capabilities
            assert capabilities is not None and capabilities.tools is not None
            assert capabilities.tools.list_changed is True
            async with listen(client.session, tools_list_changed=True) as subscription:
                assert subscription.honored.tools_list_changed
                put(server, "more", {"url": remote.tools, "transport": "http"})
                async with asyncio.timeout(15):
                    event = await anext(subscription)
            assert isinstance(event, ToolsListChanged)
            assert "more__echo" in {tool.name for tool in await client.list_tools()}

    asyncio.run(check())


def test_listen_streams_are_bounded(serve: Callable[..., ServerProcess]) -> None:
    """One stream past LISTEN_STREAMS is refused at once, with an error, not held open."""
    server = serve()
    envelope = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "tests", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    headers = {
        **server.headers,
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "subscriptions/listen",
    }

    def request(request_id: int) -> dict[str, Any]:
        params = {"notifications": {"toolsListChanged": True}, "_meta": envelope}
        return {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "subscriptions/listen",
            "params": params,
        }

    async def check() -> None:
        limits = httpx.Limits(max_connections=LISTEN_STREAMS + 10)
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as http,
            AsyncExitStack() as streams,
        ):

            async def acknowledged(request_id: int) -> None:
                answer = await streams.enter_async_context(
                    http.stream("POST", "/mcp", json=request(request_id), headers=headers)
                )
                lines = answer.aiter_lines()
                streams.push_async_callback(lines.aclose)  # held open until the end
                async for line in lines:
                    if line.startswith("data:"):
                        assert "notifications/subscriptions/acknowledged" in line, line
                        return

            await asyncio.gather(*(acknowledged(i) for i in range(LISTEN_STREAMS)))
            refused = await http.post(
                "/mcp", json=request(LISTEN_STREAMS), headers=headers, timeout=10
            )
            assert refused.json()["error"]["message"] == "Subscription limit reached"

    asyncio.run(check())


def test_an_open_listen_stream_does_not_keep_the_server_from_stopping(
    serve: Callable[..., ServerProcess], remote: Remote
) -> None:
    server = serve()
    put(server, "web", {"url": remote.tools, "transport": "http"})
    stopped: list[float] = []

    async def check() -> None:
        async with gateway(server) as client, listen(client.session, tools_list_changed=True):
            began = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(server.proc.wait, 30)
            finally:
                stopped.append(time.monotonic() - began)

    with suppress(Exception):  # the client sees its server go
        asyncio.run(check())
    assert stopped and server.proc.poll() is not None, "the server is still running"
    assert stopped[0] < SHUTDOWN_GRACE_SECONDS + 5
    assert "timeout graceful shutdown exceeded" in server.log()


def test_idle_children_stop_and_none_outlives_the_server(
    serve: Callable[..., ServerProcess],
) -> None:
    server = serve("--mcp-idle-seconds", "1")
    put(server, "calc", stdio("stdio_tools.py"))
    asyncio.run(tool_names(server))
    wait_for(lambda: not children_running(server.proc.pid, "stdio_tools.py"))
    assert "idle for 1 s" in server.log()

    asyncio.run(tool_names(server))
    children = children_running(server.proc.pid, "stdio_tools.py")
    assert len(children) == 1
    server.stop()
    assert not is_alive(children[0])
