"""The memory figures: the parsed document's size, and an empty server's RSS warmed as the
measured servers are (the baseline the memory target adds the document to)."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import orjson

from bench.bare_app import LIST_PATH, SETTINGS_PATH
from bench.load import new_client, send
from bench.procs import ServerProcess, start_agent_server, start_registry_app
from bench.scenarios import OPERATIONS, add_registry, one_path, remove_installed
from bench.seed import seed_env, server_config

WARM_REQUESTS = 20  # of each operation, before the empty server's memory is read
REST_SECONDS = 2.5  # past the server's IDLE_SECONDS (agent_server/heap.py), with a margin


def rss_at_rest(server: ServerProcess) -> float:
    """The server's resident memory (MiB) once it has been idle long enough to give back what
    its last requests freed, as a server between bursts does; the same for every figure."""
    time.sleep(REST_SECONDS)
    return server.rss_mib()


def parsed_size_mib(data: bytes) -> float:
    """What the parsed document takes in memory, as tracemalloc counts its allocations."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        document = orjson.loads(data)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del document
    return (after - before) / 2**20


def empty_server_rss(root: Path) -> float:
    """The resident memory (MiB) of a server with an empty home, warmed as the measured ones.

    It serves WARM_REQUESTS of every measured operation on one server (its registry added, as
    theirs is), then the installed servers and that one are deleted, so it holds no server but
    has loaded and run the same code. Measured after three reads only, it lacked about 7 MiB of
    code and caches that the measured servers carry at any size, and the memory target charged
    those to the document.
    """
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    server = start_agent_server(root / "home-empty", logs)
    registry = start_registry_app(logs)
    try:
        add_registry(server, registry)
        with new_client(server.url) as client:
            body = orjson.dumps(server_config(0, seed_env(0)))
            client.put(one_path(0), content=body).raise_for_status()
            for _name, _label, make, _kind in OPERATIONS:
                factory = make(1)
                for i in range(WARM_REQUESTS):
                    send(client, factory(i)).raise_for_status()
            remove_installed(server.url)
            client.delete(one_path(0)).raise_for_status()
            for path in (SETTINGS_PATH, LIST_PATH, "/health"):
                client.get(path).raise_for_status()
        return rss_at_rest(server)
    finally:
        server.stop()
        registry.stop()
