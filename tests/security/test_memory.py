"""Caches are bounded by bytes as well as entries, and drop what a write replaced: a server
process that takes many large writes to one name keeps its memory where it started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support import ServerProcess, cli_env

SERVERS = "/api/settings/mcp-servers"
WRITES = 300
VALUE_BYTES = 900 * 1024
LIMIT_BYTES = 50 * 1024 * 1024


def resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


def test_three_hundred_large_writes_to_one_name_leave_memory_where_it_started(
    home: Path, start_server: Any
) -> None:
    server: ServerProcess = start_server(home, env=cli_env())
    with server.client(timeout=60) as http:
        assert http.get(SERVERS).status_code == 200
        start = resident_bytes(server.proc.pid)
        for i in range(WRITES):
            # A new secret each time (a new token to decrypt and cache) and new args, so
            # every cache keyed by value or by object sees a new entry on every write.
            value = f"{i:06d}" + "s" * (VALUE_BYTES * 2 // 3)
            args = [f"{i:06d}" + "a" * (VALUE_BYTES // 3)]
            config = {"command": "x", "args": args, "env": {"BIG": value}}
            response = http.put(f"{SERVERS}/big", json=config)
            assert response.status_code in (200, 201), response.text
            if i % 50 == 0:  # the reads that fill the caches: plaintext, list, ETag
                plain = http.get(f"{SERVERS}/big", headers={"X-Expose-Secrets": "plaintext"})
                assert plain.json()["config"]["env"]["BIG"] == value
                assert http.get(SERVERS).status_code == 200
        grown = resident_bytes(server.proc.pid) - start
    print(f"resident memory grew by {grown / 2**20:.1f} MiB")
    assert grown < LIMIT_BYTES, f"resident memory grew by {grown / 2**20:.1f} MiB"
