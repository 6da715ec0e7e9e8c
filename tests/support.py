"""Helpers the tests share: real server processes, free ports, reading the file on disk."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from scripts.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
MASK = "**********"

# Homes whose settings live in PostgreSQL (the suites that run against both stores): home -> the
# environment that points a server process or the CLI at its database and its keys. The keys
# stay in the home's key files, given by path, so a test reads and rotates them as with a file.
STORES: dict[Path, dict[str, str]] = {}


def store_env(home: Path | None) -> dict[str, str]:
    return STORES.get(home, {}) if home is not None else {}


def _postgres_state(home: Path) -> tuple[int, dict[str, Any]]:
    """(document version, document) of a PostgreSQL home, read by a fresh store."""
    import psycopg

    from agent_server.stores.postgres import PostgresStore

    url = STORES[home]["AGENT_SERVER_STORE"]
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT version FROM agent_server_document").fetchone()
    store = PostgresStore(url)
    try:
        document = json.loads(json.dumps(store.read()))
    finally:
        store.close()
    return (int(row[0]) if row else 0), document


# Debian's chromium as the browser tests start it: no sandbox (root), and no background
# connections, which this machine's closed network would refuse.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """Debian's chromium (or $CHROMIUM); the test fails saying how to install it."""
    import shutil

    import pytest

    found = shutil.which(os.environ.get("CHROMIUM", "chromium"))
    if found is None:
        pytest.fail(
            "the browser tests need Debian's chromium: `make test` installs it when run as root, "
            "else install it with sudo apt-get install chromium"
        )
    return found


def session_key_of(home: Path) -> str | None:
    """The key a server made in `<home>/session.key`, as a client on this machine finds it."""
    try:
        return (home / "session.key").read_text().strip() or None
    except FileNotFoundError:
        return None


def app_client(config: Any) -> Any:
    """A TestClient over a fresh app for `config`, as a local client sees it: a loopback Host,
    and the session key the app made in its home (when no keys are configured)."""
    from starlette.testclient import TestClient

    from agent_server import create_app

    client = TestClient(create_app(config), base_url="http://127.0.0.1:8000")
    key = session_key_of(config.home)
    if key is not None and not config.session_api_keys:
        client.headers["X-Session-API-Key"] = key
    return client


def read_settings(home: Path) -> dict[str, Any]:
    """The stored document: settings.json, or what the home's PostgreSQL database holds."""
    if home in STORES:
        return _postgres_state(home)[1]
    return json.loads((home / "settings.json").read_text())


def served_misc(http: httpx.Client) -> dict[str, Any]:
    """The misc settings a server answers in GET /api/settings."""
    response = http.get("/api/settings")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["misc_settings"]
    return result


def settings_written(home: Path) -> bool:
    """Whether anything was ever written: settings.json exists, or the database's version moved."""
    if home in STORES:
        return _postgres_state(home)[0] > 0
    return (home / "settings.json").exists()


def secret_tokens(agent: dict[str, Any]) -> dict[tuple[str, ...], str]:
    """Every secret slot of stored agent settings: (path...) -> token."""
    found: dict[tuple[str, ...], str] = {}
    llm = agent.get("llm") or {}
    if isinstance(llm.get("api_key"), str):
        found[("llm", "api_key")] = llm["api_key"]
    for name, server in ((agent.get("mcp_config") or {}).get("mcpServers") or {}).items():
        for section in ("env", "headers"):
            for key, value in (server.get(section) or {}).items():
                found[(name, section, key)] = value
        if isinstance(server.get("auth"), str) and server["auth"] != "oauth":
            found[(name, "auth")] = server["auth"]
    return found


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a child agent-server process, without our AGENT_SERVER_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_SERVER_")}
    env.update(extra)
    return env


