"""The Python sdk against real server processes: SettingsClient and AsyncSettingsClient.

Every call goes over HTTP to `python -m agent_server serve` on a loopback port, with real Fernet
keys in a temp home. One server per configuration is started for the whole module; each test
uses its own server names.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import subprocess
import sys
import threading
import tomllib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from support import MASK, ROOT, ServerProcess, client_test_servers, serving_together

from sdk import (
    AsyncSettingsClient,
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    MCPServerListResponse,
    MCPServerResponse,
    MCPServerSummary,
    NotFound,
    NotModified,
    PreconditionFailed,
    PreconditionRequired,
    SettingsAPIError,
    SettingsClient,
    SettingsResponse,
    StdioServerConfig,
    Unauthorized,
    ValidationFailed,
)

KEY = "k1"
MANAGED = "admin-tools"
SECRET = "canary-sdk-secret-4b1e"
LLM_SECRET = "canary-sdk-llm-77d0"
BASE = "/api/settings/mcp-servers"

E = TypeVar("E", bound=SettingsAPIError)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ...]]:
    """Three homes, started at once: main, strict and acp (see the fixtures below)."""
    root = tmp_path_factory.mktemp("sdk")
    yield from serving_together(*client_test_servers(root, MANAGED, KEY))


@pytest.fixture(scope="module")
def server(servers: tuple[ServerProcess, ...]) -> ServerProcess:
    """Session key k1, and one managed server (admin-tools) from an administrator's file."""
    return servers[0]


@pytest.fixture(scope="module")
def strict_server(servers: tuple[ServerProcess, ...]) -> ServerProcess:
    """--require-preconditions."""
    return servers[1]


@pytest.fixture(scope="module")
def acp_server(servers: tuple[ServerProcess, ...]) -> ServerProcess:
    """A home of its own: the test that uses it switches the agent kind to acp."""
    return servers[2]


@pytest.fixture
def api(server: ServerProcess) -> Iterator[SettingsClient]:
    with SettingsClient(server.url, api_key=KEY) as client:
        yield client


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


# --- settings -------------------------------------------------------------------------------


def test_settings_patch_and_get_return_settings_models(api: SettingsClient) -> None:
    patched = api.settings.patch(
        {"llm": {"model": "gpt-sdk", "api_key": LLM_SECRET}}, {"theme": "dark"}
    )
    assert isinstance(patched, SettingsResponse)
    assert patched.agent_settings["llm"]["model"] == "gpt-sdk"
    assert patched.agent_settings["llm"]["api_key"] == MASK
    assert patched.llm_api_key_is_set is True
    assert patched.misc_settings["theme"] == "dark"

    read = api.settings.get()
    assert isinstance(read, SettingsResponse)
    assert read.agent_settings["llm"] == patched.agent_settings["llm"]
    assert read.misc_settings["theme"] == "dark"
    assert api.settings.get(expose="plaintext").agent_settings["llm"]["api_key"] == LLM_SECRET


def test_async_settings_patch_and_get_return_settings_models(server: ServerProcess) -> None:
    async def scenario() -> tuple[SettingsResponse, SettingsResponse]:
        async with AsyncSettingsClient(server.url, api_key=KEY) as client:
            patched = await client.settings.patch(misc_settings_diff={"async_theme": "light"})
            return patched, await client.settings.get()

    patched, read = asyncio.run(scenario())
    assert isinstance(patched, SettingsResponse)
    assert isinstance(read, SettingsResponse)
    assert patched.misc_settings["async_theme"] == "light"
    assert read.misc_settings["async_theme"] == "light"


# --- MCP servers: the happy paths -----------------------------------------------------------


