"""The gateway's tool set: the tools of every enabled server under gateway names, and calls
routed by those names to the server that owns them.

Servers are read from the store on every request, so a change (from any worker) takes effect
at once; their connections come from the pool. A server that cannot be reached drops out of the
tool set with a logged reason (our own words, as probes give them) and does not fail the others.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_server.gateway.credentials import (
    AUTHORIZATION,
    ClientHeaders,
    CredentialError,
    client_slots,
    fingerprint,
    given_for,
    with_credentials,
)
from agent_server.gateway.names import gateway_names, plain_name
from agent_server.gateway.pins import PinStore
from agent_server.gateway.pool import UpstreamKey, UpstreamPool
from agent_server.gateway.tool_rules import changed_tools, served_tools
from agent_server.probes.failures import ProbeFailed
from agent_server.servers import ServerCatalog
from agent_server.stores import Store

if TYPE_CHECKING:
    import mcp_types

log = logging.getLogger(__name__)

# Seconds a server that failed to start or answer is left out before it is tried again, so a
# hanging server does not hold up every tools/list. A changed config is tried at once.
RETRY_AFTER = 30.0
MEMO_WITH_FAILURES = 1.0  # seconds a tool set with a server left out is remembered
MEMO_LIMIT = 256  # tool sets remembered (one per caller's credentials)


@dataclass(frozen=True)
class ServedServer:
    """An enabled server as the gateway connects to it (its config in plaintext, in memory)."""

    name: str
    etag: str
    config: dict[str, Any]

    def connection(self, given: ClientHeaders) -> tuple[UpstreamKey, dict[str, Any]]:
        """The pool key and the config to connect with, given the caller's credentials.

        ProbeFailed ("auth") when a credential the config leaves to the caller is missing.
        """
        try:
            supplied = given_for(self.name, self.config, given)
        except CredentialError as refused:  # checked at the request's start; never here
            raise ProbeFailed("auth", str(refused)) from None
        config = with_credentials(self.name, self.config, supplied)
        return UpstreamKey(self.name, self.etag, fingerprint(supplied)), config


@dataclass(frozen=True)
class GatewayTool:
    gateway_name: str
    server: str
    tool: mcp_types.Tool


@dataclass(frozen=True)
class ToolSet:
    """The tools served now, and why each server left out is left out."""

    tools: dict[str, GatewayTool]
    failures: dict[str, ProbeFailed]

    def left_out(self, gateway_name: str) -> ProbeFailed | None:
        """Why the server a name not served would belong to is left out, if it is."""
        for server, failure in self.failures.items():
            if gateway_name.startswith(plain_name(server, "")):
                return failure
        return None


@dataclass(frozen=True)
class Route:
    """A call's way: the tool, and its server's pool key and config for this caller."""

    tool: GatewayTool
    key: UpstreamKey
    config: dict[str, Any]


class UnknownTool(LookupError):
    pass


def unavailable(failed: ProbeFailed) -> str:
    """The tool error of a call whose server gave no answer (our own words only)."""
    return f"the MCP server is unavailable ({failed.kind}): {failed.message}"


class GatewayTools:
    def __init__(
        self,
        store: Store,
        servers: ServerCatalog,
        pool: UpstreamPool,
        pins: PinStore,
        timeout: float,
    ) -> None:
        self.store = store
        self.servers = servers
        self.pool = pool
        self.pins = pins
        self.timeout = timeout
        self._failed: dict[UpstreamKey, tuple[float, ProbeFailed]] = {}
        self._served: tuple[object, dict[str, ServedServer]] | None = None
        # The last tool set per caller's credentials: (served, pool and pin state, valid
        # until, tool set). Most requests are answered from it: a tool call looks its name up.
        self._sets: dict[str, tuple[object, object, float, ToolSet]] = {}

    def served(self) -> dict[str, ServedServer]:
        """Every enabled server (user and managed), by name; the same object while the stored
        document is the same one."""
        document = self.store.read()
        if self._served is not None and self._served[0] is document:
            return self._served[1]
        served = {
            name: ServedServer(
                name, self.servers.etag(name, config), self.servers.view(config, "plaintext")
            )
            for name, (_, config) in sorted(self.servers.all(document).items())
            if config.get("enabled", True) is not False
        }
        self._served = (document, served)
        return served

    def fingerprint(self) -> frozenset[tuple[str, str]]:
        """(name, ETag) of every served server: it changes when the served set changes."""
        return frozenset((s.name, s.etag) for s in self.served().values())

    async def _list(
        self, server: ServedServer, given: ClientHeaders
    ) -> list[mcp_types.Tool] | ProbeFailed:
        try:
            key, config = server.connection(given)
        except ProbeFailed as missing:  # not this caller's to fix in the log
            return missing
        failed = self._failed.get(key)
        if failed is not None and time.monotonic() < failed[0]:
            return failed[1]
        try:
            async with self.pool.lease(key, config, self.timeout) as upstream:
                tools = await upstream.list_tools(self.timeout)
        except ProbeFailed as failure:
            self._failed[key] = (time.monotonic() + RETRY_AFTER, failure)
            log.warning(
                "MCP server %r left out of the gateway for %g s: %s (%s)",
                server.name,
                RETRY_AFTER,
                failure.message,
                failure.kind,
            )
            return failure
        self._failed.pop(key, None)
        return tools

    async def tool_set(self, given: ClientHeaders) -> ToolSet:
        """The tools this caller (with its credentials) is served.

        Remembered while the served servers, the open connections (and their tool lists) and
        the pins are the same; with a server left out, for a second at most, so its retry
        comes when due.
        """
        served = self.served()
        memo_key = fingerprint({"given": json.dumps(given, sort_keys=True)}) if given else ""
        memo = self._sets.get(memo_key)
        state = (self.pool.state(), self.pins.stamp())
        fresh = memo is not None and memo[0] is served and memo[1] == state
        if memo is not None and fresh and time.monotonic() < memo[2]:
            return memo[3]
        found = await self._tool_set(served, given)
        until = time.monotonic() + MEMO_WITH_FAILURES if found.failures else math.inf
        if len(self._sets) >= MEMO_LIMIT:
            self._sets.clear()
        self._sets[memo_key] = (served, (self.pool.state(), self.pins.stamp()), until, found)
        return found

    async def _tool_set(self, served: dict[str, ServedServer], given: ClientHeaders) -> ToolSet:
        current = {(s.name, s.etag) for s in served.values()}
        await self.pool.keep_only(current)
        self._failed = {k: v for k, v in self._failed.items() if (k.name, k.etag) in current}
        listed = await asyncio.gather(*(self._list(server, given) for server in served.values()))
        found = {
            name: result
            for name, result in zip(served, listed, strict=True)
            if not isinstance(result, ProbeFailed)
        }
        changed = changed_tools(self.pins, found)  # first-seen tools pinned in one write
        found = {
            name: served_tools(served[name].config, tools, changed[name])
            for name, tools in found.items()
        }
        names = gateway_names(
            (server, tool.name) for server, tools in found.items() for tool in tools
        )
        return ToolSet(
            tools={
                names[(server, tool.name)]: GatewayTool(names[(server, tool.name)], server, tool)
                for server, tools in found.items()
                for tool in tools
            },
            failures={
                name: result
                for name, result in zip(served, listed, strict=True)
                if isinstance(result, ProbeFailed)
            },
        )

    def with_bearer(self, gateway_name: str, given: ClientHeaders, token: str) -> ClientHeaders:
        """llama-stack's bare token: `Bearer <token>` as the Authorization of each server the
        gateway name can belong to whose config leaves Authorization to the caller."""
        out = dict(given)
        for server in self.served().values():
            owns = gateway_name.startswith(plain_name(server.name, ""))
            if owns and "authorization" in client_slots(server.config):
                supplied = given_for(server.name, server.config, given)
                out[server.name] = {**supplied, AUTHORIZATION: f"Bearer {token}"}
        return out

    async def route(self, gateway_name: str, given: ClientHeaders) -> Route:
        """Where a call goes: the tool and the connection of its server, for this caller.

        UnknownTool, or ProbeFailed when its server is left out (or lacks a credential).
        """
        tool_set = await self.tool_set(given)
        found = tool_set.tools.get(gateway_name)
        if found is None:
            raise tool_set.left_out(gateway_name) or UnknownTool(gateway_name)
        key, config = self.served()[found.server].connection(given)
        return Route(found, key, config)

    async def call(
        self, gateway_name: str, arguments: dict[str, Any], timeout: float, given: ClientHeaders
    ) -> mcp_types.CallToolResult:
        """The owning server's answer; UnknownTool, or ProbeFailed when it gives none."""
        route = await self.route(gateway_name, given)
        async with self.pool.lease(route.key, route.config, self.timeout) as upstream:
            return await upstream.call_tool(route.tool.tool.name, arguments, timeout)

    async def call_raw(
        self, route: Route, arguments: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """The owning server's result as it sent it; ProbeFailed when it gives none."""
        async with self.pool.lease(route.key, route.config, self.timeout) as upstream:
            return await upstream.call_raw(route.tool.tool.name, arguments, timeout)
