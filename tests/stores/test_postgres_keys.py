"""Keys and credentials with the PostgreSQL store: every replica needs the database's keys, a
wrong one stops the start with nothing changed, rotate-key works in the database, and the URL's
password never reaches a log or a message."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from replicas import SESSION_KEY, Keys
from support import ServerProcess, run_cli, run_refused

BASE = "/api/settings/mcp-servers"
Serve = Callable[[dict[str, str]], ServerProcess]
CANARY_PASSWORD = "canary-pw-7f3a9c"
SECRET = "canary-env-secret-1234"


def database_state(database: str) -> list[tuple[object, ...]]:
    """Everything the store keeps, to prove a refused start changed nothing."""
    with psycopg.connect(database) as conn:
        document = conn.execute(
            "SELECT version, rest::text, etag_key_check, secret_key_check "
            "FROM agent_server_document"
        ).fetchall()
        entries = conn.execute(
            "SELECT kind, name, config::text, version FROM agent_server_entries ORDER BY kind, name"
        ).fetchall()
    return [*document, *entries]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], ServerProcess]]:
    """Start a replica (in a home of its own) with `env`; every one is stopped after the test."""
    started: list[ServerProcess] = []

    def start(env: dict[str, str]) -> ServerProcess:
        home = tmp_path / f"home-{secrets.token_hex(4)}"
        home.mkdir()
        server = ServerProcess(home, env=env)
        started.append(server)
        return server.wait_ready()

    yield start
    for server in started:
        server.stop()


def write_secret(server: ServerProcess) -> str:
    with server.client() as http:
        response = http.put(f"{BASE}/tool", json={"command": "tool", "env": {"TOKEN": SECRET}})
    assert response.status_code == 201, response.text
    return str(response.headers["etag"])


def test_a_replica_with_a_wrong_key_refuses_to_start_and_changes_nothing(
    serve: Serve, database: str
) -> None:
    keys = Keys()
    first = serve(keys.env(database))
    write_secret(first)
    before = database_state(database)

    wrong_secret = run_refused(
        "serve",
        "--port",
        "0",
        env=keys.env(database, AGENT_SERVER_SECRET_KEY=Fernet.generate_key().decode()),
    )
    assert wrong_secret.returncode == 2, wrong_secret.stderr
    assert "AGENT_SERVER_SECRET_KEY" in wrong_secret.stderr
    assert "nothing was changed" in wrong_secret.stderr.lower()
    assert SECRET not in wrong_secret.stderr + wrong_secret.stdout

    wrong_etag = run_refused(
        "serve", "--port", "0", env=keys.env(database, AGENT_SERVER_ETAG_KEY=secrets.token_hex(32))
    )
    assert wrong_etag.returncode == 2, wrong_etag.stderr
    assert "AGENT_SERVER_ETAG_KEY" in wrong_etag.stderr

    assert database_state(database) == before
    first.stop()


def test_a_wrong_secret_key_is_refused_even_before_any_secret_is_stored(
    serve: Serve, database: str
) -> None:
    keys = Keys()
    serve(keys.env(database)).stop()
    before = database_state(database)
    refused = run_refused(
        "serve", env=keys.env(database, AGENT_SERVER_SECRET_KEY=Fernet.generate_key().decode())
    )
    assert refused.returncode == 2
    assert "AGENT_SERVER_SECRET_KEY" in refused.stderr
    assert database_state(database) == before


def test_the_postgresql_store_refuses_to_start_without_its_keys_naming_the_variable(
    database: str,
) -> None:
    keys = Keys()
    env = keys.env(database)
    without_secret = {k: v for k, v in env.items() if k != "AGENT_SERVER_SECRET_KEY"}
    refused = run_refused("serve", env=without_secret)
    assert refused.returncode == 2
    assert "AGENT_SERVER_SECRET_KEY" in refused.stderr

    without_etag = {k: v for k, v in env.items() if k != "AGENT_SERVER_ETAG_KEY"}
    refused = run_refused("serve", env=without_etag)
    assert refused.returncode == 2
    assert "AGENT_SERVER_ETAG_KEY" in refused.stderr

    bad_etag = run_refused("serve", env={**env, "AGENT_SERVER_ETAG_KEY": "not-hex"})
    assert bad_etag.returncode == 2
    assert "AGENT_SERVER_ETAG_KEY" in bad_etag.stderr and "64 hex digits" in bad_etag.stderr


def test_keys_may_come_from_key_files_given_by_path(
    serve: Serve, tmp_path: Path, database: str
) -> None:
    keys = Keys()
    (tmp_path / "secret").write_text(keys.secret + "\n")
    (tmp_path / "etag").write_text(keys.etag + "\n")
    env = keys.env(database)
    del env["AGENT_SERVER_SECRET_KEY"], env["AGENT_SERVER_ETAG_KEY"]
    env["AGENT_SERVER_SECRET_KEY_FILE"] = str(tmp_path / "secret")
    env["AGENT_SERVER_ETAG_KEY_FILE"] = str(tmp_path / "etag")
    from_files = serve(env)
    etag = write_secret(from_files)
    from_env = serve(keys.env(database))
    with from_env.client() as http:
        read = http.get(f"{BASE}/tool", headers={"X-Expose-Secrets": "plaintext"})
    assert read.headers["etag"] == etag
    assert read.json()["config"]["env"] == {"TOKEN": SECRET}
    from_files.stop()
    from_env.stop()


def test_rotate_key_against_the_database(serve: Serve, database: str) -> None:
    keys = Keys()
    server = serve(keys.env(database))
    etag = write_secret(server)
    server.stop()
    tokens_before = database_state(database)

    rotated = run_cli("rotate-key", "--store", database, env=keys.env(database))
    assert rotated.returncode == 0, rotated.stderr
    printed = dict(line.split("=", 1) for line in rotated.stdout.split())
    new_key = printed["AGENT_SERVER_SECRET_KEY"]
    assert printed["AGENT_SERVER_PREVIOUS_SECRET_KEYS"] == keys.secret
    assert database_state(database) != tokens_before

    # With only the new key (the old one retired), a replica starts and reads the same ETag.
    retired = run_cli(
        "retire-keys", "--store", database, env=keys.env(database, AGENT_SERVER_SECRET_KEY=new_key)
    )
    assert retired.returncode == 0, retired.stderr
    again = serve(keys.env(database, AGENT_SERVER_SECRET_KEY=new_key))
    with again.client() as http:
        read = http.get(f"{BASE}/tool", headers={"X-Expose-Secrets": "plaintext"})
    assert read.json()["config"]["env"] == {"TOKEN": SECRET}
    assert read.headers["etag"] == etag
    again.stop()
    # And the old key alone no longer opens anything.
    old = run_refused("serve", env=keys.env(database))
    assert old.returncode == 2 and "AGENT_SERVER_SECRET_KEY" in old.stderr


def test_the_database_password_never_reaches_a_log_or_a_message(
    serve: Serve, database: str
) -> None:
    keys = Keys()
    with_password = database.replace("postgres@", f"postgres:{CANARY_PASSWORD}@")
    server = serve(keys.env(with_password))
    write_secret(server)
    with server.client() as http:
        assert CANARY_PASSWORD not in http.get("/api/settings").text
    server.stop()
    assert CANARY_PASSWORD not in server.log_path.read_text()

    # Unreachable: the refusal names the store without its password.
    port = with_password.split("@127.0.0.1:")[1].split("/")[0]
    nowhere = with_password.replace(f":{port}/", ":1/")
    refused = run_refused("serve", env=keys.env(nowhere))
    assert refused.returncode == 2
    assert "postgres:***@127.0.0.1:1" in refused.stderr
    assert CANARY_PASSWORD not in refused.stderr + refused.stdout

    rotated = run_refused("rotate-key", "--store", nowhere, env=keys.env(nowhere))
    assert rotated.returncode == 2
    assert CANARY_PASSWORD not in rotated.stderr + rotated.stdout
    assert SESSION_KEY not in refused.stderr
