"""update(): read, change, write with If-Match and retry on 412; and the package as installed."""

from __future__ import annotations

import asyncio
import importlib.resources
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable
from typing import Any

from sdk_support import (
    KEY,
    SECRET,
    aexpect,
    expect,
    served_etag,
    stdio,
)
from support import MASK, ROOT, ServerProcess

from sdk import (
    AsyncSettingsClient,
    MCPServerResponse,
    PreconditionFailed,
    SettingsClient,
)

# --- update(): read, change, write with If-Match, retry on 412 ------------------------------

UPDATES = 15
# Each lost race of one updater is a write the other one won, so with two updaters of UPDATES
# writes each, UPDATES + 1 attempts always suffice; the default (10) could run out by chance.
ATTEMPTS = UPDATES + 1


def increment(who: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(config: dict[str, Any]) -> dict[str, Any]:
        env = config["env"]
        env["COUNT"] = str(int(env["COUNT"]) + 1)
        env[who] = str(int(env.get(who, "0")) + 1)
        return config

    return change


def test_concurrent_updates_from_threads_all_apply(
    api: SettingsClient, server: ServerProcess
) -> None:
    api.mcp_servers.put("sdk-counter", stdio(COUNT="0", TOKEN=SECRET))
    failures: list[BaseException] = []

    def updater(who: str) -> None:
        try:
            with SettingsClient(server.url, api_key=KEY) as client:
                for _ in range(UPDATES):
                    client.mcp_servers.update(
                        "sdk-counter", increment(who), expose="plaintext", attempts=ATTEMPTS
                    )
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=updater, args=(who,)) for who in ("A", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    env = api.mcp_servers.get("sdk-counter", expose="plaintext").config["env"]
    assert env == {"COUNT": str(2 * UPDATES), "A": str(UPDATES), "B": str(UPDATES), "TOKEN": SECRET}


def test_concurrent_async_updates_all_apply(server: ServerProcess) -> None:
    async def scenario() -> dict[str, Any]:
        async with AsyncSettingsClient(server.url, api_key=KEY) as client:
            await client.mcp_servers.put("sdk-async-counter", stdio(COUNT="0"))

            async def updater(who: str) -> None:
                for _ in range(UPDATES):
                    await client.mcp_servers.update(
                        "sdk-async-counter", increment(who), expose="plaintext", attempts=ATTEMPTS
                    )

            await asyncio.gather(updater("A"), updater("B"))
            read = await client.mcp_servers.get("sdk-async-counter", expose="plaintext")
            return read.config["env"]

    env = asyncio.run(scenario())
    assert env == {"COUNT": str(2 * UPDATES), "A": str(UPDATES), "B": str(UPDATES)}


def test_update_keeps_masked_secrets_when_reading_redacted(api: SettingsClient) -> None:
    api.mcp_servers.put("sdk-update-redacted", stdio(TOKEN=SECRET))

    def describe(config: dict[str, Any]) -> dict[str, Any]:
        assert config["env"] == {"TOKEN": MASK}
        return {**config, "description": "updated"}

    updated = api.mcp_servers.update("sdk-update-redacted", describe)
    assert isinstance(updated, MCPServerResponse)
    read = api.mcp_servers.get("sdk-update-redacted", expose="plaintext")
    assert read.config["env"] == {"TOKEN": SECRET}
    assert read.config["description"] == "updated"
    assert read.etag == updated.etag


def test_update_gives_up_after_its_attempts(api: SettingsClient, server: ServerProcess) -> None:
    api.mcp_servers.put("sdk-always-stale", stdio(N="0"))
    calls: list[dict[str, Any]] = []

    with SettingsClient(server.url, api_key=KEY) as rival:

        def lose_the_race(config: dict[str, Any]) -> dict[str, Any]:
            calls.append(config)
            rival.mcp_servers.patch("sdk-always-stale", {"env": {"N": str(len(calls))}})
            return {**config, "description": "never written"}

        error = expect(
            PreconditionFailed,
            412,
            lambda: api.mcp_servers.update(
                "sdk-always-stale", lose_the_race, expose="plaintext", attempts=3
            ),
        )
    assert len(calls) == 3
    assert [c["env"]["N"] for c in calls] == ["0", "1", "2"]
    final = api.mcp_servers.get("sdk-always-stale", expose="plaintext")
    assert error.etag == final.etag
    assert final.config["env"] == {"N": "3"}
    assert "description" not in final.config


def test_async_update_gives_up_after_its_attempts(server: ServerProcess) -> None:
    calls = 0

    async def scenario() -> PreconditionFailed:
        async with AsyncSettingsClient(server.url, api_key=KEY) as client:
            await client.mcp_servers.put("sdk-async-always-stale", stdio(N="0"))
            with SettingsClient(server.url, api_key=KEY) as rival:

                def lose_the_race(config: dict[str, Any]) -> dict[str, Any]:
                    nonlocal calls
                    calls += 1
                    rival.mcp_servers.patch("sdk-async-always-stale", {"env": {"N": str(calls)}})
                    return config

                return await aexpect(
                    PreconditionFailed,
                    412,
                    client.mcp_servers.update("sdk-async-always-stale", lose_the_race, attempts=2),
                )

    error = asyncio.run(scenario())
    assert calls == 2
    assert error.etag == served_etag(server, "sdk-async-always-stale")


# --- packaging ------------------------------------------------------------------------------


def test_sdk_ships_py_typed_and_passes_mypy_strict() -> None:
    assert importlib.resources.files("sdk").joinpath("py.typed").is_file()
    assert (ROOT / "sdk" / "py.typed").is_file()
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "sdk"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout


def test_sdk_package_data_declares_py_typed() -> None:
    """An installed sdk carries py.typed only if the package data names it."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["sdk"]
