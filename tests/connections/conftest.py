"""Fixtures of the live-connection suites: no child process left after a test, the HTTP MCP
servers (started once for the folder), and logs captured from fastmcp's loggers too."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
from connections_support import (
    API_KEY,
    TOKEN,
    Remote,
    spawn,
    stop,
    wait_listening,
)
from processes import ON_PURPOSE, live_descendants, wait_without_descendants
from support import free_port


@pytest.fixture(autouse=True)
def no_child_process_left() -> Iterator[None]:
    """After each test, no process started during it is still alive below the test process."""
    before = set(live_descendants(os.getpid(), ON_PURPOSE))
    yield
    left = wait_without_descendants(os.getpid(), ON_PURPOSE | before)
    assert not left, f"child processes left behind: {left}"


@pytest.fixture(scope="package")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    logs = tmp_path_factory.mktemp("mcp-http")
    ports = {"tools": free_port(), "secured": free_port(), "hang": free_port()}
    started = {
        "tools": spawn("http_tools.py", str(ports["tools"]), log=logs / "tools.log"),
        "secured": spawn(
            "http_tools.py",
            str(ports["secured"]),
            "--name",
            "secured-tools",
            "--token",
            TOKEN,
            "--header",
            f"X-Api-Key={API_KEY}",
            log=logs / "secured.log",
        ),
        "hang": spawn("hang.py", "--port", str(ports["hang"]), log=logs / "hang.log"),
    }
    try:
        for key, proc in started.items():
            wait_listening(proc, ports[key], logs / f"{key}.log")
        yield Remote(
            tools=f"http://127.0.0.1:{ports['tools']}/mcp",
            secured=f"http://127.0.0.1:{ports['secured']}/mcp",
            hang=f"http://127.0.0.1:{ports['hang']}/mcp",
            not_mcp=f"http://127.0.0.1:{ports['tools']}/not-mcp",
            refused=f"http://127.0.0.1:{free_port()}/mcp",
        )
    finally:
        for proc in started.values():
            stop(proc)


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog at DEBUG, also over fastmcp's loggers (which do not propagate to the root)."""
    caplog.set_level(logging.DEBUG)
    fastmcp_log = logging.getLogger("fastmcp")
    level = fastmcp_log.level
    fastmcp_log.addHandler(caplog.handler)
    fastmcp_log.setLevel(logging.DEBUG)
    try:
        yield caplog
    finally:
        fastmcp_log.removeHandler(caplog.handler)
        fastmcp_log.setLevel(level)
