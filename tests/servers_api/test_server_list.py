"""The server list a running server keeps, made again for each version from the servers that
changed, is byte for byte the list a fresh server makes of the same document."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from servers_seed import BASE, ENV_A, url
from starlette.testclient import TestClient

MANAGED = {
    "mcpServers": {
        "m-mid": {"url": "https://corp.example.com/mcp", "transport": "http"},
        "s04": {"command": "corp-tool", "description": "hides the user's s04"},
    }
}


def stdio(index: int, **more: Any) -> dict[str, Any]:
    return {"command": "uvx", "args": [f"tool-{index}"], "env": {"A": ENV_A}, **more}


def assert_listed_as_fresh(client: TestClient, fresh: Callable[[], TestClient]) -> None:
    listed = client.get(BASE)
    assert listed.status_code == 200, listed.text
    again = fresh().get(BASE)
    assert listed.content == again.content
    assert listed.headers["etag"] == again.headers["etag"] == listed.json()["etag"]
    assert ENV_A not in listed.text


def test_the_list_after_each_write_is_a_fresh_servers_list(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    first = make_client()
    for index in range(0, 40, 2):
        assert first.put(url(f"s{index:02d}"), json=stdio(index)).status_code == 201
    managed = tmp_path / "managed.json"
    managed.write_text(json.dumps(MANAGED))
    client = make_client(managed_config=managed)
    assert_listed_as_fresh(client, lambda: make_client(managed_config=managed))

    steps: list[Callable[[], httpx.Response]] = [
        lambda: client.put(url("s00"), json=stdio(0, description="the first, replaced")),
        lambda: client.put(url("s01"), json=stdio(1)),  # added between two
        lambda: client.put(url("a-first"), json=stdio(100)),  # added before all
        lambda: client.put(url("z-last"), json=stdio(101)),  # added after all
        lambda: client.put(url("m-mie"), json=stdio(102)),  # beside a managed one
        lambda: client.delete(url("a-first")),
        lambda: client.delete(url("z-last")),
        lambda: client.delete(url("s20")),
        lambda: client.patch(url("s10"), json={"enabled": False, "env": {"A": "changed"}}),
        lambda: client.patch("/api/settings", json={"misc_settings_diff": {"theme": "dark"}}),
        lambda: client.patch(  # many at once, in one whole-document PATCH
            "/api/settings",
            json={
                "agent_settings_diff": {
                    "mcp_config": {
                        "mcpServers": {f"s{i:02d}": stdio(i, timeout=9) for i in range(0, 40, 3)}
                    }
                }
            },
        ),
    ]
    for step in steps:
        answer = step()
        assert answer.status_code < 300, answer.text
        assert_listed_as_fresh(client, lambda: make_client(managed_config=managed))
    names = [summary["name"] for summary in client.get(BASE).json()["servers"]]
    assert names == sorted(names) and {"m-mid", "s01", "m-mie"} <= set(names)
    assert "a-first" not in names and "s20" not in names

    # Another agent kind lists no servers; back to openhands, its servers start empty.
    for kind in ("acp", "openhands"):
        answer = client.patch("/api/settings", json={"agent_settings_diff": {"agent_kind": kind}})
        assert answer.status_code == 200, answer.text
        assert_listed_as_fresh(client, lambda: make_client(managed_config=managed))
    assert client.put(url("s38"), json=stdio(38)).status_code == 201
    assert_listed_as_fresh(client, lambda: make_client(managed_config=managed))
