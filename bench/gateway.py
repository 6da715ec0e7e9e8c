"""The MCP gateway (/mcp) against direct connections, as ratios from one run.

usage: python -m bench.gateway [--calls N] [--out-dir DIR]   (`make bench` runs it last)

- A tool call through /mcp to a fastmcp streamable-HTTP server, against the same call made
  directly to that server with the same client: median ratio, target <= 1.5.
- The same through a stdio server, against a direct stdio client to a warm child: <= 1.5.
  Two more figures, measured in the same rounds, say how close any HTTP gateway can come: the
  same Client against bench/canned_mcp.py (the HTTP hop alone: the client's streamable-HTTP
  transport and a bare Starlette route answering canned bytes under the same uvicorn settings)
  and a warm child's own answer to the same request written straight to its pipes. A gateway
  call costs at least their sum. On the shared 2-core machine that sum alone came to 1.4-2.0x
  the direct floor (the direct stdio client has no HTTP transport and one process hop fewer),
  so the 1.5x target is at or past what any HTTP gateway can reach there.
- 50 concurrent gateway sessions each making 20 calls to one stdio server: no error, exactly
  one child process for that server, every result correct.
- tools/list over 100 enabled servers whose tools are known, against `GET /api/mcp/tools`
  answered from its cache: median ratio, target <= 2. Both are sent by the same plain HTTP
  client (tools/list as the one JSON-RPC POST of protocol 2026-07-28); fastmcp's Client is
  timed as well and reported beside them, its own parsing of the answer included.

Each pair is measured in interleaved rounds with the same fastmcp Client settings, so a noisy
spell hits a figure and its floor alike. The servers are the test servers in tests/mcp_servers.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport

from bench.procs import REPO, ServerProcess, free_port, start_agent_server, start_canned_mcp
from bench.seed import SESSION_HEADERS
from bench.stats import median

SERVERS = REPO / "tests" / "mcp_servers"
RESULTS = REPO / "bench" / "results"
ROUNDS = 3
SESSIONS, CALLS_PER_SESSION = 50, 20
LIST_SERVERS = 100
TARGETS = {"http_call": 1.5, "stdio_call": 1.5, "tools_list": 2.0}


async def _timed(action: Callable[[], Awaitable[Any]], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def _paired(
    gateway: Client[Any],
    direct: Client[Any],
    gateway_call: Callable[[Client[Any]], Awaitable[Any]],
    direct_call: Callable[[Client[Any]], Awaitable[Any]],
    calls: int,
    extras: dict[str, Callable[[], Awaitable[Any]]] | None = None,
) -> tuple[float, float, dict[str, float]]:
    """(gateway median, direct median, each extra's median) in ms over interleaved rounds,
    after a warm-up."""
    extras = extras or {}
    await _timed(lambda: gateway_call(gateway), 10)
    await _timed(lambda: direct_call(direct), 10)
    for extra in extras.values():
        await _timed(extra, 10)
    through: list[float] = []
    straight: list[float] = []
    more: dict[str, list[float]] = {name: [] for name in extras}
    for _ in range(ROUNDS):
        through += await _timed(lambda: gateway_call(gateway), calls // ROUNDS)
        straight += await _timed(lambda: direct_call(direct), calls // ROUNDS)
        for name, extra in extras.items():
            more[name] += await _timed(extra, calls // ROUNDS)
    return median(through), median(straight), {name: median(m) for name, m in more.items()}


_ENVELOPE = {  # the per-request fields of protocol 2026-07-28
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


class _Pipes:
    """A warm stdio_tools.py child spoken to straight over its pipes, one request at a time:
    the child's own time to answer, with no client library around it."""

    async def __aenter__(self) -> _Pipes:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SERVERS / "stdio_tools.py"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        self.ids = 0
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.proc.kill()
        await self.proc.wait()

    async def add(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.ids += 1
        params = {"name": "add", "arguments": {"a": 1, "b": 2}, "_meta": _ENVELOPE}
        request = {"jsonrpc": "2.0", "id": self.ids, "method": "tools/call", "params": params}
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        answer: dict[str, Any] = json.loads(await self.proc.stdout.readline())
        assert answer["result"]["structuredContent"] == {"result": 3}, answer
        return answer


def _stdio_children(server: ServerProcess) -> int:
    return sum(
        1
        for proc in server.processes()[1:]
        if any("stdio_tools.py" in part for part in proc.cmdline())
    )


async def _concurrent(url: str, headers: dict[str, str]) -> tuple[int, int]:
    """(errors and wrong results, calls) of SESSIONS sessions x CALLS_PER_SESSION calls."""

    async def session(index: int) -> int:
        wrong = 0
        async with Client(StreamableHttpTransport(url, headers=headers), timeout=60) as client:
            for call in range(CALLS_PER_SESSION):
                try:
                    result = await client.call_tool_mcp("calc__add", {"a": index, "b": call})
                except Exception:
                    wrong += 1
                    continue
                if result.is_error or result.structured_content != {"result": index + call}:
                    wrong += 1
        return wrong

    wrong = await asyncio.gather(*(session(i) for i in range(SESSIONS)))
    return sum(wrong), SESSIONS * CALLS_PER_SESSION


async def _measure(
    server: ServerProcess, http_url: str, hop_url: str, calls: int
) -> dict[str, Any]:
    headers = SESSION_HEADERS
    gateway_url = server.url + "/mcp"
    stdio = StdioTransport(sys.executable, [str(SERVERS / "stdio_tools.py")], keep_alive=False)
    async with (
        Client(StreamableHttpTransport(gateway_url, headers=headers), timeout=60) as gateway,
        Client(StreamableHttpTransport(http_url), timeout=60) as direct_http,
        Client(stdio, timeout=60) as direct_stdio,
        Client(StreamableHttpTransport(hop_url), timeout=60) as hop,
        _Pipes() as pipes,
    ):
        http_call = await _paired(
            gateway,
            direct_http,
            lambda c: c.call_tool_mcp("web__echo", {"text": "x"}),
            lambda c: c.call_tool_mcp("echo", {"text": "x"}),
            calls,
        )
        stdio_call = await _paired(
            gateway,
            direct_stdio,
            lambda c: c.call_tool_mcp("calc__add", {"a": 1, "b": 2}),
            lambda c: c.call_tool_mcp("add", {"a": 1, "b": 2}),
            calls,
            {"hop_ms": lambda: hop.call_tool_mcp("add", {"a": 1, "b": 2}), "child_ms": pipes.add},
        )
    wrong, total = await _concurrent(gateway_url, headers)
    children = _stdio_children(server)
    return {
        "http_call": {"gateway_ms": http_call[0], "direct_ms": http_call[1]},
        "stdio_call": {"gateway_ms": stdio_call[0], "direct_ms": stdio_call[1], **stdio_call[2]},
        "concurrent": {"calls": total, "wrong": wrong, "stdio_children": children},
    }


_LIST_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2026-07-28",
    "Mcp-Method": "tools/list",
}


async def _tools_list(server: ServerProcess, calls: int) -> dict[str, float]:
    """tools/list as one plain HTTP POST (what any MCP client sends at protocol 2026-07-28),
    against the catalog as one plain HTTP GET: the same client for both answers. fastmcp's
    Client is timed too, for information: it spends about 10 ms of its own CPU turning 200
    tools into models, which says nothing of the gateway."""
    headers = SESSION_HEADERS
    transport = StreamableHttpTransport(server.url + "/mcp", headers=headers)
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": _ENVELOPE}}
    async with (
        Client(transport, timeout=120) as gateway,
        httpx.AsyncClient(base_url=server.url, headers=headers, timeout=120) as http,
    ):
        listed = len(await gateway.list_tools())
        assert listed >= LIST_SERVERS  # every server's tools known
        assert (await http.get("/api/mcp/tools")).status_code == 200  # the catalog cached

        async def post_list() -> httpx.Response:
            return await http.post("/mcp", json=request, headers=_LIST_HEADERS)

        answer = await post_list()
        assert len(answer.json()["result"]["tools"]) == listed, answer.text[:200]
        posted, catalog = await _paired_plain(post_list, lambda: http.get("/api/mcp/tools"), calls)
        client, _ = await _paired_plain(lambda: gateway.list_tools(), post_list, calls)
    return {"gateway_ms": posted, "catalog_ms": catalog, "fastmcp_client_ms": client}


async def _paired_plain(
    first: Callable[[], Awaitable[Any]], second: Callable[[], Awaitable[Any]], calls: int
) -> tuple[float, float]:
    ones: list[float] = []
    twos: list[float] = []
    for _ in range(ROUNDS):
        ones += await _timed(first, calls // ROUNDS)
        twos += await _timed(second, calls // ROUNDS)
    return median(ones), median(twos)


def _put(server: ServerProcess, servers: dict[str, dict[str, Any]]) -> None:
    with httpx.Client(base_url=server.url, headers=SESSION_HEADERS) as http:
        for name, config in servers.items():
            answer = http.put(f"/api/settings/mcp-servers/{name}", json=config)
            answer.raise_for_status()


def run(calls: int, root: Path) -> dict[str, Any]:
    port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, str(SERVERS / "http_tools.py"), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    http_url = f"http://127.0.0.1:{port}/mcp"
    results: dict[str, Any] = {}
    try:
        for _ in range(300):
            try:
                httpx.get(http_url.replace("/mcp", "/"), timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        home = root / "calls"
        server = start_agent_server(home, root)
        hop = start_canned_mcp(root)
        try:
            _put(
                server,
                {
                    "web": {"url": http_url, "transport": "http"},
                    "calc": {"command": sys.executable, "args": [str(SERVERS / "stdio_tools.py")]},
                },
            )
            results.update(asyncio.run(_measure(server, http_url, hop.url + "/mcp", calls)))
        finally:
            hop.stop()
            server.stop()
        home = root / "list"
        server = start_agent_server(home, root)
        try:
            many = {
                f"s{i:03d}": {"url": http_url, "transport": "http"} for i in range(LIST_SERVERS)
            }
            _put(server, many)
            results["tools_list"] = asyncio.run(_tools_list(server, calls))
        finally:
            server.stop()
    finally:
        upstream.kill()
        upstream.wait()
    return results


def ratios(results: dict[str, Any]) -> dict[str, float]:
    return {
        "http_call": results["http_call"]["gateway_ms"] / results["http_call"]["direct_ms"],
        "stdio_call": results["stdio_call"]["gateway_ms"] / results["stdio_call"]["direct_ms"],
        "tools_list": results["tools_list"]["gateway_ms"] / results["tools_list"]["catalog_ms"],
    }


def markdown(results: dict[str, Any], date: str) -> str:
    found = ratios(results)
    concurrent = results["concurrent"]
    ok = concurrent["wrong"] == 0 and concurrent["stdio_children"] == 1

    def row(key: str, what: str, floor: str, gateway: float, direct: float) -> str:
        verdict = "PASS" if found[key] <= TARGETS[key] else "MISS"
        return (
            f"| {what} <= {TARGETS[key]:g} x {floor} | {gateway:.2f} ms | {direct:.2f} ms | "
            f"{found[key]:.2f}x {verdict} |"
        )

    h, s, t = results["http_call"], results["stdio_call"], results["tools_list"]
    bound = s["hop_ms"] + s["child_ms"]
    return "\n".join(
        [
            f"MCP gateway, measured on {date} (medians; the floor in the same run):",
            "",
            "| Target | Gateway | Floor | Ratio |",
            "| --- | --- | --- | --- |",
            row("http_call", "tool call via /mcp (HTTP server)", "direct", *h.values()),
            row(
                "stdio_call",
                "tool call via /mcp (stdio server)",
                "direct warm",
                s["gateway_ms"],
                s["direct_ms"],
            ),
            row(
                "tools_list",
                "tools/list over 100 servers",
                "cached catalog",
                t["gateway_ms"],
                t["catalog_ms"],
            ),
            f"| {SESSIONS} sessions x {CALLS_PER_SESSION} calls, one stdio server | "
            f"{concurrent['wrong']} wrong of {concurrent['calls']} | "
            f"{concurrent['stdio_children']} child | {'PASS' if ok else 'MISS'} |",
            "",
            f"Least a stdio call through any HTTP gateway can cost here: the HTTP hop alone "
            f"{s['hop_ms']:.2f} ms + the warm child's own answer over its pipes "
            f"{s['child_ms']:.2f} ms = {bound:.2f} ms, {bound / s['direct_ms']:.2f}x the direct "
            f"floor.",
            "",
            f"tools/list and the catalog are both timed from one plain HTTP client; through "
            f"fastmcp's Client, which turns the 200 tools into models, tools/list took "
            f"{t['fastmcp_client_ms']:.2f} ms.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway")
    parser.add_argument("--calls", type=int, default=300, help="timed calls per figure")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="agent-server-bench-gateway-"))
    try:
        results = run(args.calls, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    date = dt.date.today().isoformat()
    text = markdown(results, date)
    print(text)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{date}-gateway.md").write_text(text + "\n")
    payload = {"results": results, "ratios": ratios(results), "targets": TARGETS}
    (args.out_dir / f"{date}-gateway.json").write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
