"""agent-server serve: /health and the session key, the console script, the environment and the
flags that win over it, and non-loopback addresses."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from cli_support import (
    SECRETS,
    decrypt_all,
    printed_env,
    stored_tokens,
    write_secrets,
)
from cryptography.fernet import Fernet
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

# --- rule 1: serve, /health, session keys, the console script -----------------------------------


def test_health_is_open_while_the_api_needs_a_session_key(
    home: Path, secret_key: str, start_server: Callable[..., ServerProcess]
) -> None:
    env = cli_env(
        AGENT_SERVER_SECRET_KEY=secret_key,
        AGENT_SERVER_SESSION_API_KEYS="first-session-key,second-session-key",
    )
    server = start_server(home, env=env)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        health = http.get("/health")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}

        assert http.get("/api/settings").status_code == 401
        assert http.get("/api/settings/mcp-servers").status_code == 401
        wrong = {"X-Session-API-Key": "first-session-key-but-longer"}
        assert http.get("/api/settings", headers=wrong).status_code == 401
        unauthorized_write = http.patch("/api/settings", json={"misc_settings_diff": {"a": 1}})
        assert unauthorized_write.status_code == 401
        assert not (home / "settings.json").exists()

        for key in ("first-session-key", "second-session-key"):
            response = http.get("/api/settings", headers={"X-Session-API-Key": key})
            assert response.status_code == 200, key
            assert response.json()["schema_version"] == 2


def test_console_script_is_the_same_program() -> None:
    script = Path(sys.executable).parent / "agent-server"
    assert script.exists(), f"no console script at {script}"
    env = cli_env()

    helped = subprocess.run(
        [str(script), "--help"], env=env, capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert helped.returncode == 0, helped.stderr
    for command in ("serve", "keygen", "rotate-key"):
        assert command in helped.stdout

    made = subprocess.run(
        [str(script), "keygen"], env=env, capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"x")) == b"x"

    # `python -m agent_server` takes the same commands.
    module_help = run_cli("--help")
    assert module_help.returncode == 0
    for command in ("serve", "keygen", "rotate-key"):
        assert command in module_help.stdout


# --- rule 2: the environment, and flags that win over it ----------------------------------------


def test_environment_alone_configures_home_and_key(
    tmp_path: Path, secret_key: str, start_bare_server: Callable[..., ServerProcess]
) -> None:
    env_home = tmp_path / "env-home"
    server = start_bare_server(
        env=cli_env(AGENT_SERVER_HOME=str(env_home), AGENT_SERVER_SECRET_KEY=secret_key)
    )
    with server.client(timeout=10) as http:
        write_secrets(http)
    assert decrypt_all(secret_key, stored_tokens(env_home)) == SECRETS
    assert not (env_home / "secret.key").exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_home_flag_wins_over_environment(
    tmp_path: Path, secret_key: str, start_server: Callable[..., ServerProcess], workers: int
) -> None:
    env_home = tmp_path / "env-home"
    flag_home = tmp_path / "flag-home"
    env = cli_env(AGENT_SERVER_HOME=str(env_home), AGENT_SERVER_SECRET_KEY=secret_key)
    server = start_server(flag_home, "--workers", str(workers), env=env)
    with server.client(timeout=10) as http:
        for i in range(4):  # with several workers, more than one of them answers
            response = http.patch(
                "/api/settings",
                json={"misc_settings_diff": {f"written-{i}": True}},
                headers={"Connection": "close"},
            )
            assert response.status_code == 200, response.text
    assert set(read_settings(flag_home)["misc_settings"]) == {f"written-{i}" for i in range(4)}
    assert not env_home.exists()


def test_rotate_key_reads_home_from_environment_and_flag_wins(
    tmp_path: Path, make_client: Callable[..., TestClient], secret_key: str
) -> None:
    env_home = tmp_path / "env-home"
    flag_home = tmp_path / "flag-home"
    write_secrets(make_client(home=env_home))
    write_secrets(make_client(home=flag_home))
    env_before = (env_home / "settings.json").read_bytes()

    # The flag names the home even though the environment names another one.
    env = cli_env(AGENT_SERVER_HOME=str(env_home), AGENT_SERVER_SECRET_KEY=secret_key)
    flagged = run_cli("rotate-key", "--home", str(flag_home), env=env)
    assert flagged.returncode == 0, flagged.stderr
    new_key = printed_env(flagged.stdout)["AGENT_SERVER_SECRET_KEY"]
    assert decrypt_all(new_key, stored_tokens(flag_home)) == SECRETS
    assert (env_home / "settings.json").read_bytes() == env_before

    # Without the flag, AGENT_SERVER_HOME names it.
    from_env = run_cli("rotate-key", env=env)
    assert from_env.returncode == 0, from_env.stderr
    env_new_key = printed_env(from_env.stdout)["AGENT_SERVER_SECRET_KEY"]
    assert decrypt_all(env_new_key, stored_tokens(env_home)) == SECRETS


# --- rule 8: non-loopback addresses -------------------------------------------------------------


@pytest.mark.parametrize("how", ["flag", "env"])
def test_non_loopback_without_a_session_key_refuses(home: Path, secret_key: str, how: str) -> None:
    env = cli_env(AGENT_SERVER_SECRET_KEY=secret_key)
    args = ["serve", "--host", "0.0.0.0", "--port", str(free_port()), "--home", str(home)]
    if how == "flag":
        args.append("--no-auth")
    else:
        env["AGENT_SERVER_NO_AUTH"] = "1"
    result = run_refused(*args, env=env)
    assert result.returncode != 0
    assert "--no-auth" in result.stderr
    assert "--insecure" in result.stderr
    assert not home.exists()


def test_non_loopback_without_a_key_serves_only_with_insecure(
    home: Path, secret_key: str, start_server: Callable[..., ServerProcess]
) -> None:
    env = cli_env(AGENT_SERVER_SECRET_KEY=secret_key)
    server = start_server(home, "--host", "0.0.0.0", "--no-auth", "--insecure", env=env)
    response = httpx.get(server.url + "/api/settings", timeout=10)
    assert response.status_code == 200
    assert not (home / "session.key").exists()
    assert "WARNING" in server.log() and "--no-auth" in server.log()


def test_non_loopback_by_default_serves_behind_the_generated_key(
    home: Path, secret_key: str, start_server: Callable[..., ServerProcess]
) -> None:
    env = cli_env(AGENT_SERVER_SECRET_KEY=secret_key)
    server = start_server(home, "--host", "0.0.0.0", env=env)
    assert httpx.get(server.url + "/api/settings", timeout=10).status_code == 401
    assert httpx.get(server.url + "/api/settings", headers=server.headers).status_code == 200


def test_non_loopback_with_session_key_serves(
    home: Path, secret_key: str, start_server: Callable[..., ServerProcess]
) -> None:
    env = cli_env(AGENT_SERVER_SECRET_KEY=secret_key, AGENT_SERVER_SESSION_API_KEYS="remote-key")
    server = start_server(home, "--host", "0.0.0.0", env=env)
    assert httpx.get(server.url + "/health", timeout=10).status_code == 200
    assert httpx.get(server.url + "/api/settings", timeout=10).status_code == 401
    authorized = httpx.get(
        server.url + "/api/settings", headers={"X-Session-API-Key": "remote-key"}, timeout=10
    )
    assert authorized.status_code == 200
