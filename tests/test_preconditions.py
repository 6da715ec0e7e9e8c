"""ETags of MCP servers and RFC 9110 conditional requests (section 13): If-Match, If-None-Match,
the order of checks on a write, 428 when preconditions are required, and concurrent writers.

TestClient apps where one process is enough; real `agent_server serve` processes for restarts,
key rotation, the CLI flag and environment variable, and writers racing across two workers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient
from support import (
    ServerProcess,
    cli_env,
    read_settings,
    run_cli,
    secret_tokens,
    settings_bytes,
)

BASE = "/api/settings/mcp-servers"
PLAINTEXT = {"X-Expose-Secrets": "plaintext"}
CANARY = "canary-hdr-5e1d"
STDIO: dict[str, Any] = {"command": "uvx", "args": ["files"], "env": {"TOKEN": "canary-env-8a2f"}}
REMOTE: dict[str, Any] = {
    "url": "https://mcp.example.com/mcp",
    "headers": {"X-Api-Key": CANARY},
    "auth": "canary-auth-44d0",
    "description": "remote tools",
}
STALE = '"stale-etag-0000"'


def url(name: str) -> str:
    return f"{BASE}/{name}"


def create(client: TestClient | httpx.Client, name: str, config: dict[str, Any]) -> str:
    response = client.put(url(name), json=config, headers={"If-None-Match": "*"})
    assert response.status_code == 201, response.text
    return response.headers["etag"]


def etag_of(client: TestClient | httpx.Client, name: str) -> str:
    response = client.get(url(name))
    assert response.status_code == 200, response.text
    return response.headers["etag"]


# --- what an ETag is ----------------------------------------------------------------------------


def test_etag_is_strong_and_quoted(client: TestClient) -> None:
    etag = create(client, "remote", REMOTE)
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2
    assert not etag.startswith("W/")
    assert '"' not in etag[1:-1]
    listing = client.get(BASE)
    assert listing.headers["etag"].startswith('"')
    assert listing.json()["servers"][0]["etag"] == etag


def test_same_content_same_etag_in_every_expose_mode(client: TestClient, home: Path) -> None:
    first = create(client, "remote", REMOTE)
    again = client.put(url("remote"), json=REMOTE)
    assert again.status_code == 200
    assert again.headers["etag"] == first
    for mode in ("redacted", "encrypted", "plaintext"):
        response = client.get(url("remote"), headers={"X-Expose-Secrets": mode})
        assert response.headers["etag"] == first
        assert response.json()["etag"] == first
    # Replaced by different content and back: the ETag is that of the content, not a version.
    assert client.patch(url("remote"), json={"description": "other"}).headers["etag"] != first
    back = client.patch(url("remote"), json={"description": REMOTE["description"]})
    assert back.headers["etag"] == first


@pytest.mark.file_only("another home is another settings.json; a shared store has one key")
def test_etag_does_not_depend_on_fernet_tokens(
    make_client: Callable[..., TestClient], tmp_path: Path, home: Path
) -> None:
    """Another home with another secret key but the same etag.key: other tokens, same ETags."""
    client = make_client()
    etag = create(client, "remote", REMOTE)
    other_home = tmp_path / "other-home"
    other_home.mkdir()
    shutil.copy(home / "etag.key", other_home / "etag.key")
    other = make_client(home=other_home, secret_key=Fernet.generate_key().decode())
    assert create(other, "remote", REMOTE) == etag
    ours = secret_tokens(read_settings(home)["agent_settings"])
    theirs = secret_tokens(read_settings(other_home)["agent_settings"])
    assert ours.keys() == theirs.keys()
    assert all(ours[slot] != theirs[slot] for slot in ours)


def test_etag_changes_when_any_part_of_the_content_changes(client: TestClient) -> None:
    base = create(client, "remote", REMOTE)
    changes: list[dict[str, Any]] = [
        {"headers": {"X-Api-Key": CANARY + "x"}},
        {"auth": "canary-auth-44d1"},
        {"headers": {"X-Other": "v"}},
        {"description": "remote tools!"},
        {"url": "https://mcp.example.com/mcp2"},  # same destination: the secrets stay
        {"url": "https://mcp2.example.com/mcp", "headers": REMOTE["headers"], "auth": "a"},
        {"transport": "sse"},
        {"enabled": False},
        {"x-unknown": 1},
    ]
    seen = {base}
    for change in changes:
        response = client.patch(url("remote"), json=change)
        assert response.status_code == 200, response.text
        etag = response.headers["etag"]
        assert etag not in seen, change
        seen.add(etag)
        restore = client.put(url("remote"), json=REMOTE)
        assert restore.headers["etag"] == base

    stdio = create(client, "files", STDIO)
    for change in (
        {"env": {"TOKEN": "other"}},
        {"args": ["files", "-v"], "env": STDIO["env"]},
        {"cwd": "/srv", "env": STDIO["env"]},
    ):
        assert client.patch(url("files"), json=change).headers["etag"] != stdio
        assert client.put(url("files"), json=STDIO).headers["etag"] == stdio


def _unkeyed_digests(config: dict[str, Any]) -> list[str]:
    """Hex and base64 forms of plain (unkeyed) hashes of a config's canonical JSON."""
    forms = []
    for ascii_only in (True, False):
        text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_only)
        for algorithm in ("md5", "sha1", "sha256", "sha512"):
            digest = hashlib.new(algorithm, text.encode()).digest()
            forms.append(digest.hex())
            forms.append(base64.b64encode(digest).decode())
            forms.append(base64.urlsafe_b64encode(digest).decode())
    return forms


