"""`/mcp`: one MCP endpoint (streamable HTTP) serving the tools of every enabled server.

It is fastmcp's server side, mounted in our Starlette app behind the same guard and session key
as `/api/`. Its one provider lists GatewayTools.tool_set() and routes each call by its gateway
name; a watcher closes idle and outdated connections and tells connected sessions when the
served set of servers changes (`notifications/tools/list_changed`).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Receive, Scope, Send

from agent_server.gateway.credentials import GIVEN_KEY, ClientHeaders
from agent_server.gateway.direct import Direct
from agent_server.gateway.pins import Pins
from agent_server.gateway.tools import GatewayTool, GatewayTools, UnknownTool, unavailable
from agent_server.probes.failures import ProbeFailed

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from fastmcp.tools import Tool
    from fastmcp.utilities.versions import VersionSpec

log = logging.getLogger(__name__)

PATH = "/mcp"
__all__ = ["GIVEN_KEY", "PATH", "Gateway", "build_server"]
DEFAULT_CALL_TIMEOUT = 300.0  # seconds a tool call through /mcp may take
# How often the watcher looks for configuration changes and idle connections.
WATCH_INTERVAL = 1.0
# The servers served (name, ETag), the pins, the count of listings that came back different.
_Seen = tuple[frozenset[tuple[str, str]], Pins, int]
LISTEN_STREAMS = 256  # open `subscriptions/listen` streams at once; one more is refused


def _given() -> ClientHeaders:
    """The caller's MCP-HEADERS of the request being served, parsed and checked on its way in."""
    from fastmcp.server.dependencies import get_http_request

    try:
        request = get_http_request()
    except RuntimeError:
        return {}
    given: ClientHeaders = request.scope.get(GIVEN_KEY, {})
    return given


def _tool_class(gateway: GatewayTools) -> type[Tool]:
    from fastmcp.exceptions import ToolError
    from fastmcp.tools import Tool, ToolResult

    class RoutedTool(Tool):
        """A tool of one upstream server, run by routing the call to it."""

        async def run(self, arguments: dict[str, Any]) -> ToolResult:
            try:
                result = await gateway.call(self.name, arguments, DEFAULT_CALL_TIMEOUT, _given())
            except UnknownTool:
                raise ToolError(f"the tool {self.name!r} is not served any more") from None
            except ProbeFailed as failed:
                raise ToolError(unavailable(failed)) from None
            return ToolResult(
                content=result.content,
                structured_content=result.structured_content,
                meta=result.meta,
                is_error=result.is_error,
            )

    return RoutedTool


def _served_tool(tool_class: type[Tool], found: GatewayTool) -> Tool:
    upstream = found.tool
    return tool_class(
        name=found.gateway_name,
        title=upstream.title,
        description=upstream.description,
        parameters=upstream.input_schema,
        output_schema=upstream.output_schema,
        annotations=upstream.annotations,
    )


def build_server(gateway: GatewayTools) -> tuple[FastMCP[Any], Any]:
    """The fastmcp server of the gateway and the middleware that records its sessions."""
    from fastmcp import FastMCP
    from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
    from fastmcp.server.providers import Provider
    from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
    from mcp_types import SubscriptionsListenRequestParams

    tool_class = _tool_class(gateway)

    class GatewayProvider(Provider):
        async def _list_tools(self) -> Sequence[Tool]:
            found = (await gateway.tool_set(_given())).tools.values()
            return [_served_tool(tool_class, tool) for tool in found]

        async def _get_tool(self, name: str, version: VersionSpec | None = None) -> Tool | None:
            tool_set = await gateway.tool_set(_given())
            found = tool_set.tools.get(name)
            if found is not None:
                return _served_tool(tool_class, found)
            if tool_set.left_out(name) is not None:
                # A call to a tool of a server left out is a tool error saying why.
                return tool_class(name=name, parameters={"type": "object"})
            return None

    class SessionRecorder(Middleware):
        """Remembers each connected session, to tell it when the tool set changes; holds the
        bus of 2026-era listen streams.

        What lives as long as a session is the SDK's Connection: the ServerSession a request
        carries is made for that request alone (remembered weakly, it was gone before the next
        change). Only a session with a channel of its own (a handshake-era session's GET
        stream) is remembered; a 2026-era request has none.
        """

        def __init__(self) -> None:
            self.connections: weakref.WeakSet[Any] = weakref.WeakSet()
            self.bus = InMemorySubscriptionBus()  # the listen streams of 2026-era clients

        async def on_request(
            self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
        ) -> Any:
            ctx = context.fastmcp_context
            if ctx is not None and ctx.request_context is not None:
                # fastmcp reads the same attribute for the state it keeps per session.
                connection = getattr(ctx.request_context.session, "_connection", None)
                if connection is not None and connection.has_standalone_channel:
                    self.connections.add(connection)
            return await call_next(context)

    recorder = SessionRecorder()
    server: FastMCP[Any] = FastMCP(
        "agent-server gateway",
        providers=[GatewayProvider()],
        middleware=[recorder],
        mask_error_details=True,  # an unexpected error's text could quote a secret
    )
    # A 2026-era client hears of changes only on a `subscriptions/listen` stream it opens;
    # fastmcp serves none, so the SDK's own handler is added (and with it the discover result
    # says `listChanged`).
    listen = ListenHandler(recorder.bus, max_subscriptions=LISTEN_STREAMS)
    server._mcp_server.add_request_handler(
        "subscriptions/listen", SubscriptionsListenRequestParams, listen
    )
    return server, recorder


