"""What an ETag is: a keyed hash of one resource's plaintext, the same across processes and
expose modes, changed by any change of that resource alone."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from preconditions_support import (
    BASE,
    CANARY,
    PLAINTEXT,
    REMOTE,
    STDIO,
    create,
    etag_of,
    url,
)
from starlette.testclient import TestClient
from support import (
    ServerProcess,
    read_settings,
    run_cli,
    secret_tokens,
)

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
