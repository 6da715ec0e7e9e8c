"""What the sdk suites share: the canaries and configs they store through the typed client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from support import ServerProcess

from sdk import (
    SettingsAPIError,
)

KEY = "k1"
MANAGED = "admin-tools"
SECRET = "canary-sdk-secret-4b1e"
LLM_SECRET = "canary-sdk-llm-77d0"
BASE = "/api/settings/mcp-servers"

E = TypeVar("E", bound=SettingsAPIError)


def served_etag(server: ServerProcess, name: str) -> str:
    """The ETag header of a raw GET, to compare with what the sdk models carry."""
    response = httpx.get(f"{server.url}{BASE}/{name}", headers={"X-Session-API-Key": KEY})
    assert response.status_code == 200, response.text
    return response.headers["etag"]


def stdio(**env: str) -> dict[str, Any]:
    return {"command": "uvx", "args": ["files-mcp"], "env": dict(env)}


def expect(error: type[E], status: int, call: Callable[[], object]) -> E:
    """The typed error `call` raises; it is a SettingsAPIError with the status of its class."""
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, SettingsAPIError)
    assert info.value.status_code == status
    return info.value


async def aexpect(error: type[E], status: int, call: Awaitable[object]) -> E:
    with pytest.raises(error) as info:
        await call
    assert isinstance(info.value, SettingsAPIError)
    assert info.value.status_code == status
    return info.value
