"""A TypeScript client generated from the served OpenAPI document compiles under `tsc --strict`
and drives a live server through every route (clients/typescript/src/api.test.ts).

openapi-typescript generates the types from the server's /openapi.json, tsc compiles the suite
against them and Node's test runner runs it against `python -m agent_server serve`. The packages
come from clients/typescript/node_modules, which `make test` installs (`make ts-deps`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from support import ROOT, ServerProcess, cli_env

CLIENT = ROOT / "clients" / "typescript"
MODULES = CLIENT / "node_modules"
API_KEY = "typescript-suite-key"
INSTALL = (
    "the TypeScript client test needs Node.js 20 or later with npm (for example "
    "`apt-get install nodejs npm`, or https://nodejs.org), then `make ts-deps`; `make test` "
    "runs that for you"
)


def typescript_server(root: Path) -> ServerProcess:
    """The server the suite drives; how it starts (flags, keys) is decided here alone."""
    env = cli_env(
        AGENT_SERVER_SECRET_KEY=Fernet.generate_key().decode(),
        AGENT_SERVER_SESSION_API_KEYS=API_KEY,
    )
    return ServerProcess(root / "home", "--require-preconditions", env=env)


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail(f"node is not installed: {INSTALL}")
    if not (MODULES / ".bin" / "openapi-typescript").exists():
        pytest.fail(f"{MODULES} is not installed: {INSTALL}")
    return found


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a Node tool; fail the test with everything it printed when it fails."""
    result = subprocess.run(
        [node(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"`{' '.join(args)}` failed ({result.returncode}):\n{output}")
    return output


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = typescript_server(tmp_path_factory.mktemp("ts-server"))
    try:
        yield started.wait_ready()
    finally:
        started.stop()


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory, server: ServerProcess) -> Path:
    """A copy of the client whose types are generated from the served document, compiled."""
    work = tmp_path_factory.mktemp("ts-client")
    shutil.copy(CLIENT / "tsconfig.json", work)
    (work / "src").mkdir()
    for source in (CLIENT / "src").glob("*.ts"):
        if not source.name.endswith(".d.ts"):
            shutil.copy(source, work / "src")
    (work / "node_modules").symlink_to(MODULES, target_is_directory=True)
    run(
        str(MODULES / ".bin" / "openapi-typescript"),
        f"{server.url}/openapi.json",
        "--output",
        "src/schema.d.ts",
        cwd=work,
    )
    run(str(MODULES / "typescript" / "bin" / "tsc"), "--strict", "-p", ".", cwd=work)
    return work


def test_the_generated_types_compile_under_strict(compiled: Path) -> None:
    schema = (compiled / "src" / "schema.d.ts").read_text()
    assert "put_mcp_server" in schema
    assert (compiled / "build" / "api.test.js").is_file()


def test_the_typescript_suite_drives_every_route(compiled: Path, server: ServerProcess) -> None:
    env = {
        **os.environ,
        "AGENT_SERVER_URL": server.url,
        "AGENT_SERVER_API_KEY": API_KEY,
        "AGENT_SERVER_TEST_MCP": json.dumps(
            {
                "command": sys.executable,
                "args": [str(ROOT / "tests" / "mcp_servers" / "stdio_tools.py")],
            }
        ),
    }
    output = run("--test", "build/api.test.js", cwd=compiled, env=env)
    assert "# fail 0" in output, output