def with_store(env: dict[str, str] | None, home: Path | None) -> dict[str, str]:
    """`env` (or cli_env()) plus what points a process at the home's store, where env lacks it."""
    base = env if env is not None else cli_env()
    return {**store_env(home), **base}


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    home = Path(args[args.index("--home") + 1]) if "--home" in args[:-1] else None
    return subprocess.run(
        [sys.executable, "-m", "agent_server", *args],
        env=with_store(env, home),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


class Listener:
    """A TCP listener on loopback that records every byte anyone sends it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.settimeout(2)
            try:
                while chunk := conn.recv(65536):
                    self.received.append(chunk)
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self.sock.close()


class ServerProcess:
    """`python -m agent_server serve` on a free loopback port, stopped by `stop()`.

    With `home` None no --home is passed, for tests of what the environment alone configures;
    the log then goes to `log_dir`.
    """

    def __init__(
        self,
        home: Path | None,
        *args: str,
        env: dict[str, str] | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.home = home
        self.env = with_store(env, home)
        folder = log_dir if log_dir is not None else home.parent if home is not None else None
        if folder is None:
            raise ValueError("a ServerProcess needs a home or a log_dir")
        self.log_path = folder / f"server-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        home_args = ["--home", str(home)] if home is not None else []
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent_server",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *home_args,
                *args,
            ],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log()}")

    @property
    def api_key(self) -> str | None:
        """A key this server accepts: the first configured one, else the one it made in its home."""
        configured = self.env.get("AGENT_SERVER_SESSION_API_KEYS", "")
        if configured:
            first = configured.split(",")[0]
            key, sep, scope = first.rpartition(":")
            return key if sep and scope in ("read", "write", "admin") else first
        home = self.home if self.home is not None else self.env.get("AGENT_SERVER_HOME")
        return session_key_of(Path(home)) if home is not None else None

    @property
    def headers(self) -> dict[str, str]:
        key = self.api_key
        return {"X-Session-API-Key": key} if key else {}

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client for this server that sends its session key."""
        return httpx.Client(base_url=self.url, headers=self.headers, **kwargs)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


class BareServerProcess(ServerProcess):
    """`python -m agent_server serve` without `--home`; the log goes to `log_dir`."""

    def __init__(self, log_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        super().__init__(None, *args, env=env, log_dir=log_dir)


def run_refused(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI where it must refuse at once; a command still running after 20 s fails."""
    try:
        return run_cli(*args, env=env, timeout=20)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"`agent-server {' '.join(args)}` did not exit: it ran on") from exc


def settings_bytes(home: Path) -> bytes:
    """The exact bytes of settings.json (or the database's version and document), to prove a
    request left the store alone."""
    if home in STORES:
        version, document = _postgres_state(home)
        return f"{version}:".encode() + json.dumps(document).encode()
    return (home / "settings.json").read_bytes()


def disk_tokens(home: Path) -> dict[tuple[str, ...], str]:
    """Every secret slot of the agent settings in settings.json on disk: (path...) -> token."""
    return secret_tokens(read_settings(home)["agent_settings"])


def serving(home: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """A real server process for a module-scoped fixture: `yield from serving(...)` stops it."""
    server = ServerProcess(home, *args, env=env)
    try:
        yield server.wait_ready()
    finally:
        server.stop()


def serving_together(*servers: ServerProcess) -> Iterator[tuple[ServerProcess, ...]]:
    """Servers already launched, ready at once (each start is mostly imports); all stopped after.

    For a module-scoped fixture: `yield from serving_together(ServerProcess(...), ...)`.
    """
    try:
        yield tuple(server.wait_ready() for server in servers)
    finally:
        for server in servers:
            server.stop()


def client_test_servers(root: Path, managed: str, session_key: str) -> list[ServerProcess]:
    """Three servers (not yet ready) for the client-side tests, each in its own home under root:

    main (an administrator's server named `managed`), strict (--require-preconditions) and one
    to switch to the acp agent kind; each takes the session key `session_key`.
    """
    from cryptography.fernet import Fernet

    def env(**extra: str) -> dict[str, str]:
        return cli_env(AGENT_SERVER_SECRET_KEY=Fernet.generate_key().decode(), **extra)

    config = root / "managed.json"
    config.write_text(json.dumps({"mcpServers": {managed: {"command": "admin-tool"}}}))
    for name in ("main", "strict", "acp"):
        (root / name).mkdir()
    keyed = {"AGENT_SERVER_SESSION_API_KEYS": session_key}
    return [
        ServerProcess(root / "main" / "home", "--managed-config", str(config), env=env(**keyed)),
        ServerProcess(root / "strict" / "home", "--require-preconditions", env=env(**keyed)),
        ServerProcess(root / "acp" / "home", env=env(**keyed)),
    ]