def test_put_get_list_patch_delete_return_models_with_the_served_etag(
    api: SettingsClient, server: ServerProcess
) -> None:
    created = api.mcp_servers.put("sdk-crud", stdio(TOKEN=SECRET), if_none_match="*")
    assert isinstance(created, MCPServerResponse)
    assert (created.name, created.source) == ("sdk-crud", "user")
    assert created.config == {"command": "uvx", "args": ["files-mcp"], "env": {"TOKEN": MASK}}
    assert created.etag == served_etag(server, "sdk-crud")

    read = api.mcp_servers.get("sdk-crud")
    assert isinstance(read, MCPServerResponse)
    assert read.etag == created.etag
    assert read.config["env"] == {"TOKEN": MASK}
    assert api.mcp_servers.get("sdk-crud", expose="plaintext").config["env"] == {"TOKEN": SECRET}
    token = api.mcp_servers.get("sdk-crud", expose="encrypted").config["env"]["TOKEN"]
    assert token not in (SECRET, MASK)
    assert api.mcp_servers.get("sdk-crud", if_match=created.etag).etag == created.etag

    listing = api.mcp_servers.list()
    assert isinstance(listing, MCPServerListResponse)
    by_name = {s.name: s for s in listing.servers}
    assert isinstance(by_name["sdk-crud"], MCPServerSummary)
    assert by_name["sdk-crud"].etag == created.etag
    assert by_name["sdk-crud"].transport_kind == "stdio"
    assert by_name[MANAGED].source == "managed"

    patched = api.mcp_servers.patch(
        "sdk-crud", {"env": {"EXTRA": "x"}, "description": "files"}, if_match=created.etag
    )
    assert isinstance(patched, MCPServerResponse)
    assert patched.etag != created.etag
    assert patched.etag == served_etag(server, "sdk-crud")
    assert patched.config["env"] == {"TOKEN": MASK, "EXTRA": MASK}
    assert patched.config["description"] == "files"

    model = StdioServerConfig(command="node", args=["server.js"])
    replaced = api.mcp_servers.put("sdk-crud", model, if_match=patched.etag)
    assert replaced.config == {"command": "node", "args": ["server.js"]}
    assert replaced.etag == served_etag(server, "sdk-crud")

    assert api.mcp_servers.delete("sdk-crud", if_match=replaced.etag) is None
    expect(NotFound, 404, lambda: api.mcp_servers.get("sdk-crud"))
    assert "sdk-crud" not in {s.name for s in api.mcp_servers.list().servers}


def test_async_client_put_get_list_patch_delete(server: ServerProcess) -> None:
    async def scenario() -> None:
        async with AsyncSettingsClient(server.url, api_key=KEY) as client:
            servers = client.mcp_servers
            created = await servers.put("sdk-async-crud", stdio(TOKEN=SECRET), if_none_match="*")
            assert isinstance(created, MCPServerResponse)
            assert created.config["env"] == {"TOKEN": MASK}
            assert created.etag == served_etag(server, "sdk-async-crud")

            read = await servers.get("sdk-async-crud", expose="plaintext")
            assert read.config["env"] == {"TOKEN": SECRET}
            assert read.etag == created.etag

            listing = await servers.list()
            assert isinstance(listing, MCPServerListResponse)
            assert {s.name: s.etag for s in listing.servers}["sdk-async-crud"] == created.etag

            patched = await servers.patch(
                "sdk-async-crud", {"enabled": False}, if_match=created.etag
            )
            assert patched.config["enabled"] is False
            assert patched.etag == served_etag(server, "sdk-async-crud")

            assert await servers.delete("sdk-async-crud", if_match=patched.etag) is None
            await aexpect(NotFound, 404, servers.get("sdk-async-crud"))

    asyncio.run(scenario())


# --- every error class as its typed exception -----------------------------------------------


def test_not_found_is_raised_for_a_missing_server(api: SettingsClient) -> None:
    error = expect(NotFound, 404, lambda: api.mcp_servers.get("sdk-missing"))
    assert "sdk-missing" in str(error.detail)
    expect(NotFound, 404, lambda: api.mcp_servers.patch("sdk-missing", {"enabled": False}))
    expect(NotFound, 404, lambda: api.mcp_servers.delete("sdk-missing"))


def test_async_not_found_is_raised_for_a_missing_server(server: ServerProcess) -> None:
    async def scenario() -> None:
        async with AsyncSettingsClient(server.url, api_key=KEY) as client:
            await aexpect(NotFound, 404, client.mcp_servers.get("sdk-async-missing"))
            await aexpect(NotFound, 404, client.mcp_servers.patch("sdk-async-missing", {}))
            await aexpect(NotFound, 404, client.mcp_servers.delete("sdk-async-missing"))

    asyncio.run(scenario())


