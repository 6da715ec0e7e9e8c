"""The PostgreSQL store's cache: a write that only replaces servers updates the cached servers in
place, so every read after it (the list, one server, the whole document) on this replica and on
any other must show the latest values, whatever was added, removed or changed in between."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient
from support import app_client

from agent_server import Config

BASE = "/api/settings/mcp-servers"
PLAIN = {"X-Expose-Secrets": "plaintext"}


@pytest.fixture
def pair(tmp_path: Path, database: str) -> Iterator[tuple[TestClient, TestClient]]:
    """Two replicas of one database: two apps, each with its own store and cache."""
    secret_key = Fernet.generate_key().decode()
    with ExitStack() as stack:
        clients = [
            stack.enter_context(
                app_client(
                    Config(
                        home=tmp_path / f"home-{i}",
                        store=database,
                        secret_key=secret_key,
                        etag_key="cd" * 32,
                    )
                )
            )
            for i in range(2)
        ]
        yield clients[0], clients[1]


def listing(client: TestClient) -> dict[str, str]:
    response = client.get(BASE)
    assert response.status_code == 200, response.text
    return {server["name"]: server["etag"] for server in response.json()["servers"]}


def plain(client: TestClient, name: str) -> dict[str, Any]:
    response = client.get(f"{BASE}/{name}", headers=PLAIN)
    assert response.status_code == 200, response.text
    config: dict[str, Any] = response.json()["config"]
    return config


def test_a_replaced_server_shows_in_every_read_of_the_replica_that_wrote_it(
    pair: tuple[TestClient, TestClient],
) -> None:
    a, _ = pair
    for name in ("s1", "s2"):
        config = {"command": name, "env": {"K": "v0"}}
        assert a.put(f"{BASE}/{name}", json=config).status_code == 201
    before = listing(a)
    settings_before = a.get("/api/settings").json()

    response = a.patch(f"{BASE}/s1", json={"env": {"K": "v1"}, "description": "new"})
    assert response.status_code == 200, response.text

    after = listing(a)
    assert after["s1"] == response.headers["etag"] != before["s1"]
    assert after["s2"] == before["s2"]
    assert plain(a, "s1")["env"] == {"K": "v1"}
    settings = a.get("/api/settings").json()
    servers = settings["agent_settings"]["mcp_config"]["mcpServers"]
    assert servers["s1"]["description"] == "new"
    assert settings != settings_before


def test_two_replicas_interleaving_creates_deletes_and_patches_agree_after_every_step(
    pair: tuple[TestClient, TestClient],
) -> None:
    a, b = pair
    for name in ("s1", "s2", "s3"):
        assert a.put(f"{BASE}/{name}", json={"command": name, "env": {"K": "v"}}).status_code == 201
    expected: dict[str, dict[str, Any]] = {
        name: {"command": name, "env": {"K": "v"}} for name in ("s1", "s2", "s3")
    }
    listing(b)  # b caches the document now, and must follow every change from here

    for step in range(6):
        created = f"n{step}"
        assert b.put(f"{BASE}/{created}", json={"command": created}).status_code == 201
        expected[created] = {"command": created}
        if step:
            assert b.delete(f"{BASE}/n{step - 1}").status_code == 204
            del expected[f"n{step - 1}"]
        # a replaces one of its servers with b's writes unread: its cache takes them in.
        target = f"s{step % 3 + 1}"
        assert a.patch(f"{BASE}/{target}", json={"env": {"K": f"a{step}"}}).status_code == 200
        expected[target]["env"] = {"K": f"a{step}"}
        # b replaces a server a wrote, then a replaces another one.
        other = f"s{(step + 1) % 3 + 1}"
        assert b.patch(f"{BASE}/{other}", json={"env": {"K": f"b{step}"}}).status_code == 200
        expected[other]["env"] = {"K": f"b{step}"}
        third = f"s{(step + 2) % 3 + 1}"
        response = a.patch(f"{BASE}/{third}", json={"description": f"a{step}"})
        assert response.status_code == 200, response.text
        expected[third]["description"] = f"a{step}"

        seen_a, seen_b = listing(a), listing(b)
        assert seen_a == seen_b
        assert set(seen_a) == set(expected)
        for client in (a, b):
            for name, config in expected.items():
                assert plain(client, name) == config, (step, name)


def test_a_replica_writes_its_server_again_after_others_wrote_between_and_no_later(
    pair: tuple[TestClient, TestClient],
) -> None:
    a, b = pair
    for name in ("s1", "s2"):
        assert a.put(f"{BASE}/{name}", json={"command": name, "env": {"K": "0"}}).status_code == 201
    first = etag = a.get(f"{BASE}/s1").headers["etag"]
    for i in range(5):
        # b writes another server between a's writes: a's next If-Match write still lands.
        assert b.patch(f"{BASE}/s2", json={"env": {"K": f"b{i}"}}).status_code == 200
        response = a.patch(f"{BASE}/s1", json={"env": {"K": f"a{i}"}}, headers={"If-Match": etag})
        assert response.status_code == 200, response.text
        etag = response.headers["etag"]
    stale = a.patch(f"{BASE}/s1", json={"env": {"K": "x"}}, headers={"If-Match": first})
    assert stale.status_code == 412

    # b changes a's server: a, whose cache still holds its own last write, must refuse.
    response = b.patch(f"{BASE}/s1", json={"env": {"K": "b"}}, headers={"If-Match": etag})
    assert response.status_code == 200, response.text
    late = a.patch(f"{BASE}/s1", json={"env": {"K": "lost"}}, headers={"If-Match": etag})
    assert late.status_code == 412
    assert plain(a, "s1")["env"] == {"K": "b"}
    assert plain(b, "s2")["env"] == {"K": "b4"}


def test_writes_come_back_after_the_database_drops_the_stores_connections(
    pair: tuple[TestClient, TestClient], database: str
) -> None:
    """Each connection the database dropped fails once, with a 503 that says to try again; the
    connection writes keep is replaced, so writing works again within a few tries."""
    a, _ = pair
    assert a.put(f"{BASE}/s1", json={"command": "s1", "env": {"K": "0"}}).status_code == 201
    for attempt in range(3):
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        statuses = []
        for _ in range(8):
            response = a.patch(f"{BASE}/s1", json={"env": {"K": f"v{attempt}"}})
            statuses.append(response.status_code)
            if response.status_code == 200:
                break
            assert response.status_code == 503, response.text
            assert "unavailable; try again" in response.json()["detail"]
        assert statuses[-1] == 200, statuses
        for _ in range(8):
            response = a.get(f"{BASE}/s1", headers=PLAIN)
            if response.status_code == 200:
                break
        assert response.json()["config"]["env"] == {"K": f"v{attempt}"}
