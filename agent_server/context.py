"""What every route of one app shares: config, store, cipher, servers, tools, probe limiter,
the gateway's tool set."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from agent_server.config import Config
from agent_server.gateway.tools import GatewayTools
from agent_server.probes import ProbeLimiter, ToolCache
from agent_server.secrets import SecretCipher
from agent_server.servers import ServerCatalog
from agent_server.store import SettingsStore


@dataclass(frozen=True)
class AppContext:
    config: Config
    store: SettingsStore
    cipher: SecretCipher
    servers: ServerCatalog
    tools: ToolCache
    probes: ProbeLimiter
    gateway: GatewayTools


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.context
    return ctx