def _differs(old: _Seen, new: _Seen) -> bool:
    """Whether sessions may be served other tools: other servers, a listing that came back
    different, or a pin replaced or dropped (an approval; a tool pinned as first seen, which
    every listing of a new server writes, changes nothing a session is served)."""
    if old[0] != new[0] or old[2] != new[2]:
        return True
    if old[1] is new[1]:
        return False
    return any(
        new[1].get(server, {}).get(tool) != pin
        for server, pins in old[1].items()
        for tool, pin in pins.items()
    )


class Gateway:
    """The mounted endpoint (an ASGI app), its lifespan and its watcher.

    fastmcp's server side is built, and its session manager started, on the first request to
    `/mcp`: importing fastmcp takes about a second, which every start (and every worker)
    would otherwise pay before it can answer anything.
    """

    def __init__(self, tools: GatewayTools) -> None:
        self.tools = tools
        self._recorder: Any = None
        self._ready: asyncio.Future[ASGIApp] | None = None
        self._stop = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._seen: _Seen | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._ready is None:
            self._ready = asyncio.get_running_loop().create_future()
            self._runner = asyncio.create_task(self._run(self._ready))
        app = await asyncio.shield(self._ready)
        await app(scope, receive, send)

    async def _run(self, ready: asyncio.Future[ASGIApp]) -> None:
        """Build the fastmcp app and keep its lifespan open until the gateway stops.

        Requests go to it through Direct, which answers tools/call and tools/list itself.
        """
        try:
            await asyncio.to_thread(importlib.import_module, "fastmcp")  # off the event loop
            server, self._recorder = build_server(self.tools)
            self._seen = self._seen_now()  # before any session can list what it serves
            app = server.http_app(path=PATH, host_origin_protection=False)
            # fastmcp's serverInfo stamp, which its server puts on every 2026-era result.
            stamp = server._mcp_server.server_info_stamp
            direct = Direct(self.tools, app, stamp, DEFAULT_CALL_TIMEOUT)
            async with app.lifespan(app):
                ready.set_result(direct)
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    def _seen_now(self, served: frozenset[tuple[str, str]] | None = None) -> _Seen | None:
        """What decides the tools sessions are served, to compare later ones with: the served
        servers (name, ETag), the pins (what `pin_tools` withholds) and how many listings came
        back different. None while the store fails."""
        try:
            served = self.tools.fingerprint() if served is None else served
        except Exception:  # the store may be unusable for a while (served as 503)
            return None
        return served, self.tools.pins.read(), self.tools.pool.relistings

    async def _notify(self) -> None:
        if self._recorder is None:
            return  # no session has connected yet
        from mcp.server.subscriptions import ToolsListChanged

        for connection in list(self._recorder.connections):
            with suppress(Exception):  # a session that went away meanwhile
                await connection.send_tool_list_changed()
        await self._recorder.bus.publish(ToolsListChanged())

    async def check(self) -> None:
        """Close outdated and idle connections; notify sessions if what they are served changed.

        Nothing to do before the first session and with no connection open: working out the
        served set costs a pass over every server, which at ten thousand servers would be a
        pause once a second after every write.
        """
        if self._recorder is None and self.tools.pool.idle():
            self._seen = None
            return
        served = self.tools.fingerprint()
        seen = self._seen_now(served)
        await self.tools.pool.keep_only(served)
        await self.tools.pool.stop_idle()
        if self._seen is not None and seen is not None and _differs(self._seen, seen):
            await self._notify()
        self._seen = seen

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            try:
                await self.check()
            except Exception as exc:  # the store may be unusable for a while (served as 503)
                log.warning("gateway check failed (%s); trying again", type(exc).__name__)

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        watcher = asyncio.create_task(self._watch())
        try:
            yield
        finally:
            watcher.cancel()
            with suppress(asyncio.CancelledError):
                await watcher
            self._stop.set()
            if self._runner is not None:
                with suppress(Exception):
                    await self._runner
            await self.tools.pool.close_all()
