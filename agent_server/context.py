"""What every route of one app shares: config, store, cipher, servers, registries, tools, probes."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from agent_server.config import Config
from agent_server.probes import ProbeLimiter, ToolCache
from agent_server.registries.catalog import RegistryCatalog
from agent_server.registries.client import RegistryReader
from agent_server.secrets import SecretCipher
from agent_server.security.session_keys import KeyScope
from agent_server.servers import ServerCatalog
from agent_server.store import SettingsStore


@dataclass(frozen=True)
class AppContext:
    config: Config
    store: SettingsStore
    cipher: SecretCipher
    servers: ServerCatalog
    registries: RegistryCatalog
    tools: ToolCache
    probes: ProbeLimiter
    session_keys: dict[str, KeyScope] | None  # None: served without keys (--no-auth)
    registry_reader: RegistryReader


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.context
    return ctx
