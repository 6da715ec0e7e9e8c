"""settings.json on disk, written: concurrent writers lose nothing, and files stay private and
atomic. Real server processes share real homes.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient
from support import ServerProcess, cli_env, read_settings, served_misc

THREADS = 4
WRITES_PER_THREAD = 25


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_many(servers: list[ServerProcess]) -> dict[str, int]:
    """THREADS threads x WRITES_PER_THREAD PATCHes, each setting its own misc key.

    Every request opens its own connection, so the kernel spreads them over the worker processes
    that share a socket; thread t sends its i-th write to servers[(t + i) % len(servers)].
    """

    def run(thread: int) -> list[int]:
        statuses = []
        for i in range(WRITES_PER_THREAD):
            server = servers[(thread + i) % len(servers)]
            response = httpx.patch(
                server.url + "/api/settings",
                json={"misc_settings_diff": {f"k-{thread}-{i}": i}},
                headers=server.headers,
                timeout=30,
            )
            statuses.append(response.status_code)
        return statuses

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(run, range(THREADS)))
    for statuses in results:
        assert statuses == [200] * WRITES_PER_THREAD
    return {f"k-{t}-{i}": i for t in range(THREADS) for i in range(WRITES_PER_THREAD)}


# --- rule 10: concurrent writers lose nothing ---------------------------------------------------


def test_concurrent_writes_to_several_workers_lose_nothing(
    home: Path, secret_key: str, start_server: Callable[..., ServerProcess]
) -> None:
    server = start_server(home, "--workers", "4", env=cli_env(AGENT_SERVER_SECRET_KEY=secret_key))
    expected = write_many([server])
    assert read_settings(home)["misc_settings"] == expected
    with server.client(timeout=10) as http:
        assert served_misc(http) == expected
    # The writes really had several processes to go to.
    workers = {line for line in server.log().splitlines() if "Started server process [" in line}
    assert len(workers) == 4, server.log()


def test_concurrent_writes_to_two_processes_on_one_home_lose_nothing(
    home: Path, secret_key: str, start_server: Callable[..., ServerProcess]
) -> None:
    env = cli_env(AGENT_SERVER_SECRET_KEY=secret_key)
    first = start_server(home, env=env)
    second = start_server(home, env=env)
    expected = write_many([first, second])
    assert read_settings(home)["misc_settings"] == expected
    for server in (first, second):
        with server.client(timeout=10) as http:
            assert served_misc(http) == expected


# --- rule 11: private, atomic files --------------------------------------------------------------


def test_writes_leave_private_files_and_no_temp_files(
    home: Path, make_client: Callable[..., TestClient]
) -> None:
    home.mkdir(parents=True)
    os.chmod(home, 0o755)  # a home made by someone else, readable by all: left as it is
    client = make_client()
    for i in range(5):
        body: dict[str, Any] = {"misc_settings_diff": {"n": i}}
        if i % 2:
            body["agent_settings_diff"] = {"llm": {"api_key": f"sk-{i}"}}
        assert client.patch("/api/settings", json=body).status_code == 200
    invalid = client.patch("/api/settings", json={"agent_settings_diff": {"llm": {"model": 5}}})
    assert invalid.status_code == 422

    assert mode(home) == 0o755
    assert mode(home / "settings.json") == 0o600
    assert mode(home / "settings.journal") == 0o600
    assert (home / "settings.json.lock").exists()
    names = os.listdir(home)
    assert [name for name in names if name.endswith(".tmp")] == []
    assert set(names) <= {
        "settings.json",
        "settings.json.lock",
        "settings.journal",
        "etag.key",
        "secret.key",
        "session.key",
    }
    assert read_settings(home)["misc_settings"] == {"n": 4}


def test_temp_files_left_by_a_killed_write_are_removed_at_start(
    home: Path, make_client: Callable[..., TestClient]
) -> None:
    client = make_client()
    assert client.patch("/api/settings", json={"misc_settings_diff": {"n": 1}}).status_code == 200
    before = (home / "settings.json").read_bytes()
    stale = [home / ".settings.json.abc123.tmp", home / ".settings.json.def456.tmp"]
    for path in stale:  # what a write killed between its temp file and the rename leaves
        path.write_bytes(b'{"schema_version": 1, "agent_se')
    unrelated = home / "notes.tmp"
    unrelated.write_text("not ours")

    restarted = make_client()
    assert [path for path in stale if path.exists()] == []
    assert unrelated.exists()
    assert (home / "settings.json").read_bytes() == before
    assert restarted.get("/api/settings").json()["misc_settings"] == {"n": 1}


def test_readers_never_see_a_half_written_file(home: Path, client: TestClient) -> None:
    big = "x" * 400_000  # large enough that a write in place would be seen half done
    assert client.patch("/api/settings", json={"misc_settings_diff": {"v": 0}}).status_code == 200
    path = home / "settings.json"
    done = threading.Event()
    seen: list[int] = []
    problems: list[str] = []

    def read_loop() -> None:
        while not done.is_set():
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                problems.append("settings.json was missing")
                continue
            try:
                seen.append(json.loads(data)["misc_settings"]["v"])
            except (ValueError, KeyError) as exc:
                problems.append(f"{len(data)} bytes: {exc}")

    reader = threading.Thread(target=read_loop)
    reader.start()
    try:
        for i in range(1, 31):
            body = {"misc_settings_diff": {"v": i, "pad": big[: len(big) - i * 1000]}}
            assert client.patch("/api/settings", json=body).status_code == 200
    finally:
        done.set()
        reader.join()
    assert problems == []
    assert seen, "the reader read nothing"
    assert seen == sorted(seen)  # versions only move forward
    assert [name for name in os.listdir(home) if name.endswith(".tmp")] == []
