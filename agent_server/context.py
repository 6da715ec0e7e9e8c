"""What every route of one app shares: config, store, cipher, servers, registries, tools,
probes, the gateway's tool set, tool pins, the catalog's kept parts and the encoded
whole-collection answers (the server list's and the settings' apart)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from agent_server.config import Config
from agent_server.gateway.catalog import CatalogBuilder
from agent_server.gateway.credentials import HEADER, ClientHeaders, check_given, parse_mcp_headers
from agent_server.gateway.pins import PinStore
from agent_server.gateway.tools import GatewayTools
from agent_server.probes import ProbeLimiter, ToolCache
from agent_server.registries.catalog import RegistryCatalog
from agent_server.registries.client import RegistryReader
from agent_server.rendered import RenderedAnswers
from agent_server.secrets import SecretCipher
from agent_server.security.session_keys import KeyScope
from agent_server.server_list import ServerList
from agent_server.servers import ServerCatalog
from agent_server.settings_answer import SettingsAnswer
from agent_server.stores import Store


@dataclass(frozen=True)
class AppContext:
    config: Config
    store: Store
    cipher: SecretCipher
    servers: ServerCatalog
    registries: RegistryCatalog
    tools: ToolCache
    probes: ProbeLimiter
    session_keys: dict[str, KeyScope] | None  # None: served without keys (--no-auth)
    registry_reader: RegistryReader
    gateway: GatewayTools
    pins: PinStore
    catalog: CatalogBuilder
    rendered: RenderedAnswers
    server_list: ServerList
    settings_answer: SettingsAnswer


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.context
    return ctx


def client_headers(request: Request) -> ClientHeaders:
    """The caller's MCP-HEADERS, parsed and checked against every stored server.

    CredentialError (answered 400) when it is invalid or fills a header that a server does not
    leave to the caller.
    """
    given = parse_mcp_headers(request.headers.get(HEADER))
    if given:
        ctx = context(request)
        stored = ctx.servers.all(ctx.store.read())
        check_given(
            given,
            {name: config for name, (_, config) in stored.items()},
            lambda config: ctx.servers.view(config, "plaintext"),
        )
    return given