def test_precondition_failed_carries_the_current_etag(
    api: SettingsClient, server: ServerProcess
) -> None:
    stale = api.mcp_servers.put("sdk-412", stdio(TOKEN=SECRET)).etag
    current = api.mcp_servers.patch("sdk-412", {"args": ["v2"], "env": {"TOKEN": SECRET}}).etag
    assert current != stale

    for write in (
        lambda: api.mcp_servers.patch("sdk-412", {"args": ["v3"]}, if_match=stale),
        lambda: api.mcp_servers.put("sdk-412", stdio(), if_match=stale),
        lambda: api.mcp_servers.put("sdk-412", stdio(), if_none_match="*"),
        lambda: api.mcp_servers.delete("sdk-412", if_match=stale),
        lambda: api.mcp_servers.get("sdk-412", if_match=stale),
    ):
        error = expect(PreconditionFailed, 412, write)
        assert error.etag == current == served_etag(server, "sdk-412")
    assert api.mcp_servers.get("sdk-412").config["args"] == ["v2"]


def test_async_precondition_failed_carries_the_current_etag(server: ServerProcess) -> None:
    async def scenario() -> None:
        async with AsyncSettingsClient(server.url, api_key=KEY) as client:
            stale = (await client.mcp_servers.put("sdk-async-412", stdio())).etag
            current = (await client.mcp_servers.patch("sdk-async-412", {"args": ["v2"]})).etag
            error = await aexpect(
                PreconditionFailed,
                412,
                client.mcp_servers.patch("sdk-async-412", {"args": ["v3"]}, if_match=stale),
            )
            assert error.etag == current == served_etag(server, "sdk-async-412")
            error = await aexpect(
                PreconditionFailed, 412, client.mcp_servers.delete("sdk-async-412", if_match=stale)
            )
            assert error.etag == current

    asyncio.run(scenario())


def test_validation_failed_lists_field_errors_naming_the_field(api: SettingsClient) -> None:
    error = expect(ValidationFailed, 422, lambda: api.mcp_servers.put("sdk-422", {"command": ""}))
    assert error.errors
    assert all(isinstance(e, FieldError) for e in error.errors)
    assert [e.loc for e in error.errors] == [["command"]]

    bad_env = {"command": "uvx", "env": {"TOKEN": 12}}
    error = expect(ValidationFailed, 422, lambda: api.mcp_servers.put("sdk-422", bad_env))
    assert [e.loc for e in error.errors] == [["env", "TOKEN"]]
    expect(NotFound, 404, lambda: api.mcp_servers.get("sdk-422"))


def test_async_validation_failed_lists_field_errors(server: ServerProcess) -> None:
    async def scenario() -> ValidationFailed:
        async with AsyncSettingsClient(server.url, api_key=KEY) as client:
            await client.mcp_servers.put("sdk-async-422", {"url": "https://mcp.example.com/mcp"})
            return await aexpect(
                ValidationFailed,
                422,
                client.mcp_servers.patch("sdk-async-422", {"url": "ftp://mcp.example.com"}),
            )

    error = asyncio.run(scenario())
    assert all(isinstance(e, FieldError) for e in error.errors)
    assert [e.loc for e in error.errors] == [["url"]]


def test_not_modified_when_if_none_match_holds_the_current_etag(api: SettingsClient) -> None:
    etag = api.mcp_servers.put("sdk-304", stdio()).etag
    error = expect(NotModified, 304, lambda: api.mcp_servers.get("sdk-304", if_none_match=etag))
    assert error.etag == etag
    assert api.mcp_servers.get("sdk-304", if_none_match='"other"').etag == etag


def test_the_list_carries_its_etag_and_answers_not_modified_while_it_holds(
    api: SettingsClient, server: ServerProcess
) -> None:
    listing = api.mcp_servers.list()
    assert (
        listing.etag
        == httpx.get(server.url + BASE, headers={"X-Session-API-Key": KEY}).headers["etag"]
    )
    error = expect(NotModified, 304, lambda: api.mcp_servers.list(if_none_match=listing.etag))
    assert error.etag == listing.etag

    api.mcp_servers.put("sdk-list-etag", stdio())
    changed = api.mcp_servers.list(if_none_match=listing.etag)
    assert changed.etag != listing.etag
    assert "sdk-list-etag" in [s.name for s in changed.servers]

    async def scenario() -> NotModified:
        async with AsyncSettingsClient(server.url, api_key=KEY) as client:
            current = await client.mcp_servers.list()
            assert current.etag == changed.etag
            return await aexpect(
                NotModified, 304, client.mcp_servers.list(if_none_match=current.etag)
            )

    assert asyncio.run(scenario()).etag == changed.etag


