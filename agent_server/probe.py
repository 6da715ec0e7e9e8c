"""Live connections to MCP servers through fastmcp: list a server's tools, or check its health.

Each probe opens one connection, does its one thing and closes it: a stdio server's child
process never outlives the probe (fastmcp would keep it alive by default), and a probe gives up
after its timeout (a stdio child that ignores the end of its input then gets a few seconds to
exit before it is killed). Secrets are plaintext only in memory, for the connection; any
secret value that appears in an error is masked before the error leaves this module.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Generator
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2

from agent_server.secrets import server_secret_slots
from sdk.models import MASK, MCPProbeFailed, MCPServerInfo, MCPTool, MCPToolsOk, ProbeErrorKind

if TYPE_CHECKING:  # fastmcp takes most of a second to import: only probes load it
    from fastmcp import Client
    from fastmcp.client.transports import ClientTransport

log = logging.getLogger(__name__)

_MIN_MASKED_SECRET = 3  # shorter values are not worth hiding, and masking them garbles text


# The mask of the probe running in this context. The tasks a fastmcp client starts inherit
# it, so records they log (a stdio child's stray output, quoted in a traceback) are masked too.
_PROBE_MASK: ContextVar[Callable[[str], str] | None] = ContextVar("probe_mask", default=None)
_base_record_factory = logging.getLogRecordFactory()


def _masking_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_record_factory(*args, **kwargs)
    mask = _PROBE_MASK.get()
    if mask is not None:
        record.msg = mask(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
    return record


def _mask_logs_of_probes() -> None:
    """Install the masking record factory once: a logger filter would miss child loggers."""
    if logging.getLogRecordFactory() is not _masking_record_factory:
        logging.setLogRecordFactory(_masking_record_factory)


class ProbeFailed(Exception):
    def __init__(self, kind: ProbeErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class _StatusRecorder(httpx2.Auth):
    """Sends the bearer token (if any) and remembers each HTTP status, which fastmcp hides."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.statuses: list[int] = []

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response]:
        if self.token is not None:
            request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        self.statuses.append(response.status_code)


def _transport(config: dict[str, Any], recorder: _StatusRecorder) -> ClientTransport:
    from fastmcp.client.transports import SSETransport, StdioTransport, StreamableHttpTransport

    if "command" in config:
        return StdioTransport(
            command=config["command"],
            args=list(config.get("args") or []),
            env=dict(config.get("env") or {}) or None,
            cwd=config.get("cwd"),
            keep_alive=False,
            log_file=Path(os.devnull),  # the child's stderr could print its secrets
        )
    headers = dict(config.get("headers") or {})
    if config.get("transport") == "sse":
        return SSETransport(config["url"], headers=headers, auth=recorder)
    return StreamableHttpTransport(config["url"], headers=headers, auth=recorder)


def _masker(config: dict[str, Any]) -> Callable[[str], str]:
    secrets = sorted(
        {v for _, v in server_secret_slots(config) if len(v) >= _MIN_MASKED_SECRET},
        key=len,
        reverse=True,
    )

    def mask(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, MASK)
        return text

    return mask


def _causes(exc: BaseException) -> Generator[BaseException]:
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _classify(exc: BaseException, recorder: _StatusRecorder) -> tuple[ProbeErrorKind, str]:
    refused = [s for s in recorder.statuses if s in (401, 403)]
    if refused:
        return "auth", f"the server refused the credentials (HTTP {refused[-1]})"
    for cause in _causes(exc):
        if isinstance(cause, FileNotFoundError):
            return "connection", f"the command was not found: {cause.filename}"
        if isinstance(cause, PermissionError):
            return "connection", f"the command cannot be run: {cause.filename}"
        if isinstance(cause, httpx2.TransportError):
            return "connection", f"cannot connect: {cause}"
    text = str(exc) or type(exc).__name__
    if "Connection closed" in text:
        return "connection", "the server closed the connection before answering"
    bad = [s for s in recorder.statuses if s >= 400]
    if bad:
        return "protocol", f"the server answered HTTP {bad[-1]}: {text}"
    return "protocol", f"the server did not answer as an MCP server: {text}"


async def _connect(
    config: dict[str, Any],
    timeout: float,
    action: Callable[[Client[Any]], Awaitable[Any]],
) -> tuple[Any, float, MCPServerInfo | None]:
    """Run `action` on a fresh connection; (its result, latency in ms, server info)."""
    if config.get("auth") == "oauth":
        raise ProbeFailed("auth", "servers that sign in with OAuth cannot be tested from here")
    from fastmcp import Client

    mask = _masker(config)
    _mask_logs_of_probes()
    masking = _PROBE_MASK.set(mask)
    recorder = _StatusRecorder(config["auth"] if isinstance(config.get("auth"), str) else None)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            client = Client(_transport(config, recorder), timeout=timeout, init_timeout=timeout)
            async with client:
                result = await action(client)
                info = client.server_info
    except TimeoutError:
        raise ProbeFailed("timeout", f"no answer within {timeout:g} s") from None
    except ProbeFailed:
        raise
    except Exception as exc:
        kind, message = _classify(exc, recorder)
        raise ProbeFailed(kind, mask(message)) from None
    finally:
        _PROBE_MASK.reset(masking)
    latency = round((time.perf_counter() - started) * 1000, 1)
    server = MCPServerInfo(name=info.name, version=info.version) if info else None
    return result, latency, server


class ToolCache:
    """Tool lists of stored servers by name, valid while the server's ETag is the same."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[str, MCPToolsOk]] = {}

    def get(self, name: str, etag: str) -> MCPToolsOk | None:
        entry = self._entries.get(name)
        return entry[1] if entry is not None and entry[0] == etag else None

    def put(self, name: str, etag: str, result: MCPToolsOk | MCPProbeFailed) -> None:
        if isinstance(result, MCPToolsOk):
            self._entries[name] = (etag, result)
        else:
            self._entries.pop(name, None)


async def list_tools(config: dict[str, Any], timeout: float) -> MCPToolsOk | MCPProbeFailed:
    """Connect, list the tools, disconnect: the answer of /api/mcp/test and .../tools."""
    try:
        tools, latency, info = await _connect(config, timeout, lambda c: c.list_tools())
    except ProbeFailed as failed:
        return MCPProbeFailed(ok=False, error=failed.message, error_kind=failed.kind)
    return MCPToolsOk(
        ok=True,
        tools=[
            MCPTool(name=t.name, description=t.description, input_schema=t.input_schema)
            for t in tools
        ],
        latency_ms=latency,
        server_info=info,
    )


async def check_health(config: dict[str, Any], timeout: float) -> float:
    """Latency in ms of connecting and listing the tools; ProbeFailed when that fails.

    Listing tools rather than MCP's ping: some servers do not route ping over HTTP, and a
    server that lists its tools is one an agent can use.
    """
    _, latency, _ = await _connect(config, timeout, lambda c: c.list_tools())
    return latency
