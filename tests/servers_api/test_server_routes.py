"""MCP servers under /api/settings/mcp-servers: the list, one server's reads in each expose mode,
PUT, PATCH and DELETE, and which names a route takes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from servers_seed import (
    BASE,
    CANARIES,
    ENCRYPTED,
    ENV_B,
    REMOTE,
    STDIO,
    SUMMARY_KEYS,
    assert_no_canary,
    created,
    plaintext,
    put,
    stored_servers,
    tokens,
    url,
)
from starlette.testclient import TestClient
from support import MASK, settings_bytes, settings_written

# --- routes -------------------------------------------------------------------------------------


def test_list_holds_summaries_sorted_by_name_without_secrets(client: TestClient) -> None:
    created(client, "zeta", REMOTE)
    created(client, "alpha", STDIO)
    created(
        client,
        "Mid",
        {**STDIO, "description": "a tool", "icon": "https://x/i.png", "enabled": False},
    )
    created(client, "typed", {"command": "t", "type": "stdio"})
    response = client.get(BASE)
    assert response.status_code == 200
    servers = response.json()["servers"]
    assert list(response.json()) == ["servers", "etag"]
    assert response.json()["etag"] == response.headers["etag"]
    assert [s["name"] for s in servers] == sorted(["zeta", "alpha", "Mid", "typed"])
    by_name = {s.pop("name"): s for s in servers}
    for name, summary in by_name.items():
        assert summary.pop("etag") == client.get(url(name)).headers["etag"]
        assert set(summary) == SUMMARY_KEYS - {"name"}
    assert by_name["zeta"] == {
        "source": "user",
        "transport_kind": "remote",
        "transport": "sse",
        "enabled": True,
        "description": None,
        "icon": None,
        "registry": None,
        "update_available": None,
    }
    assert by_name["alpha"] == {
        "source": "user",
        "transport_kind": "stdio",
        "transport": None,
        "enabled": True,
        "description": None,
        "icon": None,
        "registry": None,
        "update_available": None,
    }
    assert by_name["Mid"]["enabled"] is False
    assert by_name["Mid"]["description"] == "a tool"
    assert by_name["Mid"]["icon"] == "https://x/i.png"
    assert by_name["typed"]["transport"] == "stdio"
    assert_no_canary(response.text)


def test_list_etag_changes_with_any_server_and_answers_304(client: TestClient) -> None:
    created(client, "a", STDIO)
    created(client, "b", REMOTE)
    first = client.get(BASE)
    etag = first.headers["etag"]
    for header in (etag, "W/" + etag, f'"other", {etag}'):
        again = client.get(BASE, headers={"If-None-Match": header})
        assert again.status_code == 304
        assert again.headers["etag"] == etag
        assert again.content == b""

    changes: list[Callable[[], httpx.Response]] = [
        lambda: client.patch(url("b"), json={"headers": {"X-Api-Key": "new-value"}}),
        lambda: client.patch(url("a"), json={"description": "now described"}),
        lambda: put(client, "c", {"command": "c"}),
        lambda: client.delete(url("c")),
    ]
    for change in changes:
        assert change().status_code in (200, 201, 204)
        listing = client.get(BASE, headers={"If-None-Match": etag})
        assert listing.status_code == 200
        assert listing.headers["etag"] != etag
        etag = listing.headers["etag"]


def test_get_answers_name_source_etag_and_config(client: TestClient) -> None:
    created(client, "files", STDIO)
    response = client.get(url("files"))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"name", "source", "etag", "config"}
    assert body["name"] == "files"
    assert body["source"] == "user"
    assert response.headers["etag"] == body["etag"]
    assert body["config"] == {**STDIO, "env": {"A": MASK, "B": MASK}}


def test_get_missing_server_is_404(client: TestClient) -> None:
    assert client.get(url("nobody")).status_code == 404


def test_expose_secrets_modes(client: TestClient, home: Path) -> None:
    created(client, "files", STDIO)
    created(client, "remote", REMOTE)
    disk = tokens(home)
    for headers in ({}, {"X-Expose-Secrets": "redacted"}):
        stdio = client.get(url("files"), headers=headers)
        remote = client.get(url("remote"), headers=headers)
        assert stdio.json()["config"]["env"] == {"A": MASK, "B": MASK}
        assert remote.json()["config"]["headers"] == {"X-Api-Key": MASK}
        assert remote.json()["config"]["auth"] == MASK
        assert_no_canary(stdio.text + remote.text)

    stdio = client.get(url("files"), headers=ENCRYPTED).json()["config"]
    remote = client.get(url("remote"), headers=ENCRYPTED).json()["config"]
    assert stdio["env"] == {"A": disk[("files", "env", "A")], "B": disk[("files", "env", "B")]}
    assert remote["headers"] == {"X-Api-Key": disk[("remote", "headers", "X-Api-Key")]}
    assert remote["auth"] == disk[("remote", "auth")]
    for token in disk.values():
        assert token not in CANARIES
        assert token.startswith("gAAAAA")

    assert plaintext(client, "files") == STDIO
    assert plaintext(client, "remote") == REMOTE

    bad = client.get(url("files"), headers={"X-Expose-Secrets": "everything"})
    assert bad.status_code == 400
    assert "redacted" in bad.json()["detail"]


def test_get_if_none_match_answers_304_with_etag(client: TestClient) -> None:
    etag = created(client, "files", STDIO)
    response = client.get(url("files"), headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.headers["etag"] == etag
    other = client.get(url("files"), headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_put_creates_with_201_and_location_then_replaces_with_200(
    client: TestClient,
) -> None:
    first = put(client, "files", STDIO)
    assert first.status_code == 201
    assert first.headers["location"] == f"{BASE}/files"
    replacement = {"command": "npx", "args": ["other"], "env": {"C": "c-value"}}
    second = put(client, "files", replacement)
    assert second.status_code == 200
    assert "location" not in second.headers
    assert plaintext(client, "files") == replacement  # replaced, not merged: A and B are gone


def test_patch_is_a_merge_patch_of_the_stored_config(client: TestClient, home: Path) -> None:
    created(client, "files", {**STDIO, "env": {**STDIO["env"], "C": "c-value"}})
    before = tokens(home)

    deleted = client.patch(url("files"), json={"env": {"A": None}})
    assert deleted.status_code == 200
    assert plaintext(client, "files")["env"] == {"B": ENV_B, "C": "c-value"}

    added = client.patch(url("files"), json={"env": {"D": "d-value"}, "description": "files"})
    assert added.status_code == 200
    config = plaintext(client, "files")
    assert config == {
        "command": "uvx",
        "args": STDIO["args"],
        "env": {"B": ENV_B, "C": "c-value", "D": "d-value"},
        "description": "files",
    }
    after = tokens(home)
    assert after[("files", "env", "B")] == before[("files", "env", "B")]
    assert after[("files", "env", "C")] == before[("files", "env", "C")]
    assert ("files", "env", "A") not in after


def test_patch_never_creates(client: TestClient, home: Path) -> None:
    response = client.patch(url("ghost"), json=STDIO)
    assert response.status_code == 404
    assert client.get(url("ghost")).status_code == 404
    created(client, "other", STDIO)
    before = settings_bytes(home)
    assert client.patch(url("ghost"), json={"command": "x"}).status_code == 404
    assert settings_bytes(home) == before


def test_delete_answers_204_then_404(client: TestClient, home: Path) -> None:
    created(client, "files", STDIO)
    response = client.delete(url("files"))
    assert response.status_code == 204
    assert response.content == b""
    assert client.get(url("files")).status_code == 404
    assert "files" not in stored_servers(home)
    assert client.delete(url("files")).status_code == 404


def test_successful_writes_answer_new_etag_and_redacted_server(client: TestClient) -> None:
    writes = [
        lambda: put(client, "remote", REMOTE),
        lambda: put(client, "remote", {**REMOTE, "description": "changed"}),
        lambda: client.patch(url("remote"), json={"headers": {"X-Other": "canary-env-b-9d03"}}),
    ]
    previous = None
    for write in writes:
        response = write()
        assert response.status_code in (200, 201)
        body = response.json()
        assert body["name"] == "remote"
        assert body["source"] == "user"
        assert response.headers["etag"] == body["etag"] != previous
        assert client.get(url("remote")).headers["etag"] == body["etag"]
        assert set(body["config"]["headers"].values()) == {MASK}
        assert body["config"]["auth"] == MASK
        assert_no_canary(response.text)
        previous = body["etag"]


@pytest.mark.parametrize("name", ["a%20b", "caf%C3%A9", "x" * 129, "a%09b", "a%22b", "a%0A"])
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_invalid_names_are_400_with_the_rule(
    client: TestClient, home: Path, method: str, name: str
) -> None:
    response = client.request(method, url(name), json=None if method == "GET" else STDIO)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "128" in detail
    assert "_ . @ : -" in detail
    assert not settings_written(home)


def test_names_of_allowed_characters_up_to_128_are_accepted(client: TestClient) -> None:
    for name in ("x" * 128, "a", "Az09_.@:-name"):
        assert put(client, name, STDIO).status_code == 201
        assert client.get(url(name)).json()["name"] == name
    assert [s["name"] for s in client.get(BASE).json()["servers"]] == sorted(
        ["x" * 128, "a", "Az09_.@:-name"]
    )


@pytest.mark.parametrize("path", ["a/b", "a%2Fb", "a/b/c"])
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_a_slash_never_matches_a_route(
    client: TestClient, home: Path, method: str, path: str
) -> None:
    created(client, "a", STDIO)
    before = settings_bytes(home)
    response = client.request(method, url(path), json=None if method == "GET" else STDIO)
    assert response.status_code == 404
    assert settings_bytes(home) == before
