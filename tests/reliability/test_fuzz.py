"""Fuzzing: schemathesis drives a live server from its own /openapi.json.

`schemathesis run` (examples, coverage, fuzzing and stateful phases, positive and negative data,
deterministic generation, a bounded number of examples per operation) must find no 5xx and no
answer that disagrees with the document: status codes, content types, bodies and headers as
documented. A few servers are seeded first, and fuzz_hooks.py mixes their names into the item
routes and puts them back after every write, so requests reach existing resources as well as
missing ones.

The live checks of MCP servers (tag mcp-connections) are left out: they run the command or
connect to the URL a config names, and a fuzzer would make that any command and any host.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from support import ServerProcess

HERE = Path(__file__).resolve().parent
MAX_EXAMPLES = 30
OPERATIONS = 15  # every operation but the live checks, the registry reads and the page
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
SEEDS = {
    "fuzz-stdio": {
        "command": "fuzz-cmd",
        "args": ["--flag"],
        "env": {"TOKEN": "canary-fuzz-env", "DEBUG": "1"},
        "description": "a seeded stdio server",
    },
    "fuzz-remote": {
        "url": "https://fuzz.example/mcp",
        "transport": "http",
        "headers": {"X-Team": "canary-fuzz-header"},
        "auth": "canary-fuzz-auth",
    },
    "fuzz.oauth@1:x": {"url": "https://oauth.example/mcp", "auth": "oauth", "enabled": False},
}
# Cache off: a run must not replay answers recorded by an earlier one (or write them anywhere).
CONFIG = "[cache]\nenabled = false\n"


def run_schemathesis(server: ServerProcess, workdir: Path) -> subprocess.CompletedProcess[str]:
    url = server.url
    config = workdir / "schemathesis.toml"
    config.write_text(CONFIG)
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": str(HERE / "fuzz_hooks.py"),
        "RELIABILITY_FUZZ_URL": url,
        "RELIABILITY_FUZZ_KEY": server.api_key or "",
        "RELIABILITY_FUZZ_SEEDS": json.dumps(SEEDS),
    }
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{url}/openapi.json",
        "--header",
        f"X-Session-API-Key: {server.api_key}",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--checks",
        ",".join(CHECKS),
        "--mode",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",  # the same cases every run; implies no example database
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--exclude-tag",
        "mcp-connections",
        "--exclude-tag",
        "page",  # the settings page's HTML and files; tests/web drives them in a browser
        "--exclude-tag",
        "registry-reads",  # they would reach the official registry: tests use loopback only
    ]
    return subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=240
    )


def test_schemathesis_finds_no_server_error_and_no_answer_the_document_does_not_describe(
    home: Path,
    tmp_path: Path,
    server_env: dict[str, str],
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(home, env=server_env)
    with server.client(timeout=30) as http:
        for name, config in SEEDS.items():
            response = http.put(f"/api/settings/mcp-servers/{name}", json=config)
            assert response.status_code == 201, response.text
        llm = {"agent_settings_diff": {"llm": {"model": "m", "api_key": "canary-fuzz-llm"}}}
        assert http.patch("/api/settings", json=llm).status_code == 200

    result = run_schemathesis(server, tmp_path)
    report = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, report

    # The run did test every operation it was given (the import and the export among them),
    # with many cases each.
    tested = re.search(r"Tested:\s+(\d+)", result.stdout)
    generated = re.search(r"(\d+) generated", result.stdout)
    assert tested is not None and int(tested.group(1)) == OPERATIONS, report
    assert generated is not None and int(generated.group(1)) >= OPERATIONS * MAX_EXAMPLES, report

    # And the server agrees: no 5xx went out, nothing failed inside it.
    log = server.log()
    statuses = re.findall(r'HTTP/1\.[01]" (\d{3})', log)
    assert len(statuses) >= OPERATIONS * MAX_EXAMPLES
    assert [s for s in statuses if s.startswith("5")] == [], log[-5000:]
    assert "unhandled" not in log
