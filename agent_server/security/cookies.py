"""The settings page's session cookie: a signed stand-in for the session key it came from.

The cookie holds an expiry and a nonce, signed with a key derived from one session key; it
carries no key and no scope of its own: whoever presents it gets the scope that session key
has now, and it dies with the key. Its name carries the server's port, because cookies ignore
ports and two servers on one host must not log each other out. It is accepted only from the
page's own origin: a request that says it comes from anywhere else gets nothing from it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from starlette.requests import cookie_parser
from starlette.types import Scope

from agent_server.security.guard import normalize_origin, own_origin, request_header

if TYPE_CHECKING:
    from agent_server.security.session_keys import KeyScope

COOKIE_PREFIX = "agent_server_session_"
LIFETIME_SECONDS = 7 * 24 * 3600
_PURPOSE = b"agent-server settings page cookie v1"


def cookie_name(scope: Scope) -> str:
    server = scope.get("server") or (None, None)
    return f"{COOKIE_PREFIX}{server[1]}"


def _signature(session_key: str, payload: str) -> str:
    derived = hmac.new(session_key.encode(), _PURPOSE, hashlib.sha256).digest()
    mac = hmac.new(derived, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def issue_cookie(session_key: str) -> str:
    """A cookie value that stands for `session_key` for LIFETIME_SECONDS."""
    payload = f"{int(time.time()) + LIFETIME_SECONDS}.{secrets.token_urlsafe(16)}"
    return f"{payload}.{_signature(session_key, payload)}"


def set_cookie_header(scope: Scope, value: str, max_age: int = LIFETIME_SECONDS) -> str:
    secure = "; Secure" if scope.get("scheme") == "https" else ""
    return (
        f"{cookie_name(scope)}={value}; Path=/; HttpOnly; SameSite=Strict; "
        f"Max-Age={max_age}{secure}"
    )


def cookie_scope(scope: Scope, keys: Mapping[str, KeyScope]) -> KeyScope | None:
    """The scope the request's page cookie stands for, or None (absent, forged, expired, or
    sent from another origin)."""
    if not _from_the_page(scope):
        return None
    value = cookie_parser(request_header(scope, b"cookie") or "").get(cookie_name(scope))
    if not value:
        return None
    payload, _, signature = value.rpartition(".")
    expiry = payload.partition(".")[0]
    if not expiry.isdigit() or int(expiry) < time.time():
        return None
    matched: KeyScope | None = None
    for key, key_scope in keys.items():  # every key, so timing does not tell which one
        if hmac.compare_digest(signature, _signature(key, payload)):
            matched = key_scope
    return matched


def _from_the_page(scope: Scope) -> bool:
    origin = request_header(scope, b"origin")
    if origin is not None and normalize_origin(origin) != own_origin(scope):
        return False
    site = request_header(scope, b"sec-fetch-site")
    return site is None or site.strip().lower() in ("same-origin", "none")
