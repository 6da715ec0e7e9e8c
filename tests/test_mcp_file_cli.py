"""`agent-server mcp import` and `mcp export` as real programs against a real server.

`import --from CLIENT` runs with HOME set to a temporary folder laid out like each client's
usual place, and must say which file it read.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from format_samples import SAMPLES, VALUES, sample
from support import MASK, ROOT, ServerProcess, cli_env

from agent_server.formats import FORMATS

EXIT_CONFLICT = 14


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("cli") / "home")
    try:
        yield process.wait_ready()
    finally:
        process.stop()


def mcp(
    server: ServerProcess, *args: str, home: Path | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = cli_env(**extra)
    if home is not None:
        env["HOME"] = str(home)
    command = [sys.executable, "-m", "agent_server", "mcp", *args, "--url", server.url]
    command += ["--api-key", server.api_key or ""]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )


def names(server: ServerProcess) -> set[str]:
    with server.client() as http:
        return {s["name"] for s in http.get("/api/settings/mcp-servers").json()["servers"]}


@pytest.mark.parametrize("client", SAMPLES)
def test_import_from_reads_the_clients_usual_file_under_home(
    server: ServerProcess, tmp_path: Path, client: str
) -> None:
    home = tmp_path / "home"
    path = home / FORMATS[client].usual_paths[-1]
    path.parent.mkdir(parents=True)
    path.write_text((Path(__file__).parent / "formats" / SAMPLES[client]).read_text())
    sets = [f"--set={k}={v}" for k, v in VALUES.items()]
    dry = mcp(
        server, "import", "--from", client, "--dry-run", "--on-conflict=replace", *sets, home=home
    )
    assert dry.returncode == 0, dry.stderr
    assert f"reading {path}" in dry.stderr
    assert f"format {client}; not written" in dry.stdout
    assert dry.stdout.splitlines()[1].split() == ["NAME", "ACTION", "AS", "NOTE"]
    for value in VALUES.values():
        assert not value.startswith("canary") or value not in dry.stdout + dry.stderr
    done = mcp(server, "import", "--from", client, "--on-conflict=replace", *sets, home=home)
    assert done.returncode == 0, done.stderr
    assert f"format {client}; written" in done.stdout
    first = sample(client)
    if client != "continue":
        key = "servers" if client == "vscode" else "mcpServers"
        assert {n for n in first[key] if "/" not in n} <= names(server)


def test_import_from_a_client_without_a_config_says_where_it_looked(
    server: ServerProcess, tmp_path: Path
) -> None:
    result = mcp(server, "import", "--from", "cursor", home=tmp_path)
    assert result.returncode == 2
    assert str(tmp_path / ".cursor" / "mcp.json") in result.stderr


def test_a_refused_import_prints_its_lines_and_exits_with_the_conflict_code(
    server: ServerProcess, tmp_path: Path
) -> None:
    file = tmp_path / "claude_desktop_config.json"
    file.write_text(json.dumps({"mcpServers": {"dup": {"command": "a"}}}))
    assert mcp(server, "import", str(file)).returncode == 0
    again = mcp(server, "import", str(file))
    assert again.returncode == EXIT_CONFLICT
    assert "dup" in again.stdout and "error" in again.stdout
    renamed = mcp(server, "import", str(file), "--on-conflict", "rename", "--json")
    assert json.loads(renamed.stdout)["servers"][0]["as"] == "dup-2"


def test_a_needed_reference_is_printed_with_where_it_goes(
    server: ServerProcess, tmp_path: Path
) -> None:
    file = tmp_path / "mcp.json"
    file.write_text(
        json.dumps({"mcpServers": {"needy": {"command": "a", "env": {"K": "${env:K_VALUE}"}}}})
    )
    result = mcp(server, "import", str(file))
    assert result.returncode == 0, result.stderr
    assert "disabled until given: K_VALUE (env.K)" in result.stdout
    unset = mcp(server, "import", str(file), "--on-conflict=replace", "--set", "K_VALUE")
    assert unset.returncode == 2
    assert "K_VALUE is not set" in unset.stderr
    # VAR alone takes the value from the environment, off the command line.
    given = mcp(
        server, "import", str(file), "--on-conflict=replace", "--set", "K_VALUE", K_VALUE="v"
    )
    assert given.returncode == 0, given.stderr
    assert "disabled until" not in given.stdout


def test_export_writes_a_private_file_and_lists_the_fields_to_fill_in(
    server: ServerProcess, tmp_path: Path
) -> None:
    with server.client() as http:
        body = {"command": "uvx", "env": {"TOKEN": "canary-cli-export-90ab"}}
        http.put("/api/settings/mcp-servers/exported", json=body)
    out = tmp_path / "claude_desktop_config.json"
    result = mcp(
        server, "export", "--format", "claude-desktop", "--servers", "exported", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert json.loads(out.read_text())["mcpServers"]["exported"]["env"] == {"TOKEN": MASK}
    assert "fill in mcpServers.exported.env.TOKEN" in result.stderr
    assert "canary-cli-export-90ab" not in result.stdout + result.stderr


def test_export_via_the_gateway_never_prints_the_key(server: ServerProcess) -> None:
    result = mcp(server, "export", "--format", "continue", "--via-gateway")
    assert result.returncode == 0, result.stderr
    assert server.api_key and server.api_key not in result.stdout
    entry = yaml.safe_load(result.stdout)["mcpServers"][0]
    assert entry["url"] == f"{server.url}/mcp"
    assert entry["requestOptions"]["headers"] == {
        "X-Session-API-Key": "${{ secrets.AGENT_SERVER_API_KEY }}"
    }
