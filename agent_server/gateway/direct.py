"""`tools/call` and `tools/list` on /mcp answered by the gateway itself, at the 2026 protocol.

A 2026-07-28 request is one self-contained POST, with no session. fastmcp's server side spends
milliseconds on each: request and result models, a task group and a memory stream per request,
its middleware chain, and for a call with arguments a whole tools/list to check Mcp-Param
headers. For these two methods the gateway needs none of that:

- tools/call is routed exactly as fastmcp's path routes it (GatewayTools.route: the caller's
  tool set, credentials and pool key), forwarded at the lowest level (Upstream.call_raw), and
  the server's result is answered as it gave it, after the same per-version check fastmcp
  applies to every result (mcp_types.methods.serialize_server_result) and its serverInfo stamp.
- tools/list is answered with fastmcp's own answer for the same tool set, kept per tool set
  (GatewayTools.tool_set gives the same object while servers, connections and pins are the
  same) and protocol version: the first such request is fastmcp's, and its answer is kept.

Everything else goes to fastmcp as it came, its body replayed: other methods, sessions of the
handshake era, Mcp-Param headers, a cursor, a body or envelope that is not plainly valid, and a
call to a tool not served (that tool error is fastmcp's). Those answers stay the reference.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_server.gateway.credentials import GIVEN_KEY, ClientHeaders
from agent_server.gateway.plain_http import loads
from agent_server.gateway.tools import GatewayTools, ToolSet, UnknownTool, unavailable
from agent_server.json_codec import dumps
from agent_server.probes.failures import ProbeFailed

MAX_BODY = 4 * 1024 * 1024  # mcp's own limit on a request body; a larger one goes to fastmcp
LISTS_KEPT = 64  # tools/list answers kept (one per tool set and protocol version)
_METHODS = ("tools/call", "tools/list")
_ENVELOPE = frozenset({"jsonrpc", "id", "method", "params"})
_ROUTING = (b"mcp-protocol-version", b"mcp-method", b"mcp-name")
_SERVER_INFO = "io.modelcontextprotocol/serverInfo"


@dataclass(frozen=True)
class _Request:
    id: int | str
    method: str
    params: dict[str, Any]
    version: str  # the request's protocol version
    body: bytes  # as it came, for fastmcp when it answers after all


class Direct:
    """Answers the two methods for `fastmcp_app`, and hands it everything else."""

    def __init__(
        self,
        tools: GatewayTools,
        fastmcp_app: ASGIApp,
        server_info: Mapping[str, Any],
        call_timeout: float,
    ) -> None:
        from mcp_types.version import MODERN_PROTOCOL_VERSIONS

        self.tools = tools
        self.app = fastmcp_app
        self.server_info = dict(server_info)
        self.call_timeout = call_timeout
        self._versions = {version.encode(): version for version in MODERN_PROTOCOL_VERSIONS}
        self._lists: dict[tuple[int, str], tuple[ToolSet, bytes]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = self._headers(scope) if scope["method"] == "POST" else None
        if headers is None:
            await self.app(scope, receive, send)
            return
        body = await _body(receive)
        if body is None:
            return  # the caller went away
        request = self._request(body, headers)
        if request is None:
            await self.app(scope, _replay(body, receive), send)
        elif request.method == "tools/call":
            await self._call(request, scope, receive, send)
        else:
            await self._list(request, scope, receive, send)

    def _headers(self, scope: Scope) -> dict[str, str] | None:
        """The routing headers of a request this may answer, else None."""
        found: dict[str, str] = {}
        accept = None
        length = None
        for name, value in scope["headers"]:
            if name in _ROUTING:
                if name.decode() in found:
                    return None  # a duplicated routing header: fastmcp refuses it
                found[name.decode()] = value.decode("latin-1")
            elif name == b"accept":
                if accept is not None:
                    return None
                accept = value
            elif name == b"content-length":
                length = value
            elif name.startswith((b"mcp-param-", b"mcp-session-id")):
                return None
        version = found.get("mcp-protocol-version", "").encode()
        if version not in self._versions or accept is None or not _accepts(accept):
            return None
        if length is None or not length.isdigit() or int(length) > MAX_BODY:
            return None
        return found

    def _request(self, body: bytes, headers: dict[str, str]) -> _Request | None:
        """The decoded request, when it is one of the two methods and plainly valid."""
        from mcp.shared.inbound import InboundModernRoute, classify_inbound_request
        from mcp_types import methods
        from pydantic import ValidationError

        try:
            request = loads(body)
        except (ValueError, RecursionError):
            return None
        if not isinstance(request, dict) or not request.keys() <= _ENVELOPE:
            return None
        method, params, request_id = request.get("method"), request.get("params"), request.get("id")
        if (
            request.get("jsonrpc") != "2.0"
            or method not in _METHODS
            or not isinstance(params, dict)
            or not (type(request_id) is int or isinstance(request_id, str))
        ):
            return None
        if method == "tools/call":
            arguments = params.get("arguments")
            if not isinstance(params.get("name"), str) or not isinstance(arguments, dict | None):
                return None
        elif "cursor" in params:
            return None
        verdict = classify_inbound_request(request, headers=headers)
        if not isinstance(verdict, InboundModernRoute):
            return None
        try:
            methods.validate_client_request(method, verdict.protocol_version, params)
        except (ValidationError, KeyError, ValueError):
            return None
        return _Request(request_id, method, params, verdict.protocol_version, body)

    async def _call(self, request: _Request, scope: Scope, receive: Receive, send: Send) -> None:
        params = request.params
        given: ClientHeaders = scope.get(GIVEN_KEY, {})
        try:
            route = await self.tools.route(params["name"], given)
        except (UnknownTool, ProbeFailed):  # fastmcp gives these their tool error
            await self.app(scope, _replay(request.body, receive), send)
            return
        # The caller closing its request ends the call, as fastmcp's server side does.
        this = asyncio.current_task()
        watch = asyncio.create_task(_cancel_on_disconnect(receive, this))
        try:
            raw = await self.tools.call_raw(route, params.get("arguments") or {}, self.call_timeout)
        except asyncio.CancelledError:
            if this is not None and watch.done() and not watch.cancelled() and watch.result():
                this.uncancel()
                return  # the caller went away: nobody to answer
            raise
        finally:
            watch.cancel()
        try:
            result = self._shaped(raw, request.version)
        except ProbeFailed as failed:
            error = {"content": [{"type": "text", "text": unavailable(failed)}], "isError": True}
            result = self._shaped(error, request.version)
        await _respond(send, request.id, dumps(result))

    def _shaped(self, result: dict[str, Any], version: str) -> dict[str, Any]:
        """The result as fastmcp's server would send it: checked and sieved for the protocol
        version, `resultType` and the gateway's serverInfo stamp filled in where missing."""
        from mcp_types import methods
        from pydantic import ValidationError

        if result.get("resultType", "complete") != "complete":
            raise ProbeFailed("protocol", "the server asked for input the gateway cannot give")
        try:
            shaped = methods.serialize_server_result("tools/call", version, result)
        except ValidationError:
            raise ProbeFailed(
                "protocol", "the server did not answer as an MCP server (ValidationError)"
            ) from None
        shaped.setdefault("resultType", "complete")
        meta = shaped.get("_meta")
        if meta is None:
            shaped["_meta"] = {_SERVER_INFO: self.server_info}
        elif isinstance(meta, dict) and meta.get(_SERVER_INFO) is None:
            shaped["_meta"] = {**meta, _SERVER_INFO: self.server_info}
        return shaped

    async def _list(self, request: _Request, scope: Scope, receive: Receive, send: Send) -> None:
        tool_set = await self.tools.tool_set(scope.get(GIVEN_KEY, {}))
        key = (id(tool_set), request.version)
        kept = self._lists.get(key)
        if kept is not None and kept[0] is tool_set:
            await _respond(send, request.id, kept[1])
            return
        answer = _Captured(send)
        await self.app(scope, _replay(request.body, receive), answer.send)
        result = answer.result()
        if result is not None:
            if len(self._lists) >= LISTS_KEPT:
                self._lists.clear()
            self._lists[key] = (tool_set, dumps(result))


