"""The gateway's upstream connections: one open fastmcp connection per server configuration.

A configuration is a server's name and ETag (and, for credentials given at use time, a hash of
them): a stdio server runs as at most one child per configuration, shared by every session that
uses it, with calls multiplexed over its one MCP session. A connection that died is opened
again by the next request; one idle for `idle_seconds` is closed; one whose configuration is no
longer served (the server was disabled, deleted or changed) is closed once its calls are done.

Connections are made the way probes make them (agent_server.probes): a slot of the shared
limiter while connecting, other libraries' log records withheld, stdio stderr to /dev/null, and
the child's whole process group killed when the connection closes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from agent_server.gateway.plain_http import PlainHTTP, Redirected
from agent_server.probes.connection import (
    StatusRecorder,
    bounded,
    recorder_for,
    server_info,
    tools_answer,
    transport_for,
)
from agent_server.probes.failures import ProbeFailed, classify, timed_out
from agent_server.probes.groups import end_groups, exited, recorded_children
from agent_server.probes.limiter import ProbeLimiter
from agent_server.probes.logs import withheld_logs
from sdk.models import MCPToolsResult

if TYPE_CHECKING:
    import mcp_types
    from fastmcp import Client

log = logging.getLogger(__name__)
T = TypeVar("T")

# Seconds a closing connection gets to end by itself before its process group is killed.
_WIND_DOWN = 2.0


@dataclass(frozen=True)
class UpstreamKey:
    """One server configuration: its name, its ETag, and a hash of the caller's credentials
    ("" when none are given), so callers with different credentials never share a connection."""

    name: str
    etag: str
    credential: str = ""


def _nothing() -> None:
    return None


class Upstream:
    """One open connection; its tool list is fetched once and kept while it is open."""

    def __init__(
        self,
        key: UpstreamKey,
        client: Client[Any],
        children: list[int],
        config: dict[str, Any],
        recorder: StatusRecorder,
    ) -> None:
        self.key = key
        self.client = client
        self.children = children
        self.config = config
        self.recorder = recorder
        self.tools: list[mcp_types.Tool] | None = None
        self.busy = 0
        self.last_used = time.monotonic()
        self.retired = False
        self._plain: PlainHTTP | None = None
        self._plain_ids = itertools.count(1)
        self._plain_refused = False  # the server redirected: calls take fastmcp's way
        self.relisted: Callable[[], None] = _nothing  # told when a new listing differs

    def alive(self) -> bool:
        """False once the connection ended (a stdio child that died, a closed session).

        fastmcp notices a dead stdio child only when a request fails. The child's process
        state tells at once, and its dispatcher as soon as it has read the end of the child's
        output: either way the next request starts a new child instead of failing.
        """
        if self.children and exited(self.children[0]):
            return False
        state = self.client._session_state
        task = state.session_task
        if task is None or task.done() or state.session is None:
            return False
        dispatcher = getattr(state.session, "_dispatcher", None)
        return not getattr(dispatcher, "_closed", False)

    async def _run(self, work: Coroutine[Any, Any, T], timeout: float) -> T:
        # The statuses of this request only: an old 401 must not explain a later failure.
        self.recorder.statuses.clear()
        with withheld_logs():
            return await bounded(work, timeout, (), self.recorder, self.config)

    async def list_tools(self, timeout: float) -> list[mcp_types.Tool]:
        """The tools, listed once per connection."""
        if self.tools is None:
            self.tools = list(await self._run(self.client.list_tools(), timeout))
        return self.tools

    async def probe(self, timeout: float) -> MCPToolsResult:
        """The answer of a live check over this connection: the tools listed again, timed."""
        started = time.perf_counter()
        previous = self.tools
        try:
            self.tools = list(await self._run(self.client.list_tools(), timeout))
        except ProbeFailed as failed:
            return failed.answer()
        if previous is not None and self.tools != previous:
            self.relisted()
        latency = round((time.perf_counter() - started) * 1000, 1)
        return tools_answer(self.tools, latency, server_info(self.client))

    async def call_tool(
        self, tool: str, arguments: dict[str, Any], timeout: float
    ) -> mcp_types.CallToolResult:
        """The server's own answer, `isError` included; ProbeFailed when there is none."""
        return await self._run(self.client.call_tool_mcp(tool, arguments), timeout)

    async def call_raw(
        self, tool: str, arguments: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """The server's `tools/call` result as it sent it (parsed JSON, not yet validated);
        ProbeFailed when there is none.

        The request is the one fastmcp's session would send (its own envelope and headers),
        but it goes out at the lowest level: one plain HTTP exchange for a streamable-HTTP
        server at a 2026 protocol version, else the session's own dispatcher (stdio children,
        older protocol versions, SSE), skipping fastmcp's result models either way.
        """
        self.recorder.statuses.clear()
        try:
            with withheld_logs():
                async with asyncio.timeout(timeout):  # in this task: no task of its own per call
                    return await self._call_raw(tool, arguments)
        except TimeoutError:
            raise timed_out(timeout) from None
        except Exception as failure:
            raise classify(failure, self.recorder.statuses, self.config, timeout) from None

    async def _call_raw(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        session = self.client.session
        params = {"name": tool, "arguments": arguments}
        data: dict[str, Any] = {"method": "tools/call", "params": params}
        options: dict[str, Any] = {}
        # The session's stamp: the 2026 envelope (`_meta`) and the MCP-* headers fastmcp sends.
        session._stamp(data, options)  # type: ignore[arg-type]
        plain = self._plain_http(session.protocol_version)
        if plain is not None:
            request_id = next(self._plain_ids)
            body = orjson.dumps({"jsonrpc": "2.0", "id": request_id, **data})
            try:
                message = await plain.post(request_id, body, options.get("headers") or {})
            except Redirected:
                self._plain_refused = True
            else:
                return _result(message)
        raw: dict[str, Any] = await session._dispatcher.send_raw_request(
            "tools/call",
            data["params"],
            options,  # type: ignore[arg-type]
        )
        return raw

    def _plain_http(self, version: str | None) -> PlainHTTP | None:
        """The plain HTTP way to this server, when it reaches it as fastmcp's transport does."""
        from mcp_types.version import MODERN_PROTOCOL_VERSIONS

        if self._plain_refused:
            return None
        if self._plain is None:
            url = self.config.get("url")
            if (
                not isinstance(url, str)
                or self.config.get("transport") == "sse"
                or version not in MODERN_PROTOCOL_VERSIONS
                or not PlainHTTP.serves(url)
            ):
                return None
            self._plain = PlainHTTP(url, self.config.get("headers") or {}, self.recorder)
        return self._plain

    async def close(self) -> None:
        if self._plain is not None:
            self._plain.close()
        with withheld_logs():
            closing = asyncio.create_task(self.client.close())
            await asyncio.wait({closing}, timeout=_WIND_DOWN)
        end_groups(self.children)


def _result(message: dict[str, Any]) -> dict[str, Any]:
    """The result of a JSON-RPC answer; MCPError (its code only) for an error answer."""
    from mcp.shared.exceptions import MCPError
    from mcp_types import INTERNAL_ERROR

    error = message.get("error")
    if error is not None:
        code = error.get("code") if isinstance(error, dict) else None
        raise MCPError(code=code if type(code) is int else INTERNAL_ERROR, message="error answer")
    result = message.get("result")
    if not isinstance(result, dict):
        raise MCPError(code=INTERNAL_ERROR, message="no result")
    return result


async def _open(key: UpstreamKey, config: dict[str, Any], timeout: float) -> Upstream:
    from fastmcp import Client

    recorder = recorder_for(config)
    # The session task fastmcp starts here inherits both: its logs are withheld and the
    # child it spawns is recorded, for as long as the connection lives.
    with withheld_logs(), recorded_children() as children:
        # A plain Client sends only the config's own headers: unlike fastmcp's proxies it
        # does not forward the headers of the request being served (the session key).
        client: Client[Any] = Client(transport_for(config, recorder), init_timeout=timeout)
        try:
            await bounded(client.__aenter__(), timeout, children, recorder, config)
        except BaseException:
            end_groups(children)
            raise
    return Upstream(key, client, children, config, recorder)


class UpstreamPool:
    """The open connections of this process, by configuration."""

    def __init__(self, limiter: ProbeLimiter, idle_seconds: float) -> None:
        self.limiter = limiter
        self.idle_seconds = idle_seconds
        self._open: dict[UpstreamKey, Upstream] = {}
        self._opening: dict[UpstreamKey, asyncio.Task[Upstream]] = {}
        # How many times an open connection, listed again, gave different tools: the tools a
        # session is served changed though no config did.
        self.relistings = 0

    def idle(self) -> bool:
        """True while no connection is open or opening: nothing to close or keep up to date."""
        return not self._open and not self._opening

    def state(self) -> tuple[tuple[UpstreamKey, int], ...]:
        """Changes when a connection opens or closes, or lists its tools again."""
        return tuple((key, id(upstream.tools)) for key, upstream in self._open.items())

    def _relisted(self) -> None:
        self.relistings += 1

    def find(self, key: UpstreamKey) -> Upstream | None:
        """The open, live connection of `key`, if any (never opens one)."""
        upstream = self._open.get(key)
        return upstream if upstream is not None and upstream.alive() else None

    async def _connect(self, key: UpstreamKey, config: dict[str, Any], timeout: float) -> Upstream:
        async with self.limiter.slot():  # while connecting only: an open one holds no slot
            upstream = await _open(key, config, timeout)
        upstream.relisted = self._relisted
        self._open[key] = upstream
        return upstream

    async def get(self, key: UpstreamKey, config: dict[str, Any], timeout: float) -> Upstream:
        """The open connection of `key`, opened (once, however many ask at once) if needed."""
        current = self._open.get(key)
        if current is not None:
            if current.alive():
                return current
            del self._open[key]
            log.info("MCP server %r: its connection ended; it is started again", key.name)
            await self._retire(current)
        opening = self._opening.get(key)
        if opening is None:
            opening = asyncio.create_task(self._connect(key, config, timeout))
            self._opening[key] = opening
            opening.add_done_callback(lambda task: self._opened(key, task))
        return await asyncio.shield(opening)

    def _opened(self, key: UpstreamKey, task: asyncio.Task[Upstream]) -> None:
        if self._opening.get(key) is task:
            del self._opening[key]
        if not task.cancelled():
            task.exception()  # retrieved: asyncio must not log it when no one waits any more

    @asynccontextmanager
    async def lease(
        self, key: UpstreamKey, config: dict[str, Any], timeout: float
    ) -> AsyncIterator[Upstream]:
        """Use a connection; it is not closed under its user, only after."""
        upstream = await self.get(key, config, timeout)
        upstream.busy += 1
        try:
            yield upstream
        finally:
            upstream.busy -= 1
            upstream.last_used = time.monotonic()
            if upstream.retired and upstream.busy == 0:
                await upstream.close()

    async def _retire(self, upstream: Upstream) -> None:
        upstream.retired = True
        if upstream.busy == 0:
            await upstream.close()

    async def keep_only(self, served: Collection[tuple[str, str]]) -> None:
        """Close every connection whose (name, ETag) is not served any more."""
        for key, upstream in list(self._open.items()):
            if (key.name, key.etag) not in served:
                del self._open[key]
                log.info("MCP server %r changed or left the gateway: its connection ends", key.name)
                await self._retire(upstream)

    async def stop_idle(self) -> None:
        now = time.monotonic()
        for key, upstream in list(self._open.items()):
            if upstream.busy == 0 and now - upstream.last_used >= self.idle_seconds:
                del self._open[key]
                log.info(
                    "MCP server %r: idle for %g s, its connection ends", key.name, self.idle_seconds
                )
                await upstream.close()

    async def close_all(self) -> None:
        for task in list(self._opening.values()):
            task.cancel()
        for key in list(self._open):
            await self._open.pop(key).close()
