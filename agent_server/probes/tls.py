"""One TLS context for every connection to an MCP server, made once.

httpx2 makes a new context for each client it builds, and loading the CA store into it costs
about 19 ms of CPU: two thirds of a whole probe of a server on this machine, and minutes when
the catalog first lists thousands of servers. A context is safe to share between connections.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx2

# mcp's own defaults (mcp.shared._httpx_utils): 30 s to connect, write and wait for a pooled
# socket; 300 s to read, since a server may hold an event stream open.
_TIMEOUT = httpx2.Timeout(30.0, read=300.0)
_context: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    """httpx2's own context (its CA store and SSL_CERT_* settings), made on first use."""
    global _context
    if _context is None:
        _context = httpx2.create_ssl_context()
    return _context


def http_client(
    headers: dict[str, str] | None = None,
    timeout: httpx2.Timeout | None = None,
    auth: httpx2.Auth | None = None,
    **_: Any,
) -> httpx2.AsyncClient:
    """mcp's create_mcp_http_client with the shared TLS context, for fastmcp's transports.

    fastmcp passes `follow_redirects=True` too; it is left out, as mcp's own factory leaves
    it: the MCP transports follow a redirect themselves, and only within the server's origin.
    """
    return httpx2.AsyncClient(
        headers=headers, timeout=timeout or _TIMEOUT, auth=auth, verify=tls_context()
    )
