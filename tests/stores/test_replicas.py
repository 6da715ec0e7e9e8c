"""Three replicas on one PostgreSQL database: no lost write, If-Match across replicas, reads that
see the last acknowledged write wherever it landed, one schema however many start at once."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
from replicas import Keys, launch
from support import ServerProcess, serving_together

BASE = "/api/settings/mcp-servers"
THREADS = 16
INCREMENTS = 25


@pytest.fixture
def replicas(tmp_path: Path, database: str) -> Iterator[list[ServerProcess]]:
    """Three replicas started at once on a fresh database."""
    started = launch(tmp_path, Keys().env(database), 3)
    yield from (list(ready) for ready in serving_together(*started))


def test_replicas_started_at_once_create_the_schema_once(
    replicas: list[ServerProcess], database: str
) -> None:
    with psycopg.connect(database) as conn:
        log = conn.execute("SELECT version FROM agent_server_schema_log").fetchall()
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'agent_server_%'"
        ).fetchone()
    assert log == [(1,)]
    assert tables == (3,)
    for replica in replicas:
        with replica.client() as http:
            assert http.get(BASE).json()["servers"] == []


def increment(replicas: list[ServerProcess], thread: int) -> int:
    """INCREMENTS If-Match increments of the counter, the i-th on replica (thread + i) % 3; the
    number of 412s it met on the way (each answered by reading again)."""
    conflicts = 0
    clients = [replica.client(timeout=30) for replica in replicas]
    try:
        for i in range(INCREMENTS):
            http = clients[(thread + i) % len(clients)]
            while True:
                read = http.get(f"{BASE}/counter")
                assert read.status_code == 200, read.text
                value = int(read.json()["config"]["args"][0])
                written = http.patch(
                    f"{BASE}/counter",
                    json={"args": [str(value + 1)]},
                    headers={"If-Match": read.headers["etag"]},
                )
                if written.status_code == 200:
                    break
                assert written.status_code == 412, written.text
                conflicts += 1
    finally:
        for http in clients:
            http.close()
    return conflicts


def test_sixteen_writers_over_three_replicas_count_to_exactly_400(
    replicas: list[ServerProcess],
) -> None:
    with replicas[0].client() as http:
        created = http.put(f"{BASE}/counter", json={"command": "counter", "args": ["0"]})
        assert created.status_code == 201, created.text
    with ThreadPoolExecutor(THREADS) as pool:
        conflicts = sum(pool.map(lambda t: increment(replicas, t), range(THREADS)))
    for replica in replicas:
        with replica.client() as http:
            assert http.get(f"{BASE}/counter").json()["config"]["args"] == [
                str(THREADS * INCREMENTS)
            ]
    assert conflicts > 0  # the writers did race: If-Match, checked in the database, decided


def test_writes_to_different_servers_on_different_replicas_never_412(
    replicas: list[ServerProcess],
) -> None:
    def own_server(thread: int) -> list[int]:
        statuses = []
        etag = None
        for i in range(10):
            replica = replicas[(thread + i) % len(replicas)]
            headers = {"If-Match": etag} if etag else {"If-None-Match": "*"}
            with replica.client(timeout=30) as http:
                response = http.put(
                    f"{BASE}/own-{thread}",
                    json={"command": "tool", "args": [str(i)]},
                    headers=headers,
                )
            statuses.append(response.status_code)
            etag = response.headers.get("etag")
        return statuses

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(own_server, range(8)))
    assert results == [[201] + [200] * 9] * 8
    with replicas[2].client() as http:
        listed = http.get(BASE).json()["servers"]
    assert sorted(server["name"] for server in listed) == sorted(f"own-{t}" for t in range(8))


def test_a_write_acknowledged_by_one_replica_is_read_by_the_next_read_on_another(
    replicas: list[ServerProcess],
) -> None:
    clients = [replica.client() for replica in replicas]
    try:
        for i in range(60):
            writer, reader = clients[i % 3], clients[(i + 1) % 3]
            written = writer.put(f"{BASE}/seen", json={"command": "tool", "args": [str(i)]})
            assert written.status_code in (200, 201), written.text
            read = reader.get(f"{BASE}/seen")
            assert read.json()["config"]["args"] == [str(i)]
            assert read.headers["etag"] == written.headers["etag"]
            settings = reader.get("/api/settings").json()
            servers = settings["agent_settings"]["mcp_config"]["mcpServers"]
            assert servers["seen"]["args"] == [str(i)]
            if i % 10 == 9:  # deletions reach the other replicas too
                assert writer.delete(f"{BASE}/seen").status_code == 204
                assert reader.get(f"{BASE}/seen").status_code == 404
        # The first write stored the default registry with it: every replica still lists it.
        for http in clients:
            registries = http.get("/api/settings/mcp-registries").json()["registries"]
            assert [registry["id"] for registry in registries] == ["official"]
    finally:
        for http in clients:
            http.close()


def test_killing_a_replica_mid_write_loses_no_acknowledged_write(
    replicas: list[ServerProcess],
) -> None:
    victim, survivor = replicas[0], replicas[1]
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def write(thread: int) -> None:
        with victim.client(timeout=10) as http:
            for i in range(10_000):
                if stop.is_set():
                    return
                name = f"w-{thread}-{i}"
                try:
                    response = http.put(f"{BASE}/{name}", json={"command": "tool"})
                except httpx.HTTPError:
                    return  # the replica died under this request: not acknowledged
                if response.status_code == 201:
                    with lock:
                        acknowledged.append(name)

    writers = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for writer in writers:
        writer.start()
    while len(acknowledged) < 40:
        threading.Event().wait(0.01)
    os.killpg(victim.proc.pid, signal.SIGKILL)
    victim.proc.wait()
    stop.set()
    for writer in writers:
        writer.join()
    with survivor.client() as http:
        stored = {server["name"] for server in http.get(BASE).json()["servers"]}
        assert set(acknowledged) <= stored
        # And the database still takes writes from the replicas that live.
        assert http.put(f"{BASE}/after", json={"command": "tool"}).status_code == 201
    assert len(acknowledged) >= 40


def test_unconditional_patches_of_one_server_on_three_replicas_lose_no_field(
    replicas: list[ServerProcess],
) -> None:
    """Each PATCH merges into the stored config: one built on a stale copy must not land."""
    with replicas[0].client() as http:
        assert http.put(f"{BASE}/shared", json={"command": "tool"}).status_code == 201

    def add_keys(thread: int) -> list[int]:
        statuses = []
        for i in range(5):
            with replicas[(thread + i) % 3].client(timeout=30) as http:
                response = http.patch(f"{BASE}/shared", json={"env": {f"K{thread}_{i}": "v"}})
            statuses.append(response.status_code)
        return statuses

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(add_keys, range(8))) == [[200] * 5] * 8
    with replicas[1].client() as http:
        env = http.get(f"{BASE}/shared", headers={"X-Expose-Secrets": "plaintext"}).json()
    assert set(env["config"]["env"]) == {f"K{t}_{i}" for t in range(8) for i in range(5)}
