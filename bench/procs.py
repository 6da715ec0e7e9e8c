"""Server subprocesses: start on a free loopback port, wait until ready, read their CPU, stop.

Both the real server (`python -m agent_server serve`) and the bare-Starlette floor
(`python -m bench.bare_app`) run this way, with the same interpreter, the same host, the same
uvicorn settings and their logs going to files of the same kind, so their only difference is the
application they serve.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx
import psutil

from bench.seed import SECRET_KEY, SESSION_KEY
from scripts.ports import free_port

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
# Settings a developer's shell may hold that would change what the server does.
_SCRUBBED_ENV = (
    "AGENT_SERVER_HOME",
    "AGENT_SERVER_SECRET_KEY",
    "AGENT_SERVER_PREVIOUS_SECRET_KEYS",
    "AGENT_SERVER_SESSION_API_KEYS",
    "AGENT_SERVER_REQUIRE_PRECONDITIONS",
    "AGENT_SERVER_MANAGED_CONFIG",
)


class ServerFailed(RuntimeError):
    pass


def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env["AGENT_SERVER_SECRET_KEY"] = SECRET_KEY
    env["AGENT_SERVER_SESSION_API_KEYS"] = SESSION_KEY
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


class ServerProcess:
    """One server subprocess; `cpu_seconds()` sums user+system time over it and its children."""

    def __init__(
        self,
        name: str,
        args: list[str],
        log_dir: Path,
        ready_path: str,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.ready_path = ready_path
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self._log: IO[bytes] = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        command = [sys.executable, *args, "--host", HOST, "--port", str(self.port)]
        self.command = command
        self.proc = subprocess.Popen(
            command,
            cwd=REPO,
            env={**server_env(), **(extra_env or {})},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._ps = psutil.Process(self.proc.pid)

    def wait_ready(self, timeout: float = 180.0) -> ServerProcess:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise ServerFailed(
                        f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
                    )
                try:
                    if client.get(self.ready_path).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise ServerFailed(f"{self.name} did not answer {self.ready_path} in {timeout:.0f} s")

    def processes(self) -> list[psutil.Process]:
        try:
            return [self._ps, *self._ps.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process and every live child (its workers)."""
        total = 0.0
        for proc in self.processes():
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def rss_mib(self) -> float:
        """Resident memory of the server process and its children, in MiB."""
        total = 0
        for proc in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total / 2**20

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self, how: signal.Signals = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            children = self.processes()[1:]
            self.proc.send_signal(how)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                for child in children:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        child.kill()
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


def start_agent_server(home: Path, log_dir: Path, workers: int = 1) -> ServerProcess:
    """`python -m agent_server serve` on a free port, with the bench's fixed secret key."""
    args = ["-m", "agent_server", "serve", "--home", str(home), "--log-level", "info"]
    if workers != 1:
        args += ["--workers", str(workers)]
    name = f"agent-server-w{workers}"
    return ServerProcess(name, args, log_dir, "/health").wait_ready()


def start_bare_app(body_file: Path, etag: str, log_dir: Path) -> ServerProcess:
    """The bare-Starlette floor, serving the bytes in `body_file` at the GET-one-server path."""
    args = ["-m", "bench.bare_app", "--body-file", str(body_file), "--etag", etag]
    args += ["--log-level", "info"]
    return ServerProcess("bare-starlette", args, log_dir, "/health").wait_ready()


def start_canned_mcp(log_dir: Path) -> ServerProcess:
    """The HTTP hop alone (bench/canned_mcp.py): canned MCP answers, for the gateway bench."""
    args = ["-m", "bench.canned_mcp", "--log-level", "info"]
    return ServerProcess("canned-mcp", args, log_dir, "/health").wait_ready()


def start_registry_app(log_dir: Path) -> ServerProcess:
    """The bench's registry (bench/registry_app.py), for browsing and installs."""
    args = ["-m", "bench.registry_app", "--log-level", "warning"]
    return ServerProcess("registry", args, log_dir, "/health").wait_ready()
