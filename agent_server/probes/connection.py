"""One probe: a fresh fastmcp connection to one server, its one action, and the close.

Secrets are plaintext only in memory, for the connection. The probe waits for its slot in the
app's limiter first; its timeout starts once it holds the slot. A stdio child's stderr goes to
/dev/null (it could print the secrets it was given), and its whole process group is ended with
the probe.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx2

from agent_server.probes.failures import ProbeFailed, classify, timed_out
from agent_server.probes.groups import end_groups, process_groups
from agent_server.probes.limiter import ProbeLimiter
from agent_server.probes.logs import withheld_logs
from agent_server.probes.tls import http_client
from sdk.models import MCPServerInfo, MCPTool, MCPToolsOk, MCPToolsResult

if TYPE_CHECKING:  # fastmcp takes most of a second to import: only probes load it
    import mcp_types
    from fastmcp import Client
    from fastmcp.client.transports import ClientTransport

T = TypeVar("T")

# How long a cut-short probe waits for its connection to wind down once its stdio children are
# killed (a closed connection is then quick; this only bounds a stuck one).
_WIND_DOWN = 2.0


class StatusRecorder(httpx2.Auth):
    """Sends the bearer token (if any) and remembers each HTTP status, which fastmcp hides."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.statuses: deque[int] = deque(maxlen=32)  # the last ones: a pooled one lives long

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response]:
        if self.token is not None:
            request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        self.statuses.append(response.status_code)


def transport_for(config: dict[str, Any], recorder: StatusRecorder) -> ClientTransport:
    """The fastmcp transport of a plaintext server config; only its own headers are sent."""
    from fastmcp.client.transports import SSETransport, StdioTransport, StreamableHttpTransport

    if "command" in config:
        return StdioTransport(
            command=config["command"],
            args=list(config.get("args") or []),
            env=dict(config.get("env") or {}) or None,
            cwd=config.get("cwd"),
            keep_alive=False,  # fastmcp would keep the child alive after the connection
            log_file=Path(os.devnull),  # the child's stderr could print its secrets
        )
    headers = dict(config.get("headers") or {})
    if config.get("transport") == "sse":
        return SSETransport(
            config["url"], headers=headers, auth=recorder, httpx_client_factory=http_client
        )
    return StreamableHttpTransport(
        config["url"], headers=headers, auth=recorder, httpx_client_factory=http_client
    )


def recorder_for(config: dict[str, Any]) -> StatusRecorder:
    """The recorder sending a config's bearer token; ProbeFailed for OAuth servers."""
    if config.get("auth") == "oauth":
        raise ProbeFailed("auth", "servers that sign in with OAuth cannot be tested from here")
    return StatusRecorder(config["auth"] if isinstance(config.get("auth"), str) else None)


def _retrieve(work: asyncio.Task[Any]) -> None:
    """Take a finished connection's exception, so asyncio never logs it with its text."""
    if not work.cancelled():
        work.exception()


async def _session(
    config: dict[str, Any],
    timeout: float,
    recorder: StatusRecorder,
    action: Callable[[Client[Any]], Awaitable[Any]],
) -> tuple[Any, MCPServerInfo | None]:
    from fastmcp import Client

    client = Client(transport_for(config, recorder), timeout=timeout, init_timeout=timeout)
    async with client:
        result = await action(client)
        info = server_info(client)
    return result, info


async def bounded(
    work: Coroutine[Any, Any, T],
    timeout: float,
    children: Sequence[int],
    recorder: StatusRecorder,
    config: dict[str, Any],
) -> T:
    """Await `work` in its own task for at most `timeout` s; a failure becomes ProbeFailed.

    Cut short (its timeout, or the caller cancelled), the process groups of `children` are
    killed first: the connection's own close would otherwise give a child that ignores the end
    of its input seconds more.
    """
    task = asyncio.create_task(work)
    task.add_done_callback(_retrieve)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    finally:
        if not task.done():
            end_groups(children)
            task.cancel()
            await asyncio.wait({task}, timeout=_WIND_DOWN)
    if not done or task.cancelled():
        raise timed_out(timeout)
    failure = task.exception()
    if failure is not None:
        raise classify(failure, recorder.statuses, config, timeout) from None
    return task.result()


async def _connect(
    config: dict[str, Any],
    timeout: float,
    action: Callable[[Client[Any]], Awaitable[Any]],
) -> tuple[Any, float, MCPServerInfo | None]:
    """Run `action` on a fresh connection; (its result, latency in ms, server info)."""
    recorder = recorder_for(config)
    with withheld_logs(), process_groups() as children:
        started = time.perf_counter()
        result, info = await bounded(
            _session(config, timeout, recorder, action), timeout, children, recorder, config
        )
    return result, round((time.perf_counter() - started) * 1000, 1), info


async def _limited(
    limiter: ProbeLimiter,
    config: dict[str, Any],
    timeout: float,
    action: Callable[[Client[Any]], Awaitable[Any]],
) -> tuple[Any, float, MCPServerInfo | None]:
    async with limiter.slot():
        return await _connect(config, timeout, action)


async def list_tools(
    limiter: ProbeLimiter, config: dict[str, Any], timeout: float
) -> MCPToolsResult:
    """Connect, list the tools, disconnect: the answer of /api/mcp/test and .../tools."""
    try:
        tools, latency, info = await _limited(limiter, config, timeout, lambda c: c.list_tools())
    except ProbeFailed as failed:
        return failed.answer()
    return tools_answer(tools, latency, info)


def tools_answer(
    tools: Sequence[mcp_types.Tool], latency: float, info: MCPServerInfo | None
) -> MCPToolsOk:
    return MCPToolsOk(
        ok=True,
        tools=[
            MCPTool(
                name=t.name,
                description=t.description,
                input_schema=t.input_schema,
                tags=tool_tags(t.meta),
                enabled=True,  # until the server's rules are applied (gateway.tool_rules)
                changed=False,
            )
            for t in tools
        ],
        latency_ms=latency,
        server_info=info,
    )


def tool_tags(meta: Mapping[str, Any] | None) -> list[str]:
    """The fastmcp tags in a tool's `_meta` ([] for servers that give none)."""
    fastmcp = (meta or {}).get("fastmcp") or (meta or {}).get("_fastmcp") or {}
    tags = fastmcp.get("tags") if isinstance(fastmcp, Mapping) else None
    return sorted(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else []


def server_info(client: Client[Any]) -> MCPServerInfo | None:
    info = client.server_info
    return MCPServerInfo(name=info.name, version=info.version) if info else None
