"""The gateway's own answers to tools/call and tools/list (agent_server.gateway.direct), through
real processes: at the 2026 protocol the gateway answers them itself, and everything else goes to
fastmcp's server side. A handshake-era session (fastmcp's Client with `mode="legacy"`) always
takes fastmcp's way, so it is the reference the direct answers are held to.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from gateway_support import (
    BASE,
    PYTHON,
    SERVERS,
    Remote,
    listening,
    put,
    remote,
    serve,
    stdio,
    wait_for,
)
from support import ServerProcess, cli_env, free_port

__all__ = ["remote", "serve"]  # fixtures

SESSION_CANARY = "canary-session-key-direct-4c2e"
CALLER_CANARY = "canary-caller-direct-9d41"
STORED_CANARY = "canary-stored-direct-17ab"
VERSION = "2026-07-28"


@asynccontextmanager
async def gateway(server: ServerProcess, **options: Any) -> AsyncIterator[Client[Any]]:
    transport = StreamableHttpTransport(server.url + "/mcp", headers=server.headers)
    async with Client(transport, timeout=30, **options) as client:
        yield client


def answer(result: Any) -> tuple[Any, ...]:
    """What a caller reads of a tool's result."""
    content = [item.model_dump(exclude_none=True) for item in result.content]
    return content, result.structured_content, result.is_error


def test_calls_answer_as_the_server_gave_them(
    serve: Callable[..., ServerProcess], remote: Remote
) -> None:
    server = serve()
    put(server, "rec", {"url": remote.recording, "transport": "http"})
    put(server, "calc", stdio("stdio_tools.py"))
    calls = [
        ("structured", {"n": 4}),
        ("fail", {}),
        ("chatty", {"text": "through an event stream"}),
        ("echo", {}),  # invalid arguments: the server's own error result
        ("echo", {"text": "plain"}),
    ]
    stdio_calls = [("add", {"a": 2, "b": 40}), ("add", {"a": "two"})]

    async def check() -> None:
        async with (
            Client(StreamableHttpTransport(remote.recording)) as upstream,
            gateway(server) as direct,
            gateway(server, mode="legacy") as reference,
        ):
            for tool, arguments in calls:
                expected = answer(await upstream.call_tool_mcp(tool, arguments))
                got = answer(await direct.call_tool_mcp(f"rec__{tool}", arguments))
                assert got == expected, (tool, got, expected)
                legacy = answer(await reference.call_tool_mcp(f"rec__{tool}", arguments))
                assert legacy == expected, (tool, legacy, expected)
            for tool, arguments in stdio_calls:
                got = answer(await direct.call_tool_mcp(f"calc__{tool}", arguments))
                legacy = answer(await reference.call_tool_mcp(f"calc__{tool}", arguments))
                assert got == legacy, (tool, got, legacy)
            assert answer(await direct.call_tool_mcp("calc__add", {"a": 2, "b": 40}))[1] == {
                "result": 42
            }
            assert answer(await direct.call_tool_mcp("calc__add", {"a": "two"}))[2] is True

    asyncio.run(check())


def test_only_the_servers_own_headers_go_upstream_on_a_direct_call(
    serve: Callable[..., ServerProcess], remote: Remote
) -> None:
    server = serve(env=cli_env(AGENT_SERVER_SESSION_API_KEYS=SESSION_CANARY))
    stored = {"X-Stored": STORED_CANARY}
    put(server, "rec", {"url": remote.recording, "transport": "http", "headers": stored})
    before = len(remote.record.read_text().splitlines()) if remote.record.exists() else 0
    caller = {"X-Caller-Secret": CALLER_CANARY, "Authorization": f"Bearer {CALLER_CANARY}"}

    async def call() -> None:
        transport = StreamableHttpTransport(
            server.url + "/mcp", headers={**server.headers, **caller}
        )
        async with Client(transport, timeout=30) as client:
            for _ in range(3):  # the second and third go over a kept-alive connection
                result = await client.call_tool_mcp("rec__whoami", {})
                assert [c.text for c in result.content] == [""]

    asyncio.run(call())
    sent = [json.loads(line) for line in remote.record.read_text().splitlines()[before:]]
    calls = [headers for headers in sent if headers.get("mcp-method") == "tools/call"]
    assert len(calls) == 3, sent
    assert all(headers.get("x-stored") == STORED_CANARY for headers in sent)
    assert all(headers.get("mcp-name") == "whoami" for headers in calls)
    upstream = json.dumps(sent)
    assert SESSION_CANARY not in upstream
    assert CALLER_CANARY not in upstream
    assert "canary-" not in server.log()


