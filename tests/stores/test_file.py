"""settings.json on disk: concurrent writers, atomic private files, defaults, corrupt files, and
reads that see other processes' writes. Real server processes share real homes.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from support import ServerProcess, cli_env, read_settings

THREADS = 4
WRITES_PER_THREAD = 25


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def misc(http: httpx.Client) -> dict[str, Any]:
    response = http.get("/api/settings")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["misc_settings"]
    return result


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
        assert misc(http) == expected
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
            assert misc(http) == expected


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


# --- rule 12: a missing file means defaults ------------------------------------------------------


def test_missing_file_reads_as_defaults_and_is_created_on_first_write(
    home: Path, client: TestClient
) -> None:
    path = home / "settings.json"
    response = client.get("/api/settings")
    assert response.status_code == 200
    body = response.json()
    assert body["schema_version"] == 2
    assert body["misc_settings"] == {}
    assert body["agent_settings"]["agent_kind"] == "openhands"
    assert body["agent_settings"]["mcp_config"] == {"mcpServers": {}}
    assert body["llm_api_key_is_set"] is False
    assert client.get("/api/settings", headers={"X-Expose-Secrets": "plaintext"}).status_code == 200
    assert client.get("/api/settings/mcp-servers").json()["servers"] == []
    assert not path.exists()

    assert client.patch("/api/settings", json={"misc_settings_diff": {"a": 1}}).status_code == 200
    assert path.exists()
    assert read_settings(home)["misc_settings"] == {"a": 1}
    assert read_settings(home)["schema_version"] == 2

    # Removed by hand while the server runs: defaults again, not the remembered document.
    path.unlink()
    assert client.get("/api/settings").json()["misc_settings"] == {}
    assert not path.exists()


# --- rule 13: a corrupt file is never overwritten ------------------------------------------------

CORRUPT = {
    "truncated": (b'{"schema_version": 1, "agent_settings": ', "JSON"),
    "not an object": (b'[{"schema_version": 1}]', "not a JSON object"),
    "newer schema": (
        b'{"schema_version": 3, "agent_settings": {}, "misc_settings": {}}',
        "schema_version",
    ),
    "mcp_config not an object": (
        b'{"schema_version": 1, "agent_settings": {"mcp_config": "x"}}',
        "mcp_config",
    ),
    "mcpServers not an object": (
        b'{"schema_version": 1, "agent_settings": {"mcp_config": {"mcpServers": []}}}',
        "mcpServers",
    ),
    "server not an object": (
        b'{"schema_version": 1, "agent_settings": {"mcp_config": {"mcpServers": {"a": 1}}}}',
        "'a'",
    ),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_file_answers_503_and_is_never_overwritten(
    home: Path,
    make_client: Callable[..., TestClient],
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    content, problem = CORRUPT[case]
    home.mkdir(parents=True)
    path = home / "settings.json"
    path.write_bytes(content)
    client = make_client()
    with caplog.at_level(logging.ERROR):
        got = client.get("/api/settings")
        assert got.status_code == 503
        assert problem in got.json()["detail"]

        patched = client.patch("/api/settings", json={"misc_settings_diff": {"a": 1}})
        assert patched.status_code == 503
        assert problem in patched.json()["detail"]

        put = client.put("/api/settings/mcp-servers/one", json={"command": "one"})
        assert put.status_code == 503
    assert path.read_bytes() == content
    assert str(path) in caplog.text


def test_corrupt_file_in_a_server_process(
    home: Path, secret_key: str, start_server: Callable[..., ServerProcess]
) -> None:
    home.mkdir(parents=True)
    path = home / "settings.json"
    truncated, _ = CORRUPT["truncated"]
    path.write_bytes(truncated)
    server = start_server(home, env=cli_env(AGENT_SERVER_SECRET_KEY=secret_key))
    with server.client(timeout=10) as http:
        got = http.get("/api/settings")
        assert got.status_code == 503
        assert "JSON" in got.json()["detail"]
        patched = http.patch("/api/settings", json={"misc_settings_diff": {"a": 1}})
        assert patched.status_code == 503
        assert "JSON" in patched.json()["detail"]
        assert path.read_bytes() == truncated
        assert str(path) in server.log()

        # Another problem, put in place while it runs, is seen and kept as well.
        newer, _ = CORRUPT["newer schema"]
        path.write_bytes(newer)
        assert "schema_version" in http.get("/api/settings").json()["detail"]
        patched = http.patch("/api/settings", json={"misc_settings_diff": {"a": 1}})
        assert patched.status_code == 503
        assert "schema_version" in patched.json()["detail"]
        assert path.read_bytes() == newer

        # Once fixed by hand, it is served and written again.
        path.write_text('{"schema_version": 1, "misc_settings": {"fixed": true}}')
        assert misc(http) == {"fixed": True}
        patched = http.patch("/api/settings", json={"misc_settings_diff": {"a": 1}})
        assert patched.status_code == 200
    assert read_settings(home)["misc_settings"] == {"fixed": True, "a": 1}


# --- rule 14: reads see other processes' writes --------------------------------------------------


def test_reads_see_another_process_writes(
    home: Path, secret_key: str, start_server: Callable[..., ServerProcess]
) -> None:
    env = cli_env(AGENT_SERVER_SECRET_KEY=secret_key)
    first = start_server(home, env=env)
    second = start_server(home, env=env)
    with (
        first.client(timeout=10) as a,
        second.client(timeout=10) as b,
    ):
        assert misc(b) == {}  # the second process has read (and may remember) the defaults
        assert (
            a.patch("/api/settings", json={"misc_settings_diff": {"v": "init"}}).status_code == 200
        )
        assert misc(b) == {"v": "init"}

        # Quick successive writes of values of the same size: the file's size never changes.
        for i in range(30):
            writer, reader = (a, b) if i % 2 == 0 else (b, a)
            value = f"{i:04d}"
            patched = writer.patch("/api/settings", json={"misc_settings_diff": {"v": value}})
            assert patched.status_code == 200
            assert misc(reader) == {"v": value}, f"write {i}"

        # Another program rewriting the file in place: same inode, same size, only mtime moves.
        path = home / "settings.json"
        inode = path.stat().st_ino
        last = b'"0029"'
        for i in range(3):
            time.sleep(0.03)  # past the filesystem clock's granularity
            data = path.read_bytes()
            assert data.count(last) == 1
            value = f"e{i:03d}"
            with open(path, "r+b") as f:
                f.write(data.replace(last, json.dumps(value).encode()))
            last = json.dumps(value).encode()
            assert path.stat().st_ino == inode
            assert misc(a) == misc(b) == {"v": value}, f"in-place edit {i}"

        # A secret changed in one process reads back in plaintext in the other.
        for i in range(5):
            key = f"sk-same-size-{i}"
            body = {"agent_settings_diff": {"llm": {"api_key": key}}}
            assert a.patch("/api/settings", json=body).status_code == 200
            shown = b.get("/api/settings", headers={"X-Expose-Secrets": "plaintext"})
            assert shown.json()["agent_settings"]["llm"]["api_key"] == key


def test_every_process_reads_what_the_file_holds_after_each_kind_of_write(
    home: Path, secret_key: str, start_server: Callable[..., ServerProcess]
) -> None:
    """Processes catch up with each other's writes (through the journal where they can), and
    what each then serves is what a fresh parse of the file gives: after every kind of write,
    for a process one version behind and for one that reads only every few writes."""
    env = cli_env(AGENT_SERVER_SECRET_KEY=secret_key)
    first = start_server(home, env=env)
    with first.client(timeout=20) as alone:  # no other process yet: nothing to tell anyone
        for value in ("1", "2"):
            put = alone.put("/api/settings/mcp-servers/solo", json={"command": value})
            assert put.status_code in (200, 201), put.text
    servers = [first, start_server(home, env=env), start_server(home, env=env)]
    encrypted = {"X-Expose-Secrets": "encrypted"}
    big = {f"bulk{i:03d}": {"command": "run", "env": {"K": f"v{i}"}} for i in range(200)}
    steps: list[tuple[str, str, dict[str, Any] | None]] = [
        ("PUT", "/api/settings/mcp-servers/one", {"command": "a", "env": {"T": "s1"}}),
        ("PUT", "/api/settings/mcp-servers/two", {"url": "https://two.example/mcp"}),
        ("PATCH", "/api/settings/mcp-servers/one", {"env": {"T": "s2", "U": "u"}, "args": ["x"]}),
        ("PATCH", "/api/settings", {"misc_settings_diff": {"theme": "dark", "n": 1}}),
        ("PATCH", "/api/settings", {"agent_settings_diff": {"llm": {"api_key": "sk-1"}}}),
        ("PUT", "/api/settings/mcp-registries/extra", {"url": "https://reg.example"}),
        ("DELETE", "/api/settings/mcp-servers/two", None),
        ("PATCH", "/api/settings", {"agent_settings_diff": {"mcp_config": {"mcpServers": big}}}),
        ("PATCH", "/api/settings/mcp-servers/bulk007", {"enabled": False}),
        ("PATCH", "/api/settings", {"misc_settings_diff": {"theme": None}}),
        ("DELETE", "/api/settings/mcp-registries/official", None),
        ("PUT", "/api/settings/mcp-servers/two", {"command": "b", "args": ["1", "2"]}),
    ]
    with (
        servers[0].client(timeout=20) as a,
        servers[1].client(timeout=20) as b,
        servers[2].client(timeout=20) as c,
    ):
        clients = [a, b, c]
        for http in clients:  # each has read (and remembers) the first version
            assert http.get("/api/settings").status_code == 200
        for i, (method, path, body) in enumerate(steps):
            writer = clients[i % 2]
            answer = writer.request(method, path, json=body)
            assert answer.status_code in (200, 201, 204), (i, answer.text)
            journal = home / "settings.journal"
            if i == 3:  # a changed journal, still valid JSON: readers must parse the file
                assert b'"dark"' in journal.read_bytes()
                journal.write_bytes(journal.read_bytes().replace(b'"dark"', b'"lite"'))
            if i == 5:  # a damaged one
                journal.write_bytes(journal.read_bytes()[:40] + b"[[[garbage")
            readers = [a, b] if i % 4 != 3 else clients  # c lags behind by up to four writes
            stored = read_settings(home)
            for http in readers:
                served = http.get("/api/settings", headers=encrypted).json()
                assert served["agent_settings"] == stored["agent_settings"], (i, method, path)
                assert served["misc_settings"] == stored["misc_settings"], (i, method, path)
                listed = http.get("/api/settings/mcp-registries").json()["registries"]
                assert sorted(r["id"] for r in listed) == sorted(stored["mcp_registries"]), i
        lists = [http.get("/api/settings/mcp-servers").json() for http in clients]
        assert lists[0] == lists[1] == lists[2]
        assert len(lists[0]["servers"]) == 203
