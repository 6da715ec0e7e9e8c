"""A tool call to a streamable-HTTP MCP server as one plain HTTP/1.1 exchange.

At protocol version 2026-07-28 a `tools/call` is one self-contained POST: a JSON-RPC request
in, its answer out (JSON, or an event stream whose last message is the answer). fastmcp's
client spends well over a millisecond of CPU on it (httpx2, anyio memory streams and task
groups, pydantic models both ways); this sends the same POST, with the same headers, over
kept-alive connections with h11 (the HTTP/1.1 parser uvicorn uses) and returns the answer as
parsed JSON.

One PlainHTTP belongs to one pooled connection (one server configuration and credential), so
no request of another configuration or caller shares its sockets or its headers. Failures are
raised as the exceptions fastmcp's transport would raise (httpx2's transport errors, MCPError
for an HTTP error status) and each status is recorded, so probes.failures classifies them the
same way and never quotes what the server sent.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import h11
import httpx2
import orjson

from agent_server.probes.tls import tls_context

if TYPE_CHECKING:
    from agent_server.probes.connection import StatusRecorder

CONNECTIONS = 32  # sockets one server configuration may have open at once
_READ = 65536
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Redirected(Exception):
    """The server answered with a redirect: nothing was run, the caller may go another way."""


def loads(data: bytes) -> Any:
    """JSON; the standard library for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


@dataclass
class _Socket:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    http: h11.Connection

    def usable(self) -> bool:
        """Idle and still open: the server has not closed it since its last answer."""
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


class PlainHTTP:
    """POSTs JSON-RPC requests to one URL with one set of headers, over pooled sockets."""

    def __init__(self, url: str, headers: Mapping[str, str], recorder: StatusRecorder) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or _DEFAULT_PORTS[parts.scheme]
        authority = f"[{self.host}]" if ":" in self.host else self.host
        if parts.port is not None and parts.port != _DEFAULT_PORTS[parts.scheme]:
            authority += f":{parts.port}"
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.headers = {"host": authority, **{k.lower(): v for k, v in headers.items()}}
        if recorder.token is not None:
            self.headers["authorization"] = f"Bearer {recorder.token}"
        self.recorder = recorder
        self._idle: list[_Socket] = []
        self._slots = asyncio.Semaphore(CONNECTIONS)
        self._closed = False

    @staticmethod
    def serves(url: str) -> bool:
        """Whether this way reaches `url` exactly as httpx2 would: http(s), no user in the URL,
        and no proxy set in the environment (httpx2 would go through it)."""
        parts = urlsplit(url)
        return (
            parts.scheme in _DEFAULT_PORTS
            and bool(parts.hostname)
            and parts.username is None
            and not urllib.request.getproxies()
        )

    async def post(
        self, request_id: int, body: bytes, headers: Mapping[str, str]
    ) -> dict[str, Any]:
        """The JSON-RPC message answering `request_id` (a result or an error).

        Redirected for a redirect (fastmcp's transport would follow it within the origin);
        MCPError for an HTTP error status or an answer of another kind; httpx2 transport errors
        when the connection fails.
        """
        async with self._slots:
            sock = self._take() or await self._connect()
            reusable = False
            try:
                message, reusable = await self._exchange(sock, request_id, body, headers)
                return message
            finally:
                if reusable and not self._closed:
                    sock.http.start_next_cycle()
                    self._idle.append(sock)
                else:
                    sock.close()

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    def _take(self) -> _Socket | None:
        while self._idle:
            sock = self._idle.pop()
            if sock.usable():
                return sock
            sock.close()
        return None

    async def _connect(self) -> _Socket:
        tls = tls_context() if self.scheme == "https" else None
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=tls, server_hostname=self.host if tls else None
            )
        except (OSError, ssl.SSLError) as exc:
            raise httpx2.ConnectError(type(exc).__name__) from None
        return _Socket(reader, writer, h11.Connection(h11.CLIENT))

    async def _exchange(
        self, sock: _Socket, request_id: int, body: bytes, extra: Mapping[str, str]
    ) -> tuple[dict[str, Any], bool]:
        """(the answer, whether the socket can serve another request)."""
        headers = {
            **self.headers,
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
            **{k.lower(): v for k, v in extra.items()},
            "content-length": str(len(body)),
        }
        http = sock.http
        try:
            request = h11.Request(method="POST", target=self.target, headers=list(headers.items()))
            sock.writer.write(
                http.send(request) + http.send(h11.Data(data=body)) + http.send(h11.EndOfMessage())
            )
            response = await self._next(sock)
            while not isinstance(response, h11.Response):  # 1xx
                response = await self._next(sock)
            self.recorder.statuses.append(response.status_code)
            kind = _content_type(response.headers)
            if kind == "text/event-stream" and response.status_code == 200:
                return await self._from_events(sock, request_id)
            content = await self._body(sock)
        except h11.ProtocolError:
            raise httpx2.RemoteProtocolError("h11") from None
        except (OSError, asyncio.IncompleteReadError):
            raise httpx2.ReadError("closed") from None
        return _answer(response.status_code, kind, content, request_id), _reusable(http)

    async def _next(self, sock: _Socket) -> Any:
        """The next event of the answer; h11.RemoteProtocolError when the server closed."""
        while True:
            event = sock.http.next_event()
            if event is h11.NEED_DATA:
                sock.http.receive_data(await sock.reader.read(_READ))
                continue
            if isinstance(event, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("the server closed the connection")
            return event

    async def _body(self, sock: _Socket) -> bytes:
        chunks = []
        while True:
            event = await self._next(sock)
            if isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)

    async def _from_events(self, sock: _Socket, request_id: int) -> tuple[dict[str, Any], bool]:
        """The answer among the stream's events (notifications before it are dropped)."""
        events = _EventStream()
        while True:
            event = await self._next(sock)
            if isinstance(event, h11.EndOfMessage):
                from mcp.shared.exceptions import MCPError
                from mcp_types import CONNECTION_CLOSED

                raise MCPError(code=CONNECTION_CLOSED, message="Connection closed")
            if not isinstance(event, h11.Data):
                continue
            for data in events.feed(bytes(event.data)):
                message = _message(data)
                if _answers(message, request_id):
                    return message, _drained(sock.http)


