"""Crash: a server killed with SIGKILL in the middle of a burst of writes, twenty times.

Each cycle starts a server on the same home, lets a few writer threads PUT, DELETE and PATCH for
a fraction of a second, and kills the process while they are still writing. Then settings.json
must parse, and every write that was answered 2xx before the kill must be on disk: each key holds
its last acknowledged value, or the value of the write that was in flight at the kill. The next
cycle's start on the same home, with whatever temp files the kill left (and, once, a torn temp
file planted as a kill halfway through writing one would leave it), must succeed.
"""

from __future__ import annotations

import os
import random
import signal
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from support import ServerProcess, read_settings

CYCLES = 20
WRITERS = 3
SERVERS_PER_WRITER = 3
BURST_S = (0.2, 0.4)
MAX_WRITES_PER_BURST = 400  # per writer: bounds the loop if a burst ever runs long
SERVERS = "/api/settings/mcp-servers"
ABSENT = None

Value = str | None  # the value a key holds; None: the key is absent


@dataclass
class Key:
    """What the client knows of one key: its last acknowledged value, and a write in flight."""

    acked: Value = ABSENT
    in_flight: list[Value] = field(default_factory=list)  # empty, or the one unanswered write

    def possible(self) -> list[Value]:
        return [self.acked, *self.in_flight]


class Model:
    def __init__(self) -> None:
        self.keys: dict[str, Key] = {}
        self.sequence = [0] * WRITERS
        self.acked_writes = 0

    def key(self, name: str) -> Key:
        return self.keys.setdefault(name, Key())


def server_key(writer: int, slot: int) -> str:
    return f"server:crash-w{writer}-s{slot}"


def misc_key(writer: int) -> str:
    return f"misc:crash-w{writer}"


def write_once(http: httpx.Client, key: str, value: Value) -> httpx.Response:
    kind, name = key.split(":", 1)
    if kind == "misc":
        return http.patch("/api/settings", json={"misc_settings_diff": {name: value}})
    if value is None:
        return http.delete(f"{SERVERS}/{name}")
    config = {"command": "crash-cmd", "description": value, "env": {"V": value}}
    return http.put(f"{SERVERS}/{name}", json=config)


def writer(
    model: Model, server: ServerProcess, index: int, stop: threading.Event, errors: list[str]
) -> None:
    """Write until stopped or the server dies: PUTs, a DELETE now and then, and misc PATCHes."""
    with server.client(timeout=10) as http:
        for _ in range(MAX_WRITES_PER_BURST):
            if stop.is_set():
                return
            n = model.sequence[index] = model.sequence[index] + 1
            if n % 3 == 0:
                key = model.key(misc_key(index))
                name = misc_key(index)
            else:
                name = server_key(index, n % SERVERS_PER_WRITER)
                key = model.key(name)
            value: Value = f"v{n}"
            if n % 7 == 0 and key.acked is not ABSENT:
                value = ABSENT
            key.in_flight = [value]
            try:
                response = write_once(http, name, value)
            except httpx.TransportError:
                return  # killed: this write stays in flight
            if response.status_code >= 300:
                errors.append(f"{name} = {value!r}: {response.status_code} {response.text}")
                return
            key.acked, key.in_flight = value, []
            model.acked_writes += 1


def on_disk(home: Path, fernet: Fernet) -> dict[str, Value]:
    """Every key's value in settings.json; a server's secret env value must match it."""
    document = read_settings(home)
    found: dict[str, Value] = {f"misc:{k}": v for k, v in document["misc_settings"].items()}
    servers = document["agent_settings"]["mcp_config"]["mcpServers"]
    for name, config in servers.items():
        secret = fernet.decrypt(config["env"]["V"].encode()).decode()
        assert secret == config["description"], f"{name}: env and description disagree"
        found[f"server:{name}"] = config["description"]
    return found


def check_after_kill(model: Model, home: Path, fernet: Fernet, cycle: int) -> None:
    disk = on_disk(home, fernet)
    unknown = sorted(set(disk) - set(model.keys))
    assert unknown == [], f"cycle {cycle}: keys nobody wrote: {unknown}"
    for name, key in model.keys.items():
        actual = disk.get(name, ABSENT)
        assert actual in key.possible(), (
            f"cycle {cycle}: {name} is {actual!r} on disk; the last acknowledged write was "
            f"{key.acked!r} and the write in flight {key.in_flight}"
        )
        key.acked, key.in_flight = actual, []


def check_private(home: Path) -> None:
    """The home and every file in it, temp files a kill left included, are this user's only."""
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for path in home.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def plant_torn_temp_file(home: Path) -> None:
    """What a kill halfway through writing a temp file leaves: half a document under a temp name."""
    data = (home / "settings.json").read_bytes()
    torn = home / ".settings.json.torn0000.tmp"
    torn.write_bytes(data[: len(data) // 2])
    torn.chmod(0o600)


def test_acknowledged_writes_survive_twenty_sigkills_mid_burst(
    home: Path,
    secret_key: str,
    server_env: dict[str, str],
    start_server: Callable[..., ServerProcess],
) -> None:
    fernet = Fernet(secret_key)
    rng = random.Random(20240607)
    model = Model()
    in_flight_at_kills = 0
    for cycle in range(CYCLES):
        if cycle == CYCLES // 2:
            plant_torn_temp_file(home)
        server = start_server(home, env=server_env)
        if cycle:
            # The restarted server serves what the file holds, after a kill of its predecessor.
            check_served(server, home, fernet)
        stop = threading.Event()
        errors: list[str] = []
        acked_before = model.acked_writes
        threads = [
            threading.Thread(target=writer, args=(model, server, i, stop, errors))
            for i in range(WRITERS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(*BURST_S))
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=10)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
            assert not thread.is_alive()
        assert errors == []
        assert model.acked_writes > acked_before, f"cycle {cycle}: no write was acknowledged"
        in_flight_at_kills += sum(1 for key in model.keys.values() if key.in_flight)
        check_after_kill(model, home, fernet, cycle)
        check_private(home)

    # The kills did land mid-write, and a last start after them all still serves the file.
    assert in_flight_at_kills > 0
    check_served(start_server(home, env=server_env), home, fernet)


def check_served(server: ServerProcess, home: Path, fernet: Fernet) -> None:
    disk = on_disk(home, fernet)
    with server.client(timeout=10) as http:
        settings = http.get("/api/settings")
        listing = http.get(SERVERS)
    assert settings.status_code == 200, settings.text
    assert listing.status_code == 200, listing.text
    served: dict[str, Any] = {f"misc:{k}": v for k, v in settings.json()["misc_settings"].items()}
    served.update((f"server:{s['name']}", s["description"]) for s in listing.json()["servers"])
    assert served == disk
