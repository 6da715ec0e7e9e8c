"""What a failed probe reports: an error kind and a message made only of our own words.

A message never quotes an exception or the server: exception text can carry an upstream
response body or a child's output, and so the secrets the server was given, in forms (cut
short, quoted, escaped) that no search for the secret finds. It is built from facts that are
not secret: an HTTP status, an MCP error code, an exception's type name, the command's name.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import httpx2

from sdk.models import MCPProbeFailed, ProbeErrorKind


class ProbeFailed(Exception):
    def __init__(self, kind: ProbeErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def answer(self) -> MCPProbeFailed:
        return MCPProbeFailed(ok=False, error=self.message, error_kind=self.kind)


def _causes(exc: BaseException) -> Generator[BaseException]:
    """The exception, the members of groups and every cause and context, each once."""
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


def timed_out(timeout: float) -> ProbeFailed:
    return ProbeFailed("timeout", f"no answer within {timeout:g} s")


def classify(
    exc: BaseException, statuses: Sequence[int], config: dict[str, Any], timeout: float
) -> ProbeFailed:
    """The kind and our own message for a probe that raised `exc`.

    `statuses` are the HTTP statuses the exchange got (fastmcp reports a 401 as a generic
    error, so they are read from the exchange itself).
    """
    from mcp.shared.exceptions import MCPError  # with fastmcp, loaded by the first probe
    from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

    refused = [s for s in statuses if s in (401, 403)]
    if refused:
        return ProbeFailed("auth", f"the server refused the credentials (HTTP {refused[-1]})")
    causes = list(_causes(exc))
    mcp_errors = [cause for cause in causes if isinstance(cause, MCPError)]
    if any(isinstance(c, TimeoutError) for c in causes) or any(
        e.code == REQUEST_TIMEOUT for e in mcp_errors
    ):
        return timed_out(timeout)
    for cause in causes:
        if isinstance(cause, FileNotFoundError | PermissionError) and "command" in config:
            if config.get("cwd") and cause.filename == config["cwd"]:
                return ProbeFailed("connection", "the working folder (cwd) was not found")
            problem = "was not found" if isinstance(cause, FileNotFoundError) else "cannot be run"
            return ProbeFailed("connection", f"the command {config['command']!r} {problem}")
        if isinstance(cause, httpx2.TransportError):
            return ProbeFailed("connection", f"cannot connect ({type(cause).__name__})")
    if any(e.code == CONNECTION_CLOSED for e in mcp_errors) or any(
        "Connection closed" in str(cause)
        for cause in causes  # read, never quoted
    ):
        return ProbeFailed("connection", "the server closed the connection before answering")
    bad = [s for s in statuses if s >= 400]
    if bad:
        return ProbeFailed("protocol", f"the server answered HTTP {bad[-1]}")
    if mcp_errors:
        return ProbeFailed("protocol", f"the server answered MCP error {mcp_errors[0].code}")
    innermost = next((c for c in causes if not isinstance(c, BaseExceptionGroup)), exc)
    return ProbeFailed(
        "protocol",
        f"the server did not answer as an MCP server ({type(innermost).__name__})",
    )
