"""`agent-server mcp registry|search|install|upgrade` against a real server and the fake
registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from conftest import FakeRegistry
from support import ROOT, ServerProcess, cli_env, run_cli, serving

TOKEN = "canary-cli-registry-2f6b"
FILES_TOKEN = "canary-cli-files-90ad"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("cli") / "home"
    yield from serving(home, "--registry-timeout", "1", env=cli_env())


def mcp(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("mcp", *args, "--url", server.url, "--api-key", server.api_key or "")


def test_registry_list_add_remove(server: ServerProcess, fake_registry: FakeRegistry) -> None:
    added = mcp(
        server, "registry", "add", "cli", fake_registry.url("main"), "--header", f"X-K={TOKEN}"
    )
    assert added.returncode == 0, added.stderr
    listed = mcp(server, "registry", "list")
    assert listed.returncode == 0
    assert "cli" in listed.stdout and "official" in listed.stdout
    as_json = json.loads(mcp(server, "registry", "list", "--json").stdout)
    assert {r["id"] for r in as_json["registries"]} >= {"cli", "official"}
    again = mcp(server, "registry", "add", "cli", fake_registry.url("main"))
    assert again.returncode == 15  # PreconditionFailed: it exists
    assert mcp(server, "registry", "remove", "cli").returncode == 0
    for result in (added, listed, again):
        assert TOKEN not in result.stdout + result.stderr


def test_search_install_and_upgrade(server: ServerProcess, fake_registry: FakeRegistry) -> None:
    mcp(server, "registry", "add", "fake", fake_registry.url("main"))

    found = mcp(server, "search", "oci", "--registry", "fake")
    assert found.returncode == 0, found.stderr
    assert "io.example/oci-db" in found.stdout and "oci" in found.stdout
    missing = mcp(server, "install", "io.example/npm-files", "--registry", "fake")
    assert missing.returncode == 16
    assert "inputs.root" in missing.stderr and "inputs.FILES_TOKEN" in missing.stderr
    installed = mcp(
        server,
        *("install", "io.example/npm-files", "--registry", "fake", "--as", "files"),
        *("--input", "root=/srv", "--input", f"FILES_TOKEN={FILES_TOKEN}"),
    )
    assert installed.returncode == 0, installed.stderr
    assert "@example/files-mcp@1.2.0" in installed.stdout
    assert FILES_TOKEN not in installed.stdout
    upgraded = mcp(server, "upgrade", "files")
    assert upgraded.returncode == 0, upgraded.stderr
    assert mcp(server, "install", "x/y", "--input", "novalue").returncode == 2


def test_failing_registries_have_their_exit_codes(
    server: ServerProcess, fake_registry: FakeRegistry
) -> None:
    mcp(server, "registry", "add", "slow", fake_registry.url("hang"))
    mcp(server, "registry", "add", "broken", fake_registry.url("error"))

    assert mcp(server, "search", "x", "--registry", "slow").returncode == 19
    assert mcp(server, "search", "x", "--registry", "broken").returncode == 18


def test_install_on_a_terminal_asks_for_missing_inputs(
    server: ServerProcess, fake_registry: FakeRegistry
) -> None:
    mcp(server, "registry", "add", "tty", fake_registry.url("main"))
    controller, terminal = os.openpty()
    command = [sys.executable, "-m", "agent_server", "mcp", "install", "io.example/npm-files"]
    command += ["--registry", "tty", "--as", "asked", "--url", server.url]
    command += ["--api-key", server.api_key or ""]
    proc = subprocess.Popen(
        command,
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=cli_env(),
        start_new_session=True,
    )
    os.close(terminal)
    assert proc.stderr is not None
    with os.fdopen(controller, "wb", buffering=0) as keyboard:
        keyboard.write(b"/srv\n")
        # getpass flushes what was typed before it asked: answer once the question is out.
        asked = b""
        while not asked.endswith(b"(secret): "):
            chunk = os.read(proc.stderr.fileno(), 1)
            assert chunk, asked
            asked += chunk
        keyboard.write(f"{FILES_TOKEN}\n".encode())
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert b"asked" in out
    assert FILES_TOKEN.encode() not in out
