"""Keys: rotation changes every token and nothing a client can see; a wrong key never starts.

`agent-server rotate-key --home DIR` (with the old key in the environment) must re-encrypt every
secret under a new key and print the two variables for the next start. Restarted with them, the
server must answer every plaintext and every ETag exactly as before, and each token on disk must
open with the new key and not with the old one alone. A server given a key that opens none of the
stored secrets must refuse to start, naming the variables, and leave the file byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from support import ServerProcess, cli_env, disk_tokens, free_port, run_cli, run_refused

SERVERS = "/api/settings/mcp-servers"
KEY_VAR = "AGENT_SERVER_SECRET_KEY"
PREVIOUS_VAR = "AGENT_SERVER_PREVIOUS_SECRET_KEYS"
PLAINTEXT = {"X-Expose-Secrets": "plaintext"}
SEED_SERVERS: dict[str, dict[str, Any]] = {
    "keys-stdio": {
        "command": "npx",
        "args": ["-y", "server"],
        "env": {"API_TOKEN": "canary-keys-env-1", "OTHER": "canary-keys-env-2"},
    },
    "keys-remote": {
        "url": "https://keys.example/mcp",
        "headers": {"X-Team": "canary-keys-header"},
        "auth": "canary-keys-auth",
    },
    "keys-oauth": {"url": "https://oauth.example/mcp", "auth": "oauth"},
    "keys-plain": {"command": "uvx", "args": ["tool"]},
}


def seed(server: ServerProcess) -> None:
    with server.client(timeout=30) as http:
        agent = {"llm": {"model": "m", "api_key": "canary-keys-llm"}}
        response = http.patch(
            "/api/settings", json={"agent_settings_diff": agent, "misc_settings_diff": {"a": 1}}
        )
        assert response.status_code == 200, response.text
        for name, config in SEED_SERVERS.items():
            response = http.put(f"{SERVERS}/{name}", json=config)
            assert response.status_code == 201, response.text


def snapshot(server: ServerProcess) -> dict[str, Any]:
    """Everything a client can read, in plaintext, with every ETag (headers and bodies)."""
    with server.client(timeout=30) as http:
        document = http.get("/api/settings", headers=PLAINTEXT)
        listing = http.get(SERVERS)
        assert document.status_code == listing.status_code == 200
        seen: dict[str, Any] = {
            "document": document.json(),
            "listing": listing.json(),
            "listing etag": listing.headers["etag"],
        }
        for name in SEED_SERVERS:
            plain = http.get(f"{SERVERS}/{name}", headers=PLAINTEXT)
            redacted = http.get(f"{SERVERS}/{name}")
            assert plain.status_code == redacted.status_code == 200
            seen[name] = plain.json()
            seen[f"{name} etags"] = (plain.headers["etag"], redacted.headers["etag"])
    return seen


def printed_keys(stdout: str) -> tuple[str, str]:
    values = dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)
    return values[KEY_VAR], values[PREVIOUS_VAR]


def home_files(home: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(home.iterdir()) if path.is_file()}


def refuse_to_serve(home: Path, env: dict[str, str]) -> str:
    """Start `serve` where it must refuse: a non-zero exit, and its message."""
    result = run_refused("serve", "--home", str(home), "--port", str(free_port()), env=env)
    assert result.returncode != 0, result.stderr
    return result.stderr


def test_rotation_keeps_every_plaintext_and_etag_and_moves_every_token_to_the_new_key(
    home: Path, start_server: Callable[..., ServerProcess]
) -> None:
    old = Fernet.generate_key().decode()
    server = start_server(home, env=cli_env(AGENT_SERVER_SECRET_KEY=old))
    seed(server)
    before = snapshot(server)
    server.stop()
    tokens_before = disk_tokens(home)
    assert len(tokens_before) == 5  # the llm key, two env values, a header and a bearer token

    rotated = run_cli("rotate-key", "--home", str(home), env=cli_env(AGENT_SERVER_SECRET_KEY=old))
    assert rotated.returncode == 0, rotated.stderr
    new, previous = printed_keys(rotated.stdout)
    assert previous == old
    assert new != old

    tokens_after = disk_tokens(home)
    assert tokens_after.keys() == tokens_before.keys()
    for slot, token in tokens_after.items():
        assert token != tokens_before[slot], slot
        assert Fernet(new).decrypt(token.encode()) == Fernet(old).decrypt(
            tokens_before[slot].encode()
        )
        with pytest.raises(InvalidToken):
            Fernet(old).decrypt(token.encode())

    restarted = start_server(home, env=cli_env(**{KEY_VAR: new, PREVIOUS_VAR: previous}))
    assert snapshot(restarted) == before
    restarted.stop()
    # Every token is under the new key: it alone serves the same too.
    alone = start_server(home, env=cli_env(**{KEY_VAR: new}))
    assert snapshot(alone) == before
    alone.stop()

    # The old key alone is now a wrong key: refused, and the file is left as it was.
    files = home_files(home)
    message = refuse_to_serve(home, cli_env(**{KEY_VAR: old}))
    assert KEY_VAR in message and PREVIOUS_VAR in message
    assert home_files(home) == files


def test_a_wrong_key_refuses_to_start_or_rotate_and_leaves_every_file_byte_for_byte(
    home: Path, secret_key: str, start_server: Callable[..., ServerProcess]
) -> None:
    server = start_server(home, env=cli_env(AGENT_SERVER_SECRET_KEY=secret_key))
    seed(server)
    server.stop()
    files = home_files(home)
    assert "settings.json" in files

    wrong = Fernet.generate_key().decode()
    for env in (
        cli_env(**{KEY_VAR: wrong}),
        cli_env(**{KEY_VAR: wrong, PREVIOUS_VAR: Fernet.generate_key().decode()}),
    ):
        message = refuse_to_serve(home, env)
        assert KEY_VAR in message and PREVIOUS_VAR in message
        assert "canary-" not in message
        assert home_files(home) == files

    # Without any key the server would make secret.key; that key opens nothing either.
    refuse_to_serve(home, cli_env())
    made = home_files(home)
    assert {name: data for name, data in made.items() if name != "secret.key"} == files

    refused = run_cli("rotate-key", "--home", str(home), env=cli_env(**{KEY_VAR: wrong}))
    assert refused.returncode != 0
    assert home_files(home) == made

    # The right key still serves everything, after all those refusals.
    again = start_server(home, env=cli_env(AGENT_SERVER_SECRET_KEY=secret_key))
    assert snapshot(again)["keys-stdio"]["config"]["env"]["API_TOKEN"] == "canary-keys-env-1"


def test_rotation_with_the_key_file_needs_only_a_plain_restart(
    home: Path, start_server: Callable[..., ServerProcess]
) -> None:
    server = start_server(home, env=cli_env())  # makes <home>/secret.key
    seed(server)
    before = snapshot(server)
    server.stop()
    old = (home / "secret.key").read_text().split()
    assert len(old) == 1
    tokens_before = disk_tokens(home)

    rotated = run_cli("rotate-key", "--home", str(home), env=cli_env())
    assert rotated.returncode == 0, rotated.stderr
    new, _ = printed_keys(rotated.stdout)
    assert (home / "secret.key").read_text().split() == [new, *old]
    for slot, token in disk_tokens(home).items():
        assert Fernet(new).decrypt(token.encode()) == Fernet(old[0]).decrypt(
            tokens_before[slot].encode()
        )
        with pytest.raises(InvalidToken):
            Fernet(old[0]).decrypt(token.encode())

    restarted = start_server(home, env=cli_env())
    assert snapshot(restarted) == before