def test_bad_request_for_an_invalid_server_name(api: SettingsClient) -> None:
    error = expect(BadRequest, 400, lambda: api.mcp_servers.get("bad name"))
    assert "name" in str(error.detail)
    expect(BadRequest, 400, lambda: api.mcp_servers.put("bad name", stdio()))
    expect(BadRequest, 400, lambda: api.mcp_servers.get("x" * 129))


@pytest.mark.parametrize("name", ["a/b", "sdk-slash/tools", "sdk-slash/health"])
def test_a_name_with_a_slash_is_a_bad_request(api: SettingsClient, name: str) -> None:
    """The sdk sends the name as one path segment (a%2Fb); it must not reach another route."""
    expect(BadRequest, 400, lambda: api.mcp_servers.get(name))
    expect(BadRequest, 400, lambda: api.mcp_servers.put(name, stdio()))
    expect(BadRequest, 400, lambda: api.mcp_servers.delete(name))


@pytest.mark.parametrize("name", [".", ".."])
def test_a_dot_name_is_addressable_or_a_bad_request(api: SettingsClient, name: str) -> None:
    """SERVER_NAME_PATTERN allows "." and "..": the sdk must reach such a server or refuse it."""
    try:
        created = api.mcp_servers.put(name, stdio())
    except BadRequest:
        expect(BadRequest, 400, lambda: api.mcp_servers.get(name))
        return
    try:
        assert created.name == name
        assert api.mcp_servers.get(name).etag == created.etag
    finally:
        api.settings.patch({"mcp_config": {"mcpServers": {name: None}}})


def test_unauthorized_without_the_session_api_key(server: ServerProcess) -> None:
    with SettingsClient(server.url) as anonymous:
        expect(Unauthorized, 401, anonymous.mcp_servers.list)
        expect(Unauthorized, 401, lambda: anonymous.mcp_servers.put("sdk-401", stdio()))
    with SettingsClient(server.url, api_key="k2") as wrong:
        expect(Unauthorized, 401, wrong.settings.get)
    with SettingsClient(server.url, api_key=KEY) as keyed:
        assert keyed.mcp_servers.put("sdk-401", stdio()).name == "sdk-401"
        assert isinstance(keyed.mcp_servers.list(), MCPServerListResponse)


def test_forbidden_to_write_a_managed_server(api: SettingsClient) -> None:
    managed = api.mcp_servers.get(MANAGED)
    assert (managed.source, managed.config["command"]) == ("managed", "admin-tool")
    expect(Forbidden, 403, lambda: api.mcp_servers.put(MANAGED, stdio()))
    expect(Forbidden, 403, lambda: api.mcp_servers.patch(MANAGED, {"enabled": False}))
    expect(Forbidden, 403, lambda: api.mcp_servers.delete(MANAGED))
    assert api.mcp_servers.get(MANAGED).etag == managed.etag


def test_conflict_when_the_agent_kind_is_acp(acp_server: ServerProcess) -> None:
    with SettingsClient(acp_server.url, api_key=KEY) as client:
        assert client.mcp_servers.put("sdk-before-acp", stdio()).name == "sdk-before-acp"
        switched = client.settings.patch({"agent_kind": "acp", "acp_server": "x"})
        assert switched.agent_settings["agent_kind"] == "acp"
        error = expect(Conflict, 409, lambda: client.mcp_servers.put("sdk-409", stdio()))
        assert "openhands" in str(error.detail)
        expect(Conflict, 409, lambda: client.mcp_servers.patch("sdk-before-acp", {}))


def test_precondition_required_by_a_strict_server(strict_server: ServerProcess) -> None:
    with SettingsClient(strict_server.url, api_key=KEY) as client:
        expect(PreconditionRequired, 428, lambda: client.mcp_servers.put("sdk-428", stdio()))
        created = client.mcp_servers.put("sdk-428", stdio(), if_none_match="*")
        expect(PreconditionRequired, 428, lambda: client.mcp_servers.patch("sdk-428", {"args": []}))
        expect(PreconditionRequired, 428, lambda: client.mcp_servers.delete("sdk-428"))
        patched = client.mcp_servers.patch("sdk-428", {"args": []}, if_match=created.etag)
        client.mcp_servers.delete("sdk-428", if_match=patched.etag)
        expect(NotFound, 404, lambda: client.mcp_servers.get("sdk-428"))


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
