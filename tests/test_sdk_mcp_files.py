"""client.mcp.import_config and export_config, sync and async, against a real server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from format_samples import sample
from support import ServerProcess

from sdk import AsyncSettingsClient, Conflict, ImportResponse, SettingsClient, ValidationFailed

TOKEN = "canary-sdk-token-4d2c"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("sdk") / "home")
    try:
        yield process.wait_ready()
    finally:
        process.stop()


def test_import_then_export_through_the_sync_client(server: ServerProcess) -> None:
    with SettingsClient(server.url, server.api_key) as client:
        plan = client.mcp.import_config(sample("cursor"), dry_run=True)
        assert isinstance(plan, ImportResponse)
        assert (plan.format, plan.written) == ("cursor", False)
        values = {"API_KEY": TOKEN, "MY_SERVICE_TOKEN": "t", "workspaceFolder": "/w"}
        done = client.mcp.import_config(sample("cursor"), format="cursor", values=values)
        assert done.written
        assert [line.action for line in done.servers] == ["create"] * 3
        with pytest.raises(Conflict) as refused:
            client.mcp.import_config(sample("cursor"), values=values)
        assert [line["action"] for line in refused.value.body["servers"]] == ["error"] * 3
        exported = client.mcp.export_config("cursor", servers=["server-name"])
        assert json.loads(exported)["mcpServers"]["server-name"]["env"] == {
            "API_KEY": "${env:SERVER_NAME_API_KEY}"
        }
        plaintext = client.mcp.export_config("cursor", servers=["server-name"], expose="plaintext")
        assert TOKEN in plaintext
        gateway = client.mcp.export_config("vscode", via_gateway=True)
        assert server.api_key not in gateway


def test_the_async_client_imports_and_exports_too(server: ServerProcess) -> None:
    async def run() -> tuple[ImportResponse, str]:
        async with AsyncSettingsClient(server.url, server.api_key) as client:
            with pytest.raises(ValidationFailed) as bad:
                await client.mcp.import_config({"mcpServers": {"x": {"command": 1}}})
            assert "command" in bad.value.body["servers"][0]["reason"]
            answer = await client.mcp.import_config(
                sample("continue"), on_conflict="rename", values={"DOCS_TOKEN": "d"}
            )
            return answer, await client.mcp.export_config("continue", servers=["Docs"])

    answer, text = asyncio.run(run())
    assert answer.format == "continue"
    assert "${{ secrets.DOCS_AUTHORIZATION }}" in text
