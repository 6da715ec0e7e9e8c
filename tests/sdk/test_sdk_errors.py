"""Every error the server answers reaches the caller as its typed exception."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sdk_support import (
    BASE,
    KEY,
    MANAGED,
    SECRET,
    aexpect,
    expect,
    served_etag,
    stdio,
)
from support import ServerProcess

from sdk import (
    AsyncSettingsClient,
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    MCPServerListResponse,
    NotFound,
    NotModified,
    PreconditionFailed,
    PreconditionRequired,
    SettingsClient,
    Unauthorized,
    ValidationFailed,
)

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
