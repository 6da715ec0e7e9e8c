"""Writes that queue behind another process's lock, and the journal other processes catch up
through: real server processes sharing a real home."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from support import ServerProcess, cli_env, read_settings

from agent_server.stores import FileStore
from agent_server.stores.journal import MAX_JOURNAL_BYTES

ENCRYPTED = {"X-Expose-Secrets": "encrypted"}


def seed(http: httpx.Client, servers: dict[str, Any]) -> None:
    body = {"agent_settings_diff": {"mcp_config": {"mcpServers": servers}}}
    assert http.patch("/api/settings", json=body).status_code == 200


def test_writes_queued_behind_another_process_land_together_and_fail_alone(
    home: Path, secret_key: str, start_server: Callable[..., ServerProcess]
) -> None:
    """While another process holds the lock, a server's writes wait; once it lets go they are
    written together in fewer versions of the file than writes, each answered as if alone: its
    own ETag, its own 412 or 422, and nothing of a failed one stored."""
    server = start_server(home, env=cli_env(AGENT_SERVER_SECRET_KEY=secret_key))
    padding = "p" * 400
    with server.client(timeout=30) as http:
        seed(http, {f"base{i:03d}": {"command": "run", "args": [padding]} for i in range(100)})
        stale = '"not-the-current-etag"'

        def send(index: int) -> httpx.Response:
            with server.client(timeout=30) as own:
                if index == 10:  # loses its precondition
                    return own.patch(
                        "/api/settings/mcp-servers/base000",
                        json={"command": "changed"},
                        headers={"If-Match": stale},
                    )
                if index == 11:  # an invalid config
                    return own.put("/api/settings/mcp-servers/broken", json={"command": 5})
                return own.put(
                    f"/api/settings/mcp-servers/queued{index}",
                    json={"command": f"cmd-{index}", "env": {"TOKEN": f"secret-{index}"}},
                )

        holder = FileStore(home)  # another process's store: it holds the journal open too
        journal = home / "settings.journal"
        with ThreadPoolExecutor(12) as pool:
            with holder.locked():
                before = read_settings(home)
                journal_before = journal.stat().st_size
                pending = [pool.submit(send, index) for index in range(12)]
                time.sleep(1.0)
                assert not any(future.done() for future in pending)  # all wait for the lock
                assert read_settings(home) == before
            answers = [future.result() for future in pending]
        holder.close()

        assert [answer.status_code for answer in answers[:10]] == [201] * 10
        assert answers[10].status_code == 412
        assert answers[11].status_code == 422, answers[11].text
        stored = read_settings(home)["agent_settings"]["mcp_config"]["mcpServers"]
        assert "broken" not in stored
        assert stored["base000"]["command"] == "run"
        for index, answer in enumerate(answers[:10]):
            read = http.get(f"/api/settings/mcp-servers/queued{index}")
            assert read.headers["etag"] == answer.headers["etag"]
            assert stored[f"queued{index}"]["command"] == f"cmd-{index}"
            shown = http.get(
                f"/api/settings/mcp-servers/queued{index}",
                headers={"X-Expose-Secrets": "plaintext"},
            )
            assert shown.json()["config"]["env"]["TOKEN"] == f"secret-{index}"
        # One journal line per version of the file written since the lock was let go.
        versions = journal.read_bytes()[journal_before:].count(b"\n")
        assert 1 <= versions <= 4, versions


def test_a_journal_past_its_limit_is_rewritten_and_readers_keep_up(
    home: Path, secret_key: str, start_server: Callable[..., ServerProcess]
) -> None:
    """Two processes take turns writing large servers until the journal outgrows its limit and
    is rewritten with its last writes; after every write the other serves what the file holds,
    and the journal stays under its limit."""
    env = cli_env(AGENT_SERVER_SECRET_KEY=secret_key)
    a, b = start_server(home, env=env), start_server(home, env=env)
    big = "x" * 18_000
    with a.client(timeout=30) as first, b.client(timeout=30) as second:
        for part in range(4):  # a body may hold at most 1 MiB
            servers = range(part * 25, part * 25 + 25)
            seed(first, {f"big{i:03d}": {"command": "run", "args": [big]} for i in servers})
        journal = home / "settings.journal"
        largest = 0
        for i in range(70):
            writer, reader = (first, second) if i % 2 else (second, first)
            body = {"args": [f"{i}-" + big], "env": {"K": f"value-{i}"}}
            answer = writer.patch(f"/api/settings/mcp-servers/big{i % 100:03d}", json=body)
            assert answer.status_code == 200, answer.text
            largest = max(largest, journal.stat().st_size)
            stored = read_settings(home)
            served = reader.get("/api/settings", headers=ENCRYPTED).json()
            assert served["agent_settings"] == stored["agent_settings"], i
        assert MAX_JOURNAL_BYTES // 2 < largest <= MAX_JOURNAL_BYTES
        assert journal.stat().st_size < largest  # it was rewritten with only the last writes
        shown = second.get(
            "/api/settings/mcp-servers/big069", headers={"X-Expose-Secrets": "plaintext"}
        )
        assert shown.json()["config"]["env"]["K"] == "value-69"
