"""If-Match and If-None-Match on reads and writes, the order of a write's checks, and 428 where
the server requires a precondition."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from preconditions_support import (
    BASE,
    PLAINTEXT,
    REMOTE,
    STALE,
    STDIO,
    create,
    etag_of,
    url,
)
from starlette.testclient import TestClient
from support import (
    ServerProcess,
    cli_env,
    settings_bytes,
)

# --- If-Match / If-None-Match -------------------------------------------------------------------


def test_if_match_uses_strong_comparison_and_lists(client: TestClient) -> None:
    etag = create(client, "remote", REMOTE)
    weak = client.patch(url("remote"), json={"description": "x"}, headers={"If-Match": "W/" + etag})
    assert weak.status_code == 412
    assert weak.headers["etag"] == etag
    stale = client.patch(url("remote"), json={"description": "x"}, headers={"If-Match": STALE})
    assert stale.status_code == 412
    assert stale.headers["etag"] == etag
    listed = client.patch(
        url("remote"), json={"description": "x"}, headers={"If-Match": f'"x", {etag}'}
    )
    assert listed.status_code == 200
    etag = listed.headers["etag"]
    assert client.put(url("remote"), json=REMOTE, headers={"If-Match": etag}).status_code == 200
    read = client.get(url("remote"), headers={"If-Match": STALE})
    assert read.status_code == 412
    assert read.headers["etag"] == client.get(url("remote")).headers["etag"]


def test_if_match_star_means_the_server_exists(client: TestClient) -> None:
    assert (
        client.patch(url("ghost"), json={"command": "x"}, headers={"If-Match": "*"}).status_code
        == 404
    )
    assert client.delete(url("ghost"), headers={"If-Match": "*"}).status_code == 404
    missing_put = client.put(url("ghost"), json=STDIO, headers={"If-Match": "*"})
    assert missing_put.status_code == 412
    assert "etag" not in missing_put.headers
    assert client.get(url("ghost")).status_code == 404

    client.put(url("files"), json=STDIO)
    assert client.put(url("files"), json=REMOTE, headers={"If-Match": "*"}).status_code == 200
    patched = client.patch(url("files"), json={"description": "d"}, headers={"If-Match": "*"})
    assert patched.status_code == 200
    assert client.delete(url("files"), headers={"If-Match": "*"}).status_code == 204


def test_if_none_match_uses_weak_comparison(client: TestClient) -> None:
    etag = create(client, "remote", REMOTE)
    for header in (etag, "W/" + etag, f'"x", W/{etag}', "*"):
        response = client.get(url("remote"), headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.headers["etag"] == etag
    assert client.get(url("remote"), headers={"If-None-Match": STALE}).status_code == 200
    writes: list[Callable[[str], httpx.Response]] = [
        lambda h: client.put(url("remote"), json=STDIO, headers={"If-None-Match": h}),
        lambda h: client.patch(
            url("remote"), json={"description": "x"}, headers={"If-None-Match": h}
        ),
        lambda h: client.delete(url("remote"), headers={"If-None-Match": h}),
    ]
    for write in writes:
        for header in ("W/" + etag, etag):
            response = write(header)
            assert response.status_code == 412, header
            assert response.headers["etag"] == etag
    ok = client.patch(url("remote"), json={"description": "y"}, headers={"If-None-Match": STALE})
    assert ok.status_code == 200


def test_if_none_match_star_creates_only_once(client: TestClient) -> None:
    first = client.put(url("files"), json=STDIO, headers={"If-None-Match": "*"})
    assert first.status_code == 201
    second = client.put(url("files"), json=REMOTE, headers={"If-None-Match": "*"})
    assert second.status_code == 412
    assert second.headers["etag"] == first.headers["etag"]
    assert client.get(url("files"), headers=PLAINTEXT).json()["config"] == STDIO


def test_if_match_is_evaluated_before_if_none_match(client: TestClient) -> None:
    etag = create(client, "remote", REMOTE)
    both = {"If-Match": STALE, "If-None-Match": etag}
    response = client.get(url("remote"), headers=both)
    assert response.status_code == 412  # If-Match fails first: not 304
    assert response.headers["etag"] == etag
    passes = client.get(url("remote"), headers={"If-Match": etag, "If-None-Match": etag})
    assert passes.status_code == 304
    write = client.patch(
        url("remote"), json={"description": "z"}, headers={"If-Match": etag, "If-None-Match": STALE}
    )
    assert write.status_code == 200


def test_412_carries_the_current_etag_only_when_the_server_exists(client: TestClient) -> None:
    gone = client.put(url("ghost"), json=STDIO, headers={"If-Match": STALE})
    assert gone.status_code == 412
    assert "etag" not in gone.headers
    etag = create(client, "files", STDIO)
    for response in (
        client.put(url("files"), json=STDIO, headers={"If-Match": STALE}),
        client.patch(url("files"), json={"args": []}, headers={"If-Match": STALE}),
        client.delete(url("files"), headers={"If-Match": STALE}),
    ):
        assert response.status_code == 412
        assert response.headers["etag"] == etag
    assert etag_of(client, "files") == etag


# --- order of checks on a write -----------------------------------------------------------------


def test_agent_kind_comes_before_preconditions(client: TestClient) -> None:
    create(client, "files", STDIO)
    switched = client.patch(
        "/api/settings", json={"agent_settings_diff": {"agent_kind": "acp", "acp_server": "x"}}
    )
    assert switched.status_code == 200
    for response in (
        client.put(url("files"), json=STDIO, headers={"If-Match": STALE}),
        client.patch(url("files"), json={"args": []}, headers={"If-Match": STALE}),
        client.delete(url("files"), headers={"If-Match": STALE}),
        client.put(
            url("files"),
            content=b"{",
            headers={"If-Match": STALE, "content-type": "application/json"},
        ),
    ):
        assert response.status_code == 409


def test_existence_comes_before_preconditions(client: TestClient) -> None:
    for headers in ({"If-Match": STALE}, {"If-Match": "*"}, {"If-None-Match": "*"}):
        assert client.patch(url("ghost"), json={"args": []}, headers=headers).status_code == 404
        assert client.delete(url("ghost"), headers=headers).status_code == 404


def test_preconditions_come_before_validation(client: TestClient, home: Path) -> None:
    etag = create(client, "files", STDIO)
    before = settings_bytes(home)
    bad_bodies: list[dict[str, Any]] = [
        {"content": b'{"command": ', "headers": {"content-type": "application/json"}},
        {"content": b"[]", "headers": {"content-type": "application/json"}},
        {"json": {"url": "ftp://x.example"}},
        {"json": {"command": "x", "env": {"A": 1}}},
    ]
    for body in bad_bodies:
        for method in ("PUT", "PATCH"):
            kwargs = {**body, "headers": {**body.get("headers", {}), "If-Match": STALE}}
            stale = client.request(method, url("files"), **kwargs)
            assert stale.status_code == 412, (method, body)
            assert stale.headers["etag"] == etag
    for method in ("PUT", "PATCH"):
        invalid = client.request(
            method, url("files"), json={"url": "ftp://x.example"}, headers={"If-Match": etag}
        )
        assert invalid.status_code == 422
        assert any("url" in error["loc"] for error in invalid.json()["detail"])
        malformed = client.request(
            method,
            url("files"),
            content=b'{"command": ',
            headers={"If-Match": etag, "content-type": "application/json"},
        )
        assert malformed.status_code == 400
    assert settings_bytes(home) == before


# --- 428 Precondition Required ------------------------------------------------------------------


def _check_required(http: TestClient | httpx.Client) -> None:
    """The 428 rules, against a client of a server that requires preconditions."""
    missing = http.put(url("files"), json=STDIO)
    assert missing.status_code == 428
    assert "If-Match" in missing.json()["detail"]
    assert http.get(url("files")).status_code == 404
    created = http.put(url("files"), json=STDIO, headers={"If-None-Match": "*"})
    assert created.status_code == 201
    etag = created.headers["etag"]
    for response in (
        http.put(url("files"), json=REMOTE),
        http.patch(url("files"), json={"args": []}),
        http.delete(url("files")),
        http.patch(url("files"), json={"url": "ftp://x"}),  # 428 before validation
    ):
        assert response.status_code == 428
        assert response.headers["etag"] == etag
    change = {"args": ["-v"], "env": STDIO["env"]}
    patched = http.patch(url("files"), json=change, headers={"If-Match": etag})
    assert patched.status_code == 200
    etag = patched.headers["etag"]
    replaced = http.put(url("files"), json=STDIO, headers={"If-Match": etag})
    assert replaced.status_code == 200
    assert http.get(url("files")).status_code == 200
    assert http.get(BASE).status_code == 200
    assert http.patch(url("ghost"), json={"args": []}).status_code == 404
    global_patch = http.patch(
        "/api/settings",
        json={"agent_settings_diff": {"mcp_config": {"mcpServers": {"g": {"command": "g"}}}}},
    )
    assert global_patch.status_code == 200
    assert http.get(url("g")).status_code == 200
    deleted = http.delete(url("files"), headers={"If-Match": replaced.headers["etag"]})
    assert deleted.status_code == 204


def test_require_preconditions_in_the_app(make_client: Callable[..., TestClient]) -> None:
    _check_required(make_client(require_preconditions=True))
    relaxed = make_client()
    assert relaxed.put(url("free"), json=STDIO).status_code == 201


@pytest.mark.parametrize("how", ["flag", "env"])
def test_require_preconditions_in_a_server_process(
    home: Path, start_server: Callable[..., ServerProcess], how: str
) -> None:
    if how == "flag":
        server = start_server(home, "--require-preconditions")
    else:
        server = start_server(home, env=cli_env(AGENT_SERVER_REQUIRE_PRECONDITIONS="1"))
    with server.client() as http:
        _check_required(http)
