"""The agent-server command as a real program: serve, keygen, rotate-key, and what refuses to start.

Every test runs the CLI as a subprocess (or a real server process) against a settings home in a
temp folder, with real Fernet keys.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet, InvalidToken
from filelock import FileLock
from starlette.testclient import TestClient
from support import (
    ROOT,
    BareServerProcess,
    ServerProcess,
    cli_env,
    free_port,
    read_settings,
    run_cli,
    run_refused,
    secret_tokens,
)

PLAINTEXT = {"X-Expose-Secrets": "plaintext"}

# One value in every kind of secret slot: the LLM key, a stdio env value, a header, a bearer auth.
SECRETS_PATCH: dict[str, Any] = {
    "agent_settings_diff": {
        "llm": {"model": "gpt-test", "api_key": "sk-llm-plain-1"},
        "mcp_config": {
            "mcpServers": {
                "files": {"command": "npx", "args": ["files"], "env": {"TOKEN": "env-plain-2"}},
                "remote": {
                    "url": "https://mcp.example.com/mcp",
                    "headers": {"X-Api-Key": "header-plain-3"},
                },
                "bearer": {"url": "https://bearer.example.com/mcp", "auth": "auth-plain-4"},
            }
        },
    }
}
SECRETS = {
    ("llm", "api_key"): "sk-llm-plain-1",
    ("files", "env", "TOKEN"): "env-plain-2",
    ("remote", "headers", "X-Api-Key"): "header-plain-3",
    ("bearer", "auth"): "auth-plain-4",
}


# --- helpers -------------------------------------------------------------------------------------


def write_secrets(http: httpx.Client) -> None:
    response = http.patch("/api/settings", json=SECRETS_PATCH)
    assert response.status_code == 200, response.text


def served_plaintexts(http: httpx.Client) -> dict[tuple[str, ...], str]:
    response = http.get("/api/settings", headers=PLAINTEXT)
    assert response.status_code == 200, response.text
    return secret_tokens(response.json()["agent_settings"])


def server_plaintexts(server: ServerProcess) -> dict[tuple[str, ...], str]:
    with server.client(timeout=10) as http:
        return served_plaintexts(http)


def stored_tokens(home: Path) -> dict[tuple[str, ...], str]:
    return secret_tokens(read_settings(home)["agent_settings"])


def decrypt_all(key: str, tokens: dict[tuple[str, ...], str]) -> dict[tuple[str, ...], str]:
    fernet = Fernet(key)
    return {loc: fernet.decrypt(token.encode()).decode() for loc, token in tokens.items()}


def assert_no_token_opens(key: str, tokens: dict[tuple[str, ...], str]) -> None:
    fernet = Fernet(key)
    for token in tokens.values():
        with pytest.raises(InvalidToken):
            fernet.decrypt(token.encode())


def printed_env(stdout: str) -> dict[str, str]:
    """The NAME=value lines a command printed (each name at most once)."""
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.startswith("AGENT_SERVER_"):
            assert name not in found, f"{name} printed twice:\n{stdout}"
            found[name] = value
    return found


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def temp_files(home: Path) -> list[str]:
    return sorted(name for name in os.listdir(home) if name.endswith(".tmp"))


@pytest.fixture
def start_bare_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Servers started without --home (the environment names it); stopped after the test."""
    servers: list[ServerProcess] = []

    def start(*args: str, env: dict[str, str]) -> ServerProcess:
        server = BareServerProcess(tmp_path, *args, env=env)
        servers.append(server)
        return server.wait_ready()

    yield start
    for server in servers:
        server.stop()


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


# --- rule 9: plaintext reads are logged, secrets never are ---------------------------------------


def plaintext_warnings(log: str) -> list[str]:
    return [line for line in log.splitlines() if "WARNING" in line and "plaintext" in line]


def wait_for_warnings(server: ServerProcess, count: int) -> list[str]:
    deadline = time.monotonic() + 5
    while True:
        found = plaintext_warnings(server.log())
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_plaintext_reads_are_logged_without_the_secret(
    home: Path, secret_key: str, start_server: Callable[..., ServerProcess]
) -> None:
    canary = "canary-7f3a9c2e-do-not-log"
    server = start_server(home, env=cli_env(AGENT_SERVER_SECRET_KEY=secret_key))
    with server.client(timeout=10) as http:
        body = {
            "agent_settings_diff": {
                "llm": {"api_key": canary},
                "mcp_config": {
                    "mcpServers": {"tool": {"command": "tool", "env": {"TOKEN": canary}}}
                },
            }
        }
        assert http.patch("/api/settings", json=body).status_code == 200
        assert http.get("/api/settings").status_code == 200
        encrypted = http.get("/api/settings", headers={"X-Expose-Secrets": "encrypted"})
        assert encrypted.status_code == 200
        assert http.get("/api/settings/mcp-servers/tool").status_code == 200
        time.sleep(0.3)
        assert plaintext_warnings(server.log()) == []  # nothing was served in plaintext yet

        document = http.get("/api/settings", headers=PLAINTEXT)
        assert document.json()["agent_settings"]["llm"]["api_key"] == canary
        assert len(wait_for_warnings(server, 1)) == 1
        one = http.get("/api/settings/mcp-servers/tool", headers=PLAINTEXT)
        assert one.json()["config"]["env"]["TOKEN"] == canary
        assert len(wait_for_warnings(server, 2)) == 2

    server.stop()  # flushes everything the process wrote
    log = server.log_path.read_text(errors="replace")
    assert canary not in log
    assert len(plaintext_warnings(log)) == 2