def test_the_kept_tool_list_follows_settings_and_connections(
    serve: Callable[..., ServerProcess], remote: Remote
) -> None:
    server = serve()
    put(server, "web", {"url": remote.tools, "transport": "http"})
    put(server, "calc", stdio("stdio_tools.py"))

    async def names(**options: Any) -> set[str]:
        async with gateway(server, **options) as client:
            return {tool.name for tool in await client.list_tools()}

    async def both() -> set[str]:
        direct, reference = await names(), await names(mode="legacy")
        assert direct == reference
        return direct

    def patch(name: str, change: dict[str, Any]) -> None:
        with server.client() as http:
            assert http.patch(f"{BASE}/{name}", json=change).status_code == 200

    first = asyncio.run(both())
    assert {"web__echo", "calc__add"} <= first
    listed = {name for name in first if name.startswith("web__listed_")}
    assert len(listed) == 1  # http_tools.py names its tool lists: one list per connection
    assert asyncio.run(names()) == first

    patch("calc", {"tools": {"add": {"enabled": False}}})
    assert "calc__add" not in asyncio.run(both())
    patch("web", {"enabled": False})
    assert not any(name.startswith("web__") for name in asyncio.run(both()))
    patch("web", {"enabled": True})
    again = asyncio.run(both())
    assert "web__echo" in again
    assert {name for name in again if name.startswith("web__listed_")} != listed  # listed anew


def test_other_requests_get_fastmcps_answers(serve: Callable[..., ServerProcess]) -> None:
    server = serve()
    put(server, "calc", stdio("stdio_tools.py"))
    meta = {
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
    }

    def post(body: Any, method: str, name: str | None = None, **extra: str) -> httpx.Response:
        headers = {
            **server.headers,
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            "MCP-Protocol-Version": VERSION,
            "Mcp-Method": method,
            **({"Mcp-Name": name} if name else {}),
            **extra,
        }
        with httpx.Client(base_url=server.url, timeout=60) as http:
            return http.post("/mcp", content=json.dumps(body), headers=headers)

    def call(name: str, arguments: Any, **params: Any) -> dict[str, Any]:
        return {
            "jsonrpc": "2.0",
            "id": 5,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments, "_meta": meta, **params},
        }

    answered = post(call("calc__add", {"a": 1, "b": 2}), "tools/call", "calc__add")
    assert answered.status_code == 200, answered.text
    assert answered.json()["result"]["structuredContent"] == {"result": 3}
    assert answered.json()["id"] == 5

    mismatched = post(call("calc__add", {"a": 1, "b": 2}), "tools/call", "calc__other")
    assert mismatched.status_code == 400 and "error" in mismatched.json()
    unknown = post(call("calc__nope", {}), "tools/call", "calc__nope")
    assert unknown.status_code == 200
    assert unknown.json()["result"]["isError"] is True
    assert "calc__nope" in unknown.json()["result"]["content"][0]["text"]
    no_meta = post({**call("calc__add", {}), "params": {"name": "calc__add"}}, "tools/call")
    assert no_meta.status_code == 400 and "error" in no_meta.json()
    batch = post([call("calc__add", {"a": 1, "b": 1})], "tools/call", "calc__add")
    assert batch.status_code == 400 and "error" in batch.json()
    bad_arguments = post(call("calc__add", [1, 2]), "tools/call", "calc__add")
    assert bad_arguments.status_code == 400 and "error" in bad_arguments.json()
    listed = post(
        {"jsonrpc": "2.0", "id": "x", "method": "tools/list", "params": {"_meta": meta}},
        "tools/list",
    )
    assert listed.status_code == 200 and listed.json()["id"] == "x"
    assert "calc__add" in {tool["name"] for tool in listed.json()["result"]["tools"]}


def test_an_http_server_that_restarts_between_calls_is_reached_again(
    serve: Callable[..., ServerProcess],
) -> None:
    port = free_port()
    command = [PYTHON, str(SERVERS / "http_tools.py"), str(port)]

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: listening(port), within=30)
        return proc

    upstream = start()
    server = serve()
    put(server, "web", {"url": f"http://127.0.0.1:{port}/mcp", "transport": "http"})

    async def echo(client: Client[Any], text: str) -> list[str]:
        result = await client.call_tool_mcp("web__echo", {"text": text})
        return [c.text for c in result.content]

    async def check() -> None:
        nonlocal upstream
        async with gateway(server) as client:
            assert await echo(client, "before") == ["before"]
            upstream.kill()
            upstream.wait()
            upstream = start()  # its kept-alive connection is gone: a new one is opened
            assert await echo(client, "after") == ["after"]

    try:
        asyncio.run(check())
    finally:
        upstream.kill()
        upstream.wait()


def test_a_server_that_redirects_is_called_the_way_fastmcp_follows(
    serve: Callable[..., ServerProcess], remote: Remote
) -> None:
    server = serve()
    # Starlette answers /mcp/ with a redirect to /mcp: fastmcp's transport follows it within
    # the origin, so the gateway's plain exchange hands such a server back to it.
    put(server, "slash", {"url": remote.tools + "/", "transport": "http"})

    async def check() -> None:
        async with gateway(server) as client:
            for text in ("first", "second"):
                result = await client.call_tool_mcp("slash__echo", {"text": text})
                assert not result.is_error, result
                assert [c.text for c in result.content] == [text]

    asyncio.run(check())
