"""The OpenAPI document is good enough for a real generator: openapi-python-client's code drives a
live server.

The client is generated into a temp folder from the document the server serves (the same as
docs/openapi.json: tests/test_openapi.py), byte-compiled, imported from there and used against
`python -m agent_server serve` on a loopback port, with real Fernet keys.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.fernet import Fernet
from support import MASK, ServerProcess, cli_env, serving

PACKAGE = "agent_settings_client"
SECRET = "canary-generated-6e0d"


@pytest.fixture(scope="module")
def generated(
    tmp_path_factory: pytest.TempPathFactory, server: ServerProcess
) -> Iterator[ModuleType]:
    """The package generated from the served document, byte-compiled and imported from a temp
    folder (and forgotten afterwards)."""
    out = tmp_path_factory.mktemp("generated")
    generator = Path(sys.executable).parent / "openapi-python-client"
    result = subprocess.run(
        [
            str(generator),
            "generate",
            "--url",
            f"{server.url}/openapi.json",
            "--meta",
            "none",
            "--output-path",
            str(out / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=out,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / PACKAGE / "api" / "mcp_servers").is_dir(), result.stdout + result.stderr
    compiled = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(out / PACKAGE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("generated-server")
    env = cli_env(AGENT_SERVER_SECRET_KEY=Fernet.generate_key().decode())
    yield from serving(root / "home", env=env)


def api(module: str) -> Any:
    """A generated operation module, e.g. api("mcp_servers.put_mcp_server")."""
    return importlib.import_module(f"{PACKAGE}.api.{module}")


def test_the_generated_client_lists_creates_reads_patches_and_deletes(
    generated: ModuleType, server: ServerProcess
) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    client = generated.Client(base_url=server.url, headers=server.headers)
    listing = api("mcp_servers.list_mcp_servers")
    get = api("mcp_servers.get_mcp_server")
    put = api("mcp_servers.put_mcp_server")
    patch = api("mcp_servers.patch_mcp_server")
    delete = api("mcp_servers.delete_mcp_server")

    empty = listing.sync_detailed(client=client)
    assert empty.status_code == HTTPStatus.OK
    assert isinstance(empty.parsed, models.MCPServerListResponse)
    assert empty.parsed.servers == []
    assert empty.parsed.etag == empty.headers["etag"]
    unchanged = listing.sync_detailed(client=client, if_none_match=empty.parsed.etag)
    assert unchanged.status_code == HTTPStatus.NOT_MODIFIED

    body = models.StdioServerConfig(
        command="uvx",
        args=["files-mcp"],
        env=models.StdioServerConfigEnv.from_dict({"TOKEN": SECRET}),
    )
    created = put.sync_detailed("gen-files", client=client, body=body, if_none_match="*")
    assert created.status_code == HTTPStatus.CREATED, created.content
    assert isinstance(created.parsed, models.MCPServerResponse)
    assert created.parsed.name == "gen-files"
    assert created.parsed.source == models.MCPServerResponseSource.USER
    assert created.parsed.config["env"] == {"TOKEN": MASK}
    assert created.parsed.etag == created.headers["etag"]
    assert created.headers["location"] == "/api/settings/mcp-servers/gen-files"
    etag = created.headers["etag"]

    read = get.sync_detailed("gen-files", client=client)
    assert read.status_code == HTTPStatus.OK
    assert isinstance(read.parsed, models.MCPServerResponse)
    assert read.parsed.etag == read.headers["etag"] == etag
    assert read.parsed.config["command"] == "uvx"
    plain = get.sync_detailed(
        "gen-files", client=client, x_expose_secrets=models.GetMcpServerXExposeSecrets.PLAINTEXT
    )
    assert plain.parsed.config["env"] == {"TOKEN": SECRET}
    assert get.sync_detailed("gen-files", client=client, if_none_match=etag).status_code == 304

    summaries = listing.sync_detailed(client=client).parsed.servers
    assert [(s.name, s.etag) for s in summaries] == [("gen-files", etag)]
    assert summaries[0].transport_kind == models.MCPServerSummaryTransportKind.STDIO

    change = models.PatchMcpServerBody.from_dict({"description": "files", "env": {"B": "2"}})
    patched = patch.sync_detailed("gen-files", client=client, body=change, if_match=etag)
    assert patched.status_code == HTTPStatus.OK, patched.content
    assert isinstance(patched.parsed, models.MCPServerResponse)
    assert patched.parsed.etag == patched.headers["etag"] != etag
    assert patched.parsed.config["description"] == "files"
    assert patched.parsed.config["env"] == {"TOKEN": MASK, "B": MASK}

    stale = patch.sync_detailed("gen-files", client=client, body=change, if_match=etag)
    assert stale.status_code == HTTPStatus.PRECONDITION_FAILED
    assert isinstance(stale.parsed, models.ErrorBody)
    assert isinstance(stale.parsed.detail, str)
    assert stale.headers["etag"] == patched.parsed.etag

    stale_delete = delete.sync_detailed("gen-files", client=client, if_match=etag)
    assert stale_delete.status_code == HTTPStatus.PRECONDITION_FAILED
    deleted = delete.sync_detailed("gen-files", client=client, if_match=patched.parsed.etag)
    assert deleted.status_code == HTTPStatus.NO_CONTENT
    assert deleted.content == b""

    # Query parameters are typed arguments.
    tools = api("mcp_connections.get_mcp_server_tools")
    gone = tools.sync_detailed("gen-files", client=client, refresh=True, timeout=5.0)
    assert gone.status_code == HTTPStatus.NOT_FOUND

    missing = get.sync_detailed("gen-files", client=client)
    assert missing.status_code == HTTPStatus.NOT_FOUND
    assert isinstance(missing.parsed, models.ErrorBody)
    assert listing.sync_detailed(client=client).parsed.servers == []


def test_the_generated_client_reads_remote_servers_and_validation_errors(
    generated: ModuleType, server: ServerProcess
) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    client = generated.Client(base_url=server.url, headers=server.headers)
    put = api("mcp_servers.put_mcp_server")

    remote = models.RemoteServerConfig(
        url="https://mcp.example.com/mcp",
        headers=models.RemoteServerConfigHeaders.from_dict({"X-Api-Key": SECRET}),
    )
    created = put.sync_detailed("gen-remote", client=client, body=remote)
    assert created.status_code == HTTPStatus.CREATED, created.content
    # The generated model sends only the fields it was given; the secret comes back masked.
    assert created.parsed.config.to_dict() == {
        "url": "https://mcp.example.com/mcp",
        "headers": {"X-Api-Key": MASK},
    }

    invalid = put.sync_detailed(
        "gen-invalid", client=client, body=models.StdioServerConfig(command="")
    )
    assert invalid.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert isinstance(invalid.parsed, models.ValidationErrorBody)
    assert [(e.loc, e.type_) for e in invalid.parsed.detail] == [(["command"], "string_too_short")]
    assert all(isinstance(e, models.FieldError) for e in invalid.parsed.detail)

    stale = put.sync_detailed("gen-remote", client=client, body=remote, if_match='"not-it"')
    assert stale.status_code == HTTPStatus.PRECONDITION_FAILED
    assert stale.headers["etag"] == created.headers["etag"]
