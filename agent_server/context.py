"""What every route of one app shares: its config, store, cipher and server catalog."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from agent_server.config import Config
from agent_server.probe import ToolCache
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


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.context
    return ctx