class _EventStream:
    """Server-sent events, fed in pieces: the `data` of each complete event."""

    def __init__(self) -> None:
        self._buffer = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        self._buffer += chunk.decode("utf-8", errors="replace")
        lines = self._buffer.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self._buffer = lines.pop()
        found = []
        for line in lines:
            if not line:
                if self._data:
                    found.append("\n".join(self._data))
                self._data = []
            elif line.startswith("data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(" ") else value)
        return found


def _content_type(headers: Iterable[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"content-type":
            return value.decode("latin-1").partition(";")[0].strip().lower()
    return ""


def _message(data: str | bytes) -> Any:
    try:
        return loads(data.encode() if isinstance(data, str) else data)
    except ValueError:
        return None


def _answers(message: Any, request_id: int) -> bool:
    return (
        isinstance(message, dict)
        and message.get("id") == request_id
        and ("result" in message or "error" in message)
    )


def _answer(status: int, kind: str, content: bytes, request_id: int) -> dict[str, Any]:
    """The answer of a JSON reply; MCPError where fastmcp's transport makes one of the reply."""
    from mcp.shared.exceptions import MCPError
    from mcp_types import INTERNAL_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR

    if 300 <= status < 400:
        raise Redirected()
    message = _message(content) if kind == "application/json" else None
    if status >= 400:
        if isinstance(message, dict) and isinstance(message.get("error"), dict):
            return {**message, "id": request_id}
        code = METHOD_NOT_FOUND if status == 404 else INTERNAL_ERROR
        raise MCPError(code=code, message="Server returned an error response")
    if status == 202 or kind != "application/json":
        raise MCPError(code=INVALID_REQUEST, message="the server gave no answer to the request")
    if not _answers(message, request_id):
        raise MCPError(code=PARSE_ERROR, message="Failed to parse JSON response")
    assert isinstance(message, dict)
    return message


def _reusable(http: h11.Connection) -> bool:
    return http.our_state is h11.DONE and http.their_state is h11.DONE


def _drained(http: h11.Connection) -> bool:
    """Whether the rest of an event stream is already here, leaving the socket reusable."""
    while True:
        event = http.next_event()
        if isinstance(event, h11.EndOfMessage):
            return _reusable(http)
        if not isinstance(event, h11.Data):  # more to come, or the server closed
            return False
