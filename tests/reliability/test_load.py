"""Load: many clients doing read-modify-write on one server's env through four worker processes.

Sixteen threads each make 25 increments of a counter stored (encrypted) in one MCP server's env:
read it in plaintext with its ETag, write count + 1 with If-Match, and read again on 412. If the
server lost an update or let a stale If-Match through, two writes would carry the same value and
the counter would end below 400. Meanwhile other threads create servers of their own (through
the server resource and through the whole-document PATCH) and others read, and no request may
ever answer 5xx.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from support import ServerProcess, read_settings

SERVERS = "/api/settings/mcp-servers"
COUNTER = "counter"
INCREMENTERS = 16
INCREMENTS = 25
CREATORS = 4
CREATES = 15
READERS = 2
# Bounds on every loop: attempts for one increment, requests per reader, and the whole run.
MAX_ATTEMPTS = 300
MAX_READS = 1500
DEADLINE_S = 120.0
PLAINTEXT = {"X-Expose-Secrets": "plaintext"}


class Recorder:
    """Every status any request got, and every counter value a write was acknowledged for."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + DEADLINE_S
        self.statuses: list[tuple[str, int]] = []
        self.written: list[int] = []
        self.lock = threading.Lock()

    def send(self, http: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if time.monotonic() > self.deadline:
            raise TimeoutError(f"the load run took longer than {DEADLINE_S} s")
        response = http.request(method, path, **kwargs)
        with self.lock:
            self.statuses.append((f"{method} {path}", response.status_code))
        return response


def fresh_connections(server: ServerProcess) -> httpx.Client:
    """A client that opens a new connection per request, so the kernel spreads them over workers."""
    limits = httpx.Limits(max_keepalive_connections=0)
    return server.client(timeout=30, limits=limits)


def increment(rec: Recorder, server: ServerProcess, thread: int) -> None:
    """INCREMENTS read-modify-write increments: odd threads PUT the config, even ones PATCH."""
    with fresh_connections(server) as http:
        for _ in range(INCREMENTS):
            for _attempt in range(MAX_ATTEMPTS):
                read = rec.send(http, "GET", f"{SERVERS}/{COUNTER}", headers=PLAINTEXT)
                assert read.status_code == 200, read.text
                config = read.json()["config"]
                value = int(config["env"]["COUNT"]) + 1
                condition = {"If-Match": read.headers["etag"]}
                if thread % 2:
                    config["env"]["COUNT"] = str(value)
                    kwargs: dict[str, Any] = {"json": config}
                    method = "PUT"
                else:
                    kwargs = {"json": {"env": {"COUNT": str(value)}}}
                    method = "PATCH"
                write = rec.send(http, method, f"{SERVERS}/{COUNTER}", headers=condition, **kwargs)
                if write.status_code == 200:
                    assert write.json()["config"]["env"]["COUNT"] == "**********"
                    with rec.lock:
                        rec.written.append(value)
                    break
                assert write.status_code == 412, write.text
            else:
                raise AssertionError(f"an increment lost {MAX_ATTEMPTS} races in a row")


def create(rec: Recorder, server: ServerProcess, thread: int) -> list[str]:
    """CREATES servers of this thread's own: odd threads PUT each one, even ones add it with a
    whole-document PATCH (the legacy API), which must not lose the other writers' work either."""
    names = [f"load-w{thread}-{i}" for i in range(CREATES)]
    with fresh_connections(server) as http:
        for name in names:
            config = {"url": f"https://{name}.example/mcp", "headers": {"X-Key": f"k-{name}"}}
            if thread % 2:
                condition = {"If-None-Match": "*"}
                response = rec.send(
                    http, "PUT", f"{SERVERS}/{name}", json=config, headers=condition
                )
                assert response.status_code == 201, response.text
            else:
                diff = {"agent_settings_diff": {"mcp_config": {"mcpServers": {name: config}}}}
                response = rec.send(http, "PATCH", "/api/settings", json=diff)
                assert response.status_code == 200, response.text
    return names


def read_until(rec: Recorder, server: ServerProcess, done: threading.Event) -> None:
    """List the servers and read the whole document until the writers are done (bounded)."""
    with fresh_connections(server) as http:
        for i in range(MAX_READS):
            if done.is_set():
                return
            path = SERVERS if i % 2 else "/api/settings"
            response = rec.send(http, "GET", path)
            assert response.status_code == 200, response.text
            response.json()


def test_sixteen_clients_increment_one_counter_through_four_workers_without_losing_one(
    home: Path,
    secret_key: str,
    server_env: dict[str, str],
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(home, "--workers", "4", env=server_env)
    seed = {"command": "counter-cmd", "env": {"COUNT": "0", "TOKEN": "canary-load-token"}}
    created = httpx.put(
        f"{server.url}{SERVERS}/{COUNTER}", json=seed, headers=server.headers, timeout=30
    )
    assert created.status_code == 201, created.text

    rec = Recorder()
    done = threading.Event()
    workers = INCREMENTERS + CREATORS + READERS
    with ThreadPoolExecutor(workers) as pool:
        readers = [pool.submit(read_until, rec, server, done) for _ in range(READERS)]
        creators = [pool.submit(create, rec, server, t) for t in range(CREATORS)]
        incrementers = [pool.submit(increment, rec, server, t) for t in range(INCREMENTERS)]
        try:
            for future in incrementers + creators:
                future.result()
        finally:
            done.set()
        for future in readers:
            future.result()
        names = [name for future in creators for name in future.result()]

    server_errors = [(request, status) for request, status in rec.statuses if status >= 500]
    assert server_errors == []
    # Every acknowledged write carried a different value: no two writes raced through If-Match.
    assert sorted(rec.written) == list(range(1, INCREMENTERS * INCREMENTS + 1))

    with server.client(timeout=30) as http:
        final = http.get(f"{SERVERS}/{COUNTER}", headers=PLAINTEXT)
        listing = http.get(SERVERS)
    assert final.json()["config"]["env"] == {"COUNT": "400", "TOKEN": "canary-load-token"}
    assert sorted(s["name"] for s in listing.json()["servers"]) == sorted([COUNTER, *names])

    stored = read_settings(home)["agent_settings"]["mcp_config"]["mcpServers"]
    assert sorted(stored) == sorted([COUNTER, *names])
    assert Fernet(secret_key).decrypt(stored[COUNTER]["env"]["COUNT"].encode()) == b"400"
    for name in names:
        token = stored[name]["headers"]["X-Key"]
        assert Fernet(secret_key).decrypt(token.encode()) == f"k-{name}".encode()

    # The load really had four processes to go to.
    started = {line for line in server.log().splitlines() if "Started server process [" in line}
    assert len(started) == 4, server.log()
