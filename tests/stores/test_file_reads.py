"""settings.json on disk, read: a missing file means defaults, a corrupt one is never
overwritten, and every process reads what another wrote. Real server processes share real homes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from support import ServerProcess, cli_env, read_settings, served_misc

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
        assert served_misc(http) == {"fixed": True}
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
        assert served_misc(b) == {}  # the second process has read (and may remember) the defaults
        assert (
            a.patch("/api/settings", json={"misc_settings_diff": {"v": "init"}}).status_code == 200
        )
        assert served_misc(b) == {"v": "init"}

        # Quick successive writes of values of the same size: the file's size never changes.
        for i in range(30):
            writer, reader = (a, b) if i % 2 == 0 else (b, a)
            value = f"{i:04d}"
            patched = writer.patch("/api/settings", json={"misc_settings_diff": {"v": value}})
            assert patched.status_code == 200
            assert served_misc(reader) == {"v": value}, f"write {i}"

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
            assert served_misc(a) == served_misc(b) == {"v": value}, f"in-place edit {i}"

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
