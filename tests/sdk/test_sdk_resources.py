"""The typed client's settings and MCP server calls, against a real server process."""

from __future__ import annotations

import asyncio

from sdk_support import (
    KEY,
    LLM_SECRET,
    MANAGED,
    SECRET,
    aexpect,
    expect,
    served_etag,
    stdio,
)
from support import MASK, ServerProcess

from sdk import (
    AsyncSettingsClient,
    MCPServerListResponse,
    MCPServerResponse,
    MCPServerSummary,
    NotFound,
    SettingsClient,
    SettingsResponse,
    StdioServerConfig,
)

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
