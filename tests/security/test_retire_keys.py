"""`retire-keys` and `rotate-key --retire`: once every token is under the current key, the
previous keys leave secret.key, so a leaked old key opens nothing written from then on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from support import ServerProcess, cli_env, disk_tokens, run_cli

SECRET = "canary-retire-env-4d0a"
SERVERS = "/api/settings/mcp-servers"


def seed(server: ServerProcess) -> None:
    with server.client(timeout=30) as http:
        config = {"command": "x", "env": {"TOKEN": SECRET}, "headers": {"H": "canary-retire-h"}}
        assert http.put(f"{SERVERS}/kept", json=config).status_code == 201


def plaintext(server: ServerProcess) -> dict[str, Any]:
    with server.client(timeout=30) as http:
        read = http.get(f"{SERVERS}/kept", headers={"X-Expose-Secrets": "plaintext"})
        assert read.status_code == 200, read.text
        config: dict[str, Any] = read.json()["config"]
        return config


def key_lines(home: Path) -> list[str]:
    return (home / "secret.key").read_text().split()


def opens_any(key: str, home: Path) -> bool:
    for token in disk_tokens(home).values():
        try:
            Fernet(key).decrypt(token.encode())
        except InvalidToken:
            continue
        return True
    return False


def test_rotate_then_retire_leaves_only_the_new_key(home: Path, start_server: Any) -> None:
    server: ServerProcess = start_server(home, env=cli_env())
    seed(server)
    before = plaintext(server)
    server.stop()
    [old] = key_lines(home)

    rotated = run_cli("rotate-key", "--home", str(home))
    assert rotated.returncode == 0, rotated.stderr
    assert len(key_lines(home)) == 2
    retired = run_cli("retire-keys", "--home", str(home))
    assert retired.returncode == 0, retired.stderr
    [current] = key_lines(home)
    assert current != old
    assert not opens_any(old, home)
    assert plaintext(start_server(home, env=cli_env())) == before


def test_rotate_key_with_retire_does_both_in_one_step(home: Path, start_server: Any) -> None:
    server: ServerProcess = start_server(home, env=cli_env())
    seed(server)
    before = plaintext(server)
    server.stop()
    [old] = key_lines(home)

    result = run_cli("rotate-key", "--retire", "--home", str(home))
    assert result.returncode == 0, result.stderr
    [current] = key_lines(home)
    assert current != old and not opens_any(old, home)
    assert plaintext(start_server(home, env=cli_env())) == before


def test_retiring_is_refused_while_a_token_still_needs_a_previous_key(
    home: Path, start_server: Any
) -> None:
    server: ServerProcess = start_server(home, env=cli_env())
    seed(server)
    server.stop()
    [old] = key_lines(home)
    newer = Fernet.generate_key().decode()
    (home / "secret.key").write_text(f"{newer}\n{old}\n")  # a key added, nothing re-encrypted
    key_file = (home / "secret.key").read_bytes()
    settings = (home / "settings.json").read_bytes()

    refused = run_cli("retire-keys", "--home", str(home))
    assert refused.returncode == 2
    assert "rotate-key" in refused.stderr and "2 secret(s)" in refused.stderr
    assert (home / "secret.key").read_bytes() == key_file
    assert (home / "settings.json").read_bytes() == settings


@pytest.mark.parametrize("under", ["current", "previous"])
def test_with_keys_in_the_environment_it_says_whether_the_previous_ones_can_go(
    home: Path, start_server: Any, under: str
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    server: ServerProcess = start_server(
        home, env=cli_env(AGENT_SERVER_SECRET_KEY=new if under == "current" else old)
    )
    seed(server)
    server.stop()
    env = cli_env(AGENT_SERVER_SECRET_KEY=new, AGENT_SERVER_PREVIOUS_SECRET_KEYS=old)
    result = run_cli("retire-keys", "--home", str(home), env=env)
    if under == "current":
        assert result.returncode == 0, result.stderr
        assert "AGENT_SERVER_PREVIOUS_SECRET_KEYS unset" in result.stderr
    else:
        assert result.returncode == 2
        assert "still encrypted under a previous key" in result.stderr
    assert old not in result.stdout + result.stderr
    assert not (home / "secret.key").exists()
