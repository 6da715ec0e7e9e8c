"""Every server write changes one entry of the one settings document and nothing else: other
servers, their tokens and ETags, and the file when a write fails.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from servers_seed import (
    AUTH,
    BASE,
    HDR,
    LLM_KEY,
    PLAINTEXT,
    REMOTE,
    STDIO,
    assert_no_canary,
    created,
    put,
    seed_document,
    tokens,
    url,
    without_server,
)
from starlette.testclient import TestClient
from support import MASK, read_settings, settings_bytes

# --- one document -------------------------------------------------------------------------------


def test_each_write_changes_only_the_named_entry(client: TestClient, home: Path) -> None:
    seed_document(client)
    writes: list[tuple[str, Callable[[], httpx.Response]]] = [
        ("a", lambda: put(client, "a", {**STDIO, "env": {"A": MASK, "B": "b2"}})),
        ("a", lambda: client.patch(url("a"), json={"env": {"A": None, "N": "n"}})),
        ("c", lambda: put(client, "c", {"command": "c", "env": {"K": "k"}})),
        ("b", lambda: client.patch(url("b"), json={"headers": {"X-Api-Key": MASK, "H2": "h"}})),
        ("a", lambda: client.delete(url("a"))),
        ("c", lambda: client.delete(url("c"))),
    ]
    for name, write in writes:
        before = read_settings(home)
        response = write()
        assert response.status_code in (200, 201, 204), response.text
        after = read_settings(home)
        assert without_server(after, name) == without_server(before, name)
        assert after["agent_settings"]["mcp_config"]["x-ide"] == {
            "theme": "dark",
            "pinned": ["a", "b"],
        }
        assert after["misc_settings"] == {"ui": {"lang": "fr"}, "n": 3}
        assert (
            after["agent_settings"]["llm"]["api_key"] == before["agent_settings"]["llm"]["api_key"]
        )
    settings = client.get("/api/settings", headers=PLAINTEXT).json()
    assert settings["agent_settings"]["llm"]["api_key"] == LLM_KEY
    assert list(settings["agent_settings"]["mcp_config"]["mcpServers"]) == ["b"]


def test_failed_writes_leave_the_file_byte_identical(client: TestClient, home: Path) -> None:
    seed_document(client)
    stale = '"stale-etag"'
    failures: list[Callable[[], httpx.Response]] = [
        lambda: put(client, "a", {"args": []}),
        lambda: put(client, "a", {**STDIO, "env": {"Z": MASK}}),
        lambda: client.patch(url("a"), json={"env": {"A": 5}}),
        lambda: client.patch(url("b"), json={"headers": {"authorization": "Bearer x"}}),
        lambda: client.patch(url("ghost"), json={"command": "x"}),
        lambda: client.delete(url("ghost")),
        lambda: put(client, "a", STDIO, **{"If-Match": stale}),
        lambda: client.delete(url("a"), headers={"If-Match": stale}),
        lambda: put(client, "b", REMOTE, **{"If-None-Match": "*"}),
        lambda: put(client, "a%20b", STDIO),
        lambda: client.put(
            url("a"), content=b'{"command": ', headers={"content-type": "application/json"}
        ),
        lambda: client.put(url("a"), content=b"command=x", headers={"content-type": "text/plain"}),
        lambda: client.put(
            url("a"), content=b"[1, 2]", headers={"content-type": "application/json"}
        ),
        lambda: client.get(url("a"), headers={"X-Expose-Secrets": "all"}),
    ]
    before = settings_bytes(home)
    for failure in failures:
        response = failure()
        assert 400 <= response.status_code < 500, response.text
        assert settings_bytes(home) == before
        assert_no_canary(response.text)


def test_global_patch_of_one_server_changes_only_its_etag(client: TestClient, home: Path) -> None:
    seed_document(client)
    created(client, "c", {"command": "c", "env": {"K": "k"}})

    def etags() -> dict[str, str]:
        return {s["name"]: s["etag"] for s in client.get(BASE).json()["servers"]}

    before, tokens_before = etags(), tokens(home)
    response = client.patch(
        "/api/settings",
        json={"agent_settings_diff": {"mcp_config": {"mcpServers": {"b": {"description": "d"}}}}},
    )
    assert response.status_code == 200
    after = etags()
    assert after["b"] != before["b"]
    assert {k: v for k, v in after.items() if k != "b"} == {
        k: v for k, v in before.items() if k != "b"
    }
    assert tokens(home) == tokens_before
    assert client.get(url("b")).headers["etag"] == after["b"]

    response = client.patch(
        "/api/settings",
        json={"agent_settings_diff": {"mcp_config": {"mcpServers": {"c": {"env": {"K": "k2"}}}}}},
    )
    assert response.status_code == 200
    final = etags()
    assert final["c"] != after["c"]
    assert {k: v for k, v in final.items() if k != "c"} == {
        k: v for k, v in after.items() if k != "c"
    }


def test_tokens_are_real_fernet_tokens_of_the_plaintext(
    client: TestClient, home: Path, secret_key: str
) -> None:
    created(client, "remote", REMOTE)
    fernet = Fernet(secret_key)
    disk = tokens(home)
    assert fernet.decrypt(disk[("remote", "auth")].encode()).decode() == AUTH
    assert fernet.decrypt(disk[("remote", "headers", "X-Api-Key")].encode()).decode() == HDR
    assert_no_canary(json.dumps(read_settings(home)))


@pytest.mark.parametrize("suffix", ["", "/tools", "/health"])
def test_an_encoded_slash_never_reaches_another_route(
    client: TestClient, home: Path, suffix: str
) -> None:
    assert client.put(f"{BASE}/x", json={"command": "x"}).status_code == 201
    before = settings_bytes(home)
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = client.request(method, f"{BASE}/x%2F{suffix.lstrip('/') or 'y'}", json={})
        # /x/tools of a server x that exists would answer 200: the encoded slash must not
        assert response.status_code in (404, 405), (method, response.status_code)
    assert settings_bytes(home) == before


@pytest.mark.parametrize("encoded", ["%2E", "%2E%2E"])
def test_dot_names_are_refused_with_the_rule(client: TestClient, encoded: str) -> None:
    response = client.put(f"{BASE}/{encoded}", json={"command": "x"})
    assert response.status_code == 400
    assert "not . or .." in response.json()["detail"]