class _Captured:
    """Passes fastmcp's answer on and keeps a copy: its result when it is a plain JSON one."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._status = 0
        self._json = False
        self._body: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._status = message["status"]
            self._json = any(
                name == b"content-type" and value.startswith(b"application/json")
                for name, value in message.get("headers", [])
            )
        elif message["type"] == "http.response.body":
            self._body.append(message.get("body", b""))
        await self._send(message)

    def result(self) -> Any:
        if self._status != 200 or not self._json:
            return None
        try:
            answer = loads(b"".join(self._body))
        except ValueError:
            return None
        return answer.get("result") if isinstance(answer, dict) else None


def _accepts(accept: bytes) -> bool:
    """Whether Accept takes both JSON and an event stream (as mcp reads it, wildcards too)."""
    types = {part.split(b";")[0].strip().lower() for part in accept.split(b",")}
    json = bool(types & {b"*/*", b"application/*", b"application/json"})
    events = bool(types & {b"*/*", b"text/*", b"text/event-stream"})
    return json and events


async def _body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` with the body already read given again first."""
    given = False

    async def again() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def _cancel_on_disconnect(receive: Receive, task: asyncio.Task[Any] | None) -> bool:
    """Cancels `task` when the caller goes away; True then. (With uvicorn, `receive` also
    returns once the answer is sent; by then this watch has been cancelled.)"""
    while (await receive())["type"] != "http.disconnect":
        pass
    if task is None or task.done():
        return False
    task.cancel()
    return True


async def _respond(send: Send, request_id: Any, result: bytes) -> None:
    body = b'{"jsonrpc":"2.0","id":' + dumps(request_id) + b',"result":' + result + b"}"
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
