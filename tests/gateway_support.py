"""What the gateway tests share: MCP servers behind the gateway, and the processes it starts."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastmcp.client.messages import MessageHandler
from support import ServerProcess, free_port

SERVERS = Path(__file__).resolve().parent / "mcp_servers"
PYTHON = sys.executable
BASE = "/api/settings/mcp-servers"
BEARER = "canary-stored-bearer-6d21"
NAME_RULE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# --- processes ----------------------------------------------------------------------------------


def children_running(parent: int, script: str) -> list[int]:
    """Live processes below `parent` whose command line names `script`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if state != "Z" and script in cmdline and _descends(int(ppid), parent):
            found.append(int(entry.name))
    return found


def env_tool(value: str) -> str:
    """The name of the tool stdio_tools.py names after the hash of its MCP_TEST_SECRET."""
    return "env_" + hashlib.sha256(value.encode()).hexdigest()[:16]


def _descends(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat[stat.rindex(")") + 2 :].split()[1])
    return False


class ToolListChanges(MessageHandler):
    """Counts the `notifications/tools/list_changed` a session receives."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    async def on_tool_list_changed(self, message: Any) -> None:
        self.count += 1


def wait_for(condition: Callable[[], Any], within: float = 15.0) -> Any:
    """The first truthy value of `condition()` within `within` seconds, else fail."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            assert value, f"not reached within {within} s"
            return value
        time.sleep(0.05)


@dataclass
class Remote:
    recording: str  # URL of the header-recording server
    record: Path  # its record of headers, one JSON object per request
    second: str  # URL of another header-recording server
    second_record: Path
    tools: str  # URL of http_tools.py
    secured: str  # URL of http_tools.py that needs `Authorization: Bearer <BEARER>`


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    folder = tmp_path_factory.mktemp("gateway-remote")
    record, second_record = folder / "headers.jsonl", folder / "second-headers.jsonl"
    ports = {
        "recording": free_port(),
        "second": free_port(),
        "tools": free_port(),
        "secured": free_port(),
    }
    procs = [
        subprocess.Popen(
            [PYTHON, str(SERVERS / script), str(ports[key]), *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for key, script, extra in (
            ("recording", "recording_http.py", [str(record)]),
            ("second", "recording_http.py", [str(second_record)]),
            ("tools", "http_tools.py", []),
            ("secured", "http_tools.py", ["--token", BEARER]),
        )
    ]
    try:
        for port in ports.values():
            wait_for(lambda port=port: listening(port), within=30)
        yield Remote(
            recording=f"http://127.0.0.1:{ports['recording']}/mcp",
            record=record,
            second=f"http://127.0.0.1:{ports['second']}/mcp",
            second_record=second_record,
            tools=f"http://127.0.0.1:{ports['tools']}/mcp",
            secured=f"http://127.0.0.1:{ports['secured']}/mcp",
        )
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def recorded(record: Path) -> str:
    """Everything a recording server got so far (empty before its first request)."""
    return record.read_text() if record.exists() else ""


def listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
    except httpx.HTTPError:
        return False
    return True


@pytest.fixture
def serve(
    tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> Callable[..., ServerProcess]:
    """Start a server; extra CLI arguments pass through (a later --mcp-timeout wins)."""

    def start(*args: str, env: dict[str, str] | None = None) -> ServerProcess:
        return start_server(tmp_path / "home", "--mcp-timeout", "20", *args, env=env)

    return start


# --- helpers ------------------------------------------------------------------------------------


def stdio(script: str, *args: str, **env: str) -> dict[str, Any]:
    config: dict[str, Any] = {"command": PYTHON, "args": [str(SERVERS / script), *args]}
    if env:
        config["env"] = env
    return config


def put(server: ServerProcess, name: str, config: dict[str, Any]) -> None:
    with server.client() as http:
        response = http.put(f"{BASE}/{name}", json=config)
    assert response.status_code in (200, 201), response.text
