"""Plaintext reads are logged, without the secrets they served."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from cli_support import (
    PLAINTEXT,
)
from support import (
    ServerProcess,
    cli_env,
)

# --- rule 9: plaintext reads are logged, secrets never are ---------------------------------------


def plaintext_warnings(log: str) -> list[str]:
    return [line for line in log.splitlines() if "WARNING" in line and "plaintext" in line]


def wait_for_warnings(server: ServerProcess, count: int) -> list[str]:
    deadline = time.monotonic() + 5
    while True:
        found = plaintext_warnings(server.log())
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_plaintext_reads_are_logged_without_the_secret(
    home: Path, secret_key: str, start_server: Callable[..., ServerProcess]
) -> None:
    canary = "canary-7f3a9c2e-do-not-log"
    server = start_server(home, env=cli_env(AGENT_SERVER_SECRET_KEY=secret_key))
    with server.client(timeout=10) as http:
        body = {
            "agent_settings_diff": {
                "llm": {"api_key": canary},
                "mcp_config": {
                    "mcpServers": {"tool": {"command": "tool", "env": {"TOKEN": canary}}}
                },
            }
        }
        assert http.patch("/api/settings", json=body).status_code == 200
        assert http.get("/api/settings").status_code == 200
        encrypted = http.get("/api/settings", headers={"X-Expose-Secrets": "encrypted"})
        assert encrypted.status_code == 200
        assert http.get("/api/settings/mcp-servers/tool").status_code == 200
        time.sleep(0.3)
        assert plaintext_warnings(server.log()) == []  # nothing was served in plaintext yet

        document = http.get("/api/settings", headers=PLAINTEXT)
        assert document.json()["agent_settings"]["llm"]["api_key"] == canary
        assert len(wait_for_warnings(server, 1)) == 1
        one = http.get("/api/settings/mcp-servers/tool", headers=PLAINTEXT)
        assert one.json()["config"]["env"]["TOKEN"] == canary
        assert len(wait_for_warnings(server, 2)) == 2

    server.stop()  # flushes everything the process wrote
    log = server.log_path.read_text(errors="replace")
    assert canary not in log
    assert len(plaintext_warnings(log)) == 2
