"""The secret key from the command line: keygen, rotate-key, the generated key file, keys that are
not Fernet keys, stored secrets no key opens, and previous keys."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import (
    SECRETS,
    assert_no_token_opens,
    decrypt_all,
    mode,
    printed_env,
    server_plaintexts,
    stored_tokens,
    temp_files,
    write_secrets,
)
from cryptography.fernet import Fernet
from filelock import FileLock
from starlette.testclient import TestClient
from support import (
    ROOT,
    ServerProcess,
    cli_env,
    free_port,
    read_settings,
    run_cli,
    run_refused,
)

# --- rule 3: keygen -----------------------------------------------------------------------------


def test_keygen_prints_one_new_valid_key_each_time() -> None:
    keys = []
    for _ in range(2):
        result = run_cli("keygen")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert len(lines) == 1, result.stdout
        key = lines[0]
        fernet = Fernet(key)
        assert fernet.decrypt(fernet.encrypt(b"round trip")) == b"round trip"
        keys.append(key)
    assert keys[0] != keys[1]


# --- rule 4: rotate-key -------------------------------------------------------------------------


def test_rotate_key_with_environment_key(
    home: Path,
    client: TestClient,
    secret_key: str,
    start_server: Callable[..., ServerProcess],
) -> None:
    write_secrets(client)
    client.patch("/api/settings", json={"misc_settings_diff": {"theme": "dark"}})
    before = read_settings(home)
    older_key = Fernet.generate_key().decode()  # a previous key already configured

    env = cli_env(AGENT_SERVER_SECRET_KEY=secret_key, AGENT_SERVER_PREVIOUS_SECRET_KEYS=older_key)
    result = run_cli("rotate-key", "--home", str(home), env=env)
    assert result.returncode == 0, result.stderr

    printed = printed_env(result.stdout)
    assert set(printed) == {"AGENT_SERVER_SECRET_KEY", "AGENT_SERVER_PREVIOUS_SECRET_KEYS"}
    new_key = printed["AGENT_SERVER_SECRET_KEY"]
    previous = printed["AGENT_SERVER_PREVIOUS_SECRET_KEYS"].split(",")
    assert new_key not in (secret_key, older_key)
    assert previous[0] == secret_key
    assert older_key in previous

    tokens = stored_tokens(home)
    assert tokens.keys() == SECRETS.keys()
    assert decrypt_all(new_key, tokens) == SECRETS
    assert_no_token_opens(secret_key, tokens)

    # Everything that is not a secret is as it was.
    after = read_settings(home)
    assert after["misc_settings"] == before["misc_settings"] == {"theme": "dark"}
    assert after["agent_settings"]["llm"]["model"] == "gpt-test"
    assert after["agent_settings"]["mcp_config"]["mcpServers"]["files"]["args"] == ["files"]
    assert mode(home / "settings.json") == 0o600
    assert temp_files(home) == []

    server = start_server(home, env=cli_env(**printed))
    assert server_plaintexts(server) == SECRETS


def test_rotate_key_with_key_file(
    home: Path, make_client: Callable[..., TestClient], start_server: Callable[..., ServerProcess]
) -> None:
    write_secrets(make_client(secret_key=None))
    key_file = home / "secret.key"
    old_key = key_file.read_text().split()[0]
    assert decrypt_all(old_key, stored_tokens(home)) == SECRETS

    result = run_cli("rotate-key", "--home", str(home), env=cli_env())
    assert result.returncode == 0, result.stderr
    printed = printed_env(result.stdout)
    new_key = printed["AGENT_SERVER_SECRET_KEY"]
    assert new_key != old_key
    assert old_key in printed["AGENT_SERVER_PREVIOUS_SECRET_KEYS"].split(",")

    tokens = stored_tokens(home)
    assert decrypt_all(new_key, tokens) == SECRETS
    assert_no_token_opens(old_key, tokens)
    assert key_file.read_text().split()[0] == new_key
    assert mode(key_file) == 0o600
    assert temp_files(home) == []

    # No environment at all: the key file alone opens everything, and new secrets use the new key.
    server = start_server(home, env=cli_env())
    assert server_plaintexts(server) == SECRETS
    with server.client(timeout=10) as http:
        patched = http.patch(
            "/api/settings", json={"agent_settings_diff": {"llm": {"api_key": "sk-after"}}}
        )
        assert patched.status_code == 200, patched.text
    token = stored_tokens(home)[("llm", "api_key")]
    assert Fernet(new_key).decrypt(token.encode()) == b"sk-after"


def test_rotate_key_waits_for_the_store_lock(
    home: Path, client: TestClient, secret_key: str
) -> None:
    write_secrets(client)
    before = (home / "settings.json").read_bytes()
    # Another writer holds the store's lock: the filelock on settings.json.lock.
    lock = FileLock(str(home / "settings.json.lock"))
    env = cli_env(AGENT_SERVER_SECRET_KEY=secret_key)
    proc = None
    try:
        with lock:
            proc = subprocess.Popen(
                [sys.executable, "-m", "agent_server", "rotate-key", "--home", str(home)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            time.sleep(1.5)  # rotate-key alone takes well under a second
            assert proc.poll() is None, "rotate-key finished while another writer held the lock"
            assert (home / "settings.json").read_bytes() == before
        proc.wait(timeout=30)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc is not None
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    new_key = printed_env(out)["AGENT_SERVER_SECRET_KEY"]
    assert decrypt_all(new_key, stored_tokens(home)) == SECRETS


@pytest.mark.parametrize("key_source", ["environment", "key file"])
def test_rotate_key_with_wrong_key_changes_nothing(
    home: Path, client: TestClient, key_source: str
) -> None:
    write_secrets(client)  # written with the `secret_key` fixture's key
    before = (home / "settings.json").read_bytes()
    if key_source == "environment":
        env = cli_env(AGENT_SERVER_SECRET_KEY=Fernet.generate_key().decode())
    else:
        (home / "secret.key").write_text(Fernet.generate_key().decode() + "\n")
        env = cli_env()

    key_file = (home / "secret.key").read_bytes() if key_source == "key file" else None

    result = run_refused("rotate-key", "--home", str(home), env=env)
    assert result.returncode != 0
    assert "AGENT_SERVER_SECRET_KEY=" not in result.stdout
    assert (home / "settings.json").read_bytes() == before
    if key_file is not None:  # a refused rotation must not leave a new key in the key file
        assert (home / "secret.key").read_bytes() == key_file
    assert temp_files(home) == []


# --- rule 5: the generated key file --------------------------------------------------------------


def test_key_file_is_made_on_first_start_and_reused(
    home: Path, start_server: Callable[..., ServerProcess]
) -> None:
    first = start_server(home, env=cli_env())
    key_file = home / "secret.key"
    assert key_file.exists()
    assert mode(key_file) == 0o600
    key_bytes = key_file.read_bytes()
    Fernet(key_bytes.decode().split()[0])
    with first.client(timeout=10) as http:
        write_secrets(http)
    first.stop()
    assert decrypt_all(key_bytes.decode().split()[0], stored_tokens(home)) == SECRETS

    second = start_server(home, env=cli_env())
    assert server_plaintexts(second) == SECRETS
    assert key_file.read_bytes() == key_bytes


# --- rule 6: keys that are not Fernet keys -------------------------------------------------------


@pytest.mark.parametrize("bad", ["current", "previous"])
def test_invalid_key_refuses_to_serve(home: Path, secret_key: str, bad: str) -> None:
    if bad == "current":
        env = cli_env(AGENT_SERVER_SECRET_KEY="not-a-fernet-key")
    else:
        env = cli_env(
            AGENT_SERVER_SECRET_KEY=secret_key,
            AGENT_SERVER_PREVIOUS_SECRET_KEYS=f"{Fernet.generate_key().decode()},short",
        )
    result = run_refused("serve", "--port", str(free_port()), "--home", str(home), env=env)
    assert result.returncode != 0
    assert "keygen" in result.stderr
    name = "AGENT_SERVER_SECRET_KEY" if bad == "current" else "AGENT_SERVER_PREVIOUS_SECRET_KEYS"
    assert name in result.stderr
    assert "not-a-fernet-key" not in result.stderr + result.stdout


# --- rule 7: stored secrets no key opens, and previous keys --------------------------------------


def test_undecryptable_secret_refuses_to_serve_and_changes_nothing(
    home: Path, client: TestClient
) -> None:
    write_secrets(client)
    before = (home / "settings.json").read_bytes()
    other_key = Fernet.generate_key().decode()
    env = cli_env(
        AGENT_SERVER_SECRET_KEY=other_key,
        AGENT_SERVER_PREVIOUS_SECRET_KEYS=Fernet.generate_key().decode(),
    )
    result = run_refused("serve", "--port", str(free_port()), "--home", str(home), env=env)
    assert result.returncode != 0
    assert "AGENT_SERVER_SECRET_KEY" in result.stderr
    assert "AGENT_SERVER_PREVIOUS_SECRET_KEYS" in result.stderr
    assert (home / "settings.json").read_bytes() == before
    assert temp_files(home) == []


def test_previous_key_still_decrypts(
    home: Path,
    client: TestClient,
    secret_key: str,
    start_server: Callable[..., ServerProcess],
) -> None:
    write_secrets(client)
    new_key = Fernet.generate_key().decode()
    unrelated = Fernet.generate_key().decode()
    env = cli_env(
        AGENT_SERVER_SECRET_KEY=new_key,
        AGENT_SERVER_PREVIOUS_SECRET_KEYS=f"{unrelated},{secret_key}",
    )
    server = start_server(home, env=env)
    assert server_plaintexts(server) == SECRETS

    # A secret written now is encrypted with the current key.
    with server.client(timeout=10) as http:
        patched = http.patch(
            "/api/settings", json={"agent_settings_diff": {"llm": {"api_key": "sk-rotated"}}}
        )
        assert patched.status_code == 200, patched.text
    token = stored_tokens(home)[("llm", "api_key")]
    assert Fernet(new_key).decrypt(token.encode()) == b"sk-rotated"
