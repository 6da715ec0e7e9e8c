"""settings.json held in memory: the store keeps the file's encoding, not the parsed servers,
and reads each server from it when asked, the same as the file says."""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path
from typing import Any

from support import read_settings

from agent_server.document import mcp_servers
from agent_server.server_writes import with_server
from agent_server.stores import FileStore

SERVERS = 2000


def _document(count: int) -> dict[str, Any]:
    servers = {
        f"srv{i:05d}": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem", f"/srv/data/{i:05d}"],
            "env": {key: f"gAAAAAB{key}{i:05d}" + "x" * 120 for key in "ABC"},
            "description": f"server {i}",
        }
        for i in range(count)
    }
    return {
        "schema_version": 2,
        "agent_settings": {"agent_kind": "openhands", "mcp_config": {"mcpServers": servers}},
        "misc_settings": {"kept": True},
    }


def _write(home: Path, document: dict[str, Any]) -> int:
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = json.dumps(document, separators=(",", ":")).encode()
    (home / "settings.json").write_bytes(data)
    return len(data)


def test_the_store_holds_about_the_file_not_the_parsed_servers(home: Path) -> None:
    size = _write(home, _document(SERVERS))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        store = FileStore(home)
        document = store.read()
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    try:
        assert len(mcp_servers(document)) == SERVERS
        # Parsed, these servers take about 2.4 times the file; encoded, about the file.
        assert held < 1.5 * size, f"{held:,} bytes held for a file of {size:,}"
    finally:
        store.close()


def test_servers_read_from_the_store_are_what_the_file_holds_after_writes(home: Path) -> None:
    expected = _document(300)
    _write(home, expected)
    store = FileStore(home)
    try:
        servers = expected["agent_settings"]["mcp_config"]["mcpServers"]
        store.update(lambda d: with_server(d, "srv00007", {"command": "changed"}))
        store.update(lambda d: with_server(d, "srv00000", None))
        store.update(lambda d: with_server(d, "added", {"url": "https://example.com/mcp"}))
        servers["srv00007"] = {"command": "changed"}
        del servers["srv00000"]
        servers["added"] = {"url": "https://example.com/mcp"}

        read = mcp_servers(store.read())
        assert list(read) == list(servers)
        assert {name: read[name] for name in read} == servers
        assert read["srv00008"] == read["srv00008"] and read.get("srv00000") is None
        on_disk = read_settings(home)["agent_settings"]["mcp_config"]["mcpServers"]
        assert on_disk == servers
        assert list(on_disk) == list(servers)
    finally:
        store.close()
    reopened = FileStore(home)
    try:
        again = mcp_servers(reopened.read())
        assert {name: again[name] for name in again} == servers
    finally:
        reopened.close()