@pytest.mark.file_only("another home is another settings.json; a shared store has one key")
def test_etag_is_keyed_per_home(
    make_client: Callable[..., TestClient], tmp_path: Path, home: Path
) -> None:
    client = make_client()
    config = {**REMOTE, "headers": {"X-Api-Key": CANARY}, "x-ünïcode": "é"}
    etag = create(client, "remote", config)
    assert (home / "etag.key").is_file()
    opaque = etag.strip('"')
    stored = client.get(url("remote"), headers=PLAINTEXT).json()["config"]
    assert stored == config
    for form in _unkeyed_digests(config):
        for candidate in (form, form.rstrip("=")):
            assert opaque != candidate
            assert not candidate.startswith(opaque) and not opaque.startswith(candidate[:16])
    assert CANARY not in etag
    padded = opaque + "=" * (-len(opaque) % 4)
    assert CANARY.encode() not in base64.urlsafe_b64decode(padded)

    other = make_client(home=tmp_path / "other-home")
    other_etag = create(other, "remote", config)
    assert (tmp_path / "other-home" / "etag.key").read_bytes() != (home / "etag.key").read_bytes()
    assert other_etag != etag
    assert other.get(BASE).headers["etag"] != client.get(BASE).headers["etag"]


def test_etag_survives_restart_and_key_rotation(
    home: Path, start_server: Callable[..., ServerProcess]
) -> None:
    server = start_server(home)
    with server.client() as http:
        etag = create(http, "remote", REMOTE)
        create(http, "files", STDIO)
        listing = http.get(BASE).headers["etag"]
    server.stop()

    restarted = start_server(home)
    with restarted.client() as http:
        assert etag_of(http, "remote") == etag
        assert http.get(BASE).headers["etag"] == listing
    restarted.stop()

    tokens_before = secret_tokens(read_settings(home)["agent_settings"])
    rotated = run_cli("rotate-key", "--home", str(home))
    assert rotated.returncode == 0, rotated.stderr
    tokens_after = secret_tokens(read_settings(home)["agent_settings"])
    assert tokens_after.keys() == tokens_before.keys()
    assert all(tokens_after[slot] != tokens_before[slot] for slot in tokens_before)

    with_new_key = start_server(home)
    with with_new_key.client() as http:
        assert etag_of(http, "remote") == etag
        assert http.get(BASE).headers["etag"] == listing
        assert http.get(url("remote"), headers=PLAINTEXT).json()["config"] == REMOTE


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


# --- concurrent writers -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server with two worker processes, shared by the concurrency tests."""
    home = tmp_path_factory.mktemp("workers") / "home"
    server = ServerProcess(home, "--workers", "2")
    try:
        yield server.wait_ready()
    finally:
        server.stop()


def test_writes_to_different_servers_never_conflict(two_workers: ServerProcess) -> None:
    def writer(index: int) -> list[int]:
        name = f"server-{index}"
        statuses = []
        with two_workers.client(timeout=30) as http:
            etag = create(http, name, {"command": "x", "env": {"N": "start"}})
            for step in range(10):
                response = http.patch(
                    url(name), json={"env": {"N": f"{index}-{step}"}}, headers={"If-Match": etag}
                )
                statuses.append(response.status_code)
                etag = response.headers.get("etag", etag)
            assert etag_of(http, name) == etag
        return statuses

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(writer, range(8)))
    assert results == [[200] * 10] * 8
    with two_workers.client() as http:
        for index in range(8):
            config = http.get(url(f"server-{index}"), headers=PLAINTEXT).json()["config"]
            assert config["env"] == {"N": f"{index}-9"}


def test_of_two_writers_with_the_same_if_match_exactly_one_wins(
    two_workers: ServerProcess,
) -> None:
    with two_workers.client() as http:
        create(http, "race", {"command": "x", "description": "start"})
    for round_ in range(6):
        with two_workers.client() as http:
            etag = etag_of(http, "race")
        barrier = threading.Barrier(2)

        def writer(
            index: int, etag: str = etag, round_: int = round_, barrier: threading.Barrier = barrier
        ) -> httpx.Response:
            with two_workers.client(timeout=30) as http:
                http.get("/health")  # connect before the race starts
                barrier.wait()
                return http.patch(
                    url("race"),
                    json={"description": f"round {round_} writer {index}"},
                    headers={"If-Match": etag},
                )

        with ThreadPoolExecutor(2) as pool:
            responses = list(pool.map(writer, range(2)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 412], statuses
        winner = next(r for r in responses if r.status_code == 200)
        loser = next(r for r in responses if r.status_code == 412)
        assert loser.headers["etag"] == winner.headers["etag"]
        with two_workers.client() as http:
            final = http.get(url("race")).json()
        assert final["config"]["description"] == winner.json()["config"]["description"]
        assert final["etag"] == winner.headers["etag"]
