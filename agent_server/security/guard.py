"""The browser guard: Host, Origin and Content-Type checks before auth and before any route.

A browser lets any page send simple requests to loopback: a `fetch` with a text body needs no
CORS preflight, an `<img>` or a form needs no script at all, and DNS rebinding makes a page's
own origin resolve to 127.0.0.1. Each check here closes one of those doors. Clients that are
not browsers (curl, the sdk, agents) send none of the headers a browser adds, so they pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from agent_server.bodies import is_json_media_type

UNGUARDED_PATHS = frozenset({"/health"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})
_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}
_SHOWN = 100  # characters of a refused header value quoted back in a detail


def _split_host(value: str) -> tuple[str, str | None]:
    """(host, port) of a Host header or an authority; an IPv6 host keeps its brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end == -1:
            return value, None
        host, rest = value[: end + 1], value[end + 1 :]
        return host, rest[1:] if rest.startswith(":") else None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        return value, None
    return host, port


def host_name(address: str) -> str:
    """A bind address as a Host header names it: IPv6 in brackets, lower case."""
    address = address.strip().lower()
    if ":" in address and not address.startswith("["):
        return f"[{address}]"
    return address


def _origin(scheme: str, host: str, port: str | None) -> str:
    if port is None or _DEFAULT_PORTS.get(scheme) == port:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def normalize_origin(value: str) -> str:
    """`scheme://host[:port]` in lower case, the default port dropped, as browsers send it."""
    scheme, sep, rest = value.strip().lower().partition("://")
    if not sep:
        return value.strip().lower()
    host, port = _split_host(rest.rstrip("/"))
    return _origin(scheme, host, port)


@dataclass(frozen=True)
class GuardRules:
    """Which Host and Origin values this server answers to."""

    hosts: frozenset[str]  # host names without ports; any port is accepted
    host_ports: frozenset[str]  # `host:port` entries, accepted with that port only
    origins: frozenset[str]  # normalized origins allowed besides the request's own

    @classmethod
    def build(
        cls, bind_host: str | None, allowed_hosts: Iterable[str], allowed_origins: Iterable[str]
    ) -> GuardRules:
        hosts = set(LOOPBACK_NAMES)
        host_ports = set()
        if bind_host is not None and bind_host.strip() not in WILDCARD_HOSTS:
            hosts.add(host_name(bind_host))
        for entry in allowed_hosts:
            host, port = _split_host(entry)
            if port is None:
                hosts.add(host_name(host))
            else:
                host_ports.add(f"{host}:{port}")
        return cls(
            frozenset(hosts),
            frozenset(host_ports),
            frozenset(normalize_origin(o) for o in allowed_origins),
        )

    def host_allowed(self, host: str, port: str | None) -> bool:
        return host in self.hosts or (port is not None and f"{host}:{port}" in self.host_ports)


def request_header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def own_origin(scope: Scope) -> str:
    """The origin a page served by this request's server has: scheme, Host name and port."""
    host, port = _split_host(request_header(scope, b"host") or "")
    return _origin(scope.get("scheme", "http"), host, port)


def _shown(value: str) -> str:
    return value if len(value) <= _SHOWN else value[:_SHOWN] + "..."


def _has_body(scope: Scope) -> bool:
    length = request_header(scope, b"content-length")
    if length is not None:
        return length.strip() != "0"
    return request_header(scope, b"transfer-encoding") is not None


class RequestGuard:
    """421 for a Host this server does not answer to, 403 for a cross-site browser request,
    415 for a body that does not say it is JSON. `/health` is left alone."""

    def __init__(self, app: ASGIApp, rules: GuardRules) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in UNGUARDED_PATHS:
            refusal = self.refusal(scope)
            if refusal is not None:
                status, detail = refusal
                await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(status, detail) when the request must not reach auth or a route, else None."""
        raw_host = request_header(scope, b"host")
        host, port = _split_host(raw_host or "")
        if raw_host is None or not self.rules.host_allowed(host, port):
            named = f"Host {_shown(raw_host)!r}" if raw_host is not None else "a missing Host"
            return 421, (
                f"this server does not answer to {named}: it answers to localhost, 127.0.0.1, "
                "[::1], the address it was started on with --host, and the names listed in "
                "--allowed-hosts (env AGENT_SERVER_ALLOWED_HOSTS)"
            )
        origin = request_header(scope, b"origin")
        if origin is not None:
            normalized = normalize_origin(origin)
            if normalized != own_origin(scope) and normalized not in self.rules.origins:
                return 403, (
                    f"requests from the web origin {_shown(origin)!r} are refused: only this "
                    "server's own origin and the origins listed in --allowed-origins (env "
                    "AGENT_SERVER_ALLOWED_ORIGINS) may call it from a browser"
                )
        else:
            site = (request_header(scope, b"sec-fetch-site") or "").strip().lower()
            if site in ("cross-site", "same-site"):
                return 403, (
                    "a browser request from another site is refused: a page may call this "
                    "server only from its own origin or one listed in --allowed-origins (env "
                    "AGENT_SERVER_ALLOWED_ORIGINS)"
                )
        if _has_body(scope):
            content_type = request_header(scope, b"content-type")
            if content_type is None or not is_json_media_type(content_type):
                return 415, (
                    "send the body as JSON with Content-Type: application/json "
                    "(or another application/*+json type)"
                )
        return None
