"""A fake registry process for every registry test, and a session-wide MCP server port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support import ROOT, free_port

FAKE = Path(__file__).parent / "fake_registry.py"
MCP_TOKEN = "canary-mcp-token-c5d2"  # the bearer token the MCP test server wants


@dataclass(frozen=True)
class FakeRegistry:
    base: str  # http://127.0.0.1:PORT
    mcp_port: int  # where the remote `io.example/echo` points by default

    def url(self, mode: str) -> str:
        """The URL of one of its registries (main, bulk, hang, ...)."""
        return f"{self.base}/{mode}"

    def hits(self, mode: str) -> int:
        count: int = httpx.get(f"{self.base}/hits/{mode}").json()["hits"]
        return count


@pytest.fixture(scope="session")
def fake_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeRegistry]:
    port, mcp_port = free_port(), free_port()
    log = open(tmp_path_factory.mktemp("fake-registry") / "log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, str(FAKE), str(port), "--mcp-host", f"127.0.0.1:{mcp_port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    registry = FakeRegistry(f"http://127.0.0.1:{port}", mcp_port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                registry.hits("main")
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the fake registry did not start") from None
                time.sleep(0.05)
        yield registry
    finally:
        proc.kill()
        proc.wait()
        log.close()


@pytest.fixture
def mcp_server(fake_registry: FakeRegistry, tmp_path: Path) -> Iterator[None]:
    """tests/mcp_servers/http_tools.py where the fake's `io.example/echo` points by default."""
    port = fake_registry.mcp_port
    script = ROOT / "tests" / "mcp_servers" / "http_tools.py"
    with open(tmp_path / "mcp.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(port), "--token", MCP_TOKEN],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the MCP test server did not start") from None
                time.sleep(0.05)
        yield
    finally:
        proc.kill()
        proc.wait()
