"""Session API keys and their scopes: who may call the API, and what each key may do.

Without configured keys the first start writes one `admin` key to `<home>/session.key`, so a
server is never open by default. A key is `read` (GET routes that connect to no MCP server,
secrets redacted), `write` (also every write and every route that connects to an MCP server)
or `admin` (also secrets in `encrypted` or `plaintext` form).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from agent_server.errors import ConfigError
from agent_server.security.cookies import cookie_scope

KeyScope = Literal["read", "write", "admin"]
SCOPES: tuple[KeyScope, ...] = ("read", "write", "admin")
HEADER = "x-session-api-key"
SESSION_KEY_FILE = "session.key"
PROTECTED_PREFIXES = ("/api/", "/mcp")
_SCOPE_KEY = "agent_server.key_scope"  # where the middleware leaves the caller's scope


def parse_session_keys(entries: Iterable[str]) -> dict[str, KeyScope]:
    """`KEY` (admin) or `KEY:read|write|admin` entries by key; ConfigError for any other suffix."""
    keys: dict[str, KeyScope] = {}
    for entry in entries:
        key, sep, scope = entry.rpartition(":")
        if not sep:
            key, scope = entry, "admin"
        if scope not in SCOPES or not key:
            raise ConfigError(
                "AGENT_SERVER_SESSION_API_KEYS takes comma-separated KEY or KEY:SCOPE entries, "
                f"SCOPE one of {', '.join(SCOPES)}; one entry is neither (its value is not shown)"
            )
        keys[key] = scope  # type: ignore[assignment]
    return keys


def login_key(keys: Mapping[str, KeyScope]) -> str:
    """The key a one-time login code stands for: the first of the widest scope."""
    return max(keys, key=lambda key: SCOPES.index(keys[key]))


def find_key(keys: Mapping[str, KeyScope], given: str) -> str | None:
    """The configured key equal to `given`, compared in constant time against every key."""
    found = None
    for key in keys:
        if hmac.compare_digest(given.encode(), key.encode()):
            found = key
    return found


def read_session_key(path: Path) -> str | None:
    """The key in a session.key file, or None when the file is missing or unreadable."""
    try:
        key = path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return key or None


def generate_session_key() -> str:
    """A new random key that never starts with "-", so `--api-key KEY` cannot read it as a flag."""
    while True:
        key = secrets.token_urlsafe(32)
        if not key.startswith("-"):
            return key


def scope_allows(have: KeyScope, needed: KeyScope) -> bool:
    return SCOPES.index(have) >= SCOPES.index(needed)


def out_of_scope(have: KeyScope, needed: KeyScope, what: str) -> HTTPException:
    return HTTPException(
        403, f"{what} needs a session key with the {needed!r} scope; this key has {have!r}"
    )


def request_scope(request: Request) -> KeyScope:
    """The scope of the key that authenticated this request (admin when auth is off)."""
    scope: KeyScope = request.scope.get(_SCOPE_KEY, "admin")
    return scope


def require_scope(request: Request, needed: KeyScope, what: str) -> None:
    have = request_scope(request)
    if not scope_allows(have, needed):
        raise out_of_scope(have, needed, what)


class SessionKeyMiddleware:
    """401 for a protected path without a known X-Session-API-Key (or the settings page's
    cookie, from the page itself); records the caller's scope.

    `keys` None serves without keys (`--no-auth`): every caller is admin.
    """

    def __init__(self, app: ASGIApp, keys: Mapping[str, KeyScope] | None) -> None:
        self.app = app
        self.keys = None if keys is None else dict(keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        protected = scope["type"] == "http" and scope["path"].startswith(PROTECTED_PREFIXES)
        if self.keys is not None and protected:
            given = next((v for k, v in scope["headers"] if k == HEADER.encode()), None)
            if given is not None:
                key = find_key(self.keys, given.decode("latin-1"))
                matched = None if key is None else self.keys[key]
            else:
                matched = cookie_scope(scope, self.keys)
            if matched is None:
                response = JSONResponse(
                    {"detail": "missing or wrong X-Session-API-Key header"}, status_code=401
                )
                await response(scope, receive, send)
                return
            scope[_SCOPE_KEY] = matched
        await self.app(scope, receive, send)


class ScopeGuard:
    """Wraps one route's app: 403 when the caller's key lacks the scope of the method used."""

    def __init__(self, app: ASGIApp, needed: Mapping[str, KeyScope], path: str) -> None:
        self.app = app
        self.needed = dict(needed)
        if "GET" in self.needed:
            self.needed.setdefault("HEAD", self.needed["GET"])
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        needed = self.needed.get(scope.get("method", ""))
        have: KeyScope = scope.get(_SCOPE_KEY, "admin")
        if needed is not None and not scope_allows(have, needed):
            exc = out_of_scope(have, needed, f"{scope['method']} {self.path}")
            await JSONResponse({"detail": exc.detail}, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)
