"""Live connections to MCP servers: test a candidate config, a stored server's tools (cached per
ETag), the tool catalog across enabled servers, a server's health, and secrets on the way.

Every check goes through HTTP against real MCP servers written with fastmcp (tests/mcp_servers):
stdio children the settings server starts itself, streamable-HTTP servers on loopback ports, and
servers that never answer. Secrets are canaries ("canary-..."): none may show up in an answer,
in a log record, in the test process's own output or in a real server process's log. After each
test no child process of the test run is left (the HTTP servers started on purpose aside).
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from support import MASK, ServerProcess, free_port, settings_bytes

SERVERS = Path(__file__).resolve().parent / "mcp_servers"
PYTHON = sys.executable
BASE = "/api/settings/mcp-servers"

TOKEN = "canary-token-4b1e90"
API_KEY = "canary-apikey-8c2d17"
ENV_SECRET = "canary-env-6f0a55"
WRONG_TOKEN = "canary-wrong-token-19d7"
WRONG_KEY = "canary-wrong-key-2a5c"
CANARY = "canary-"

TOOLS_OK_KEYS = {"ok", "tools", "latency_ms", "server_info"}
FAILED_KEYS = {"ok", "error", "error_kind"}
TOOL_KEYS = {"name", "description", "input_schema", "tags", "enabled", "changed"}

# Processes the fixtures start on purpose (HTTP MCP servers): the leftover check ignores them.
ON_PURPOSE: set[int] = set()


# --- processes ----------------------------------------------------------------------------------


def _process_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command name) of every process, read from /proc/*/stat."""
    table: dict[int, tuple[int, str, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it exited meanwhile
        close = stat.rindex(")")
        state, ppid = stat[close + 2 :].split()[:2]
        table[int(entry.name)] = (int(ppid), state, stat[stat.index("(") + 1 : close])
    return table


def live_descendants(root: int, ignore: AbstractSet[int] = frozenset()) -> dict[int, str]:
    """Live (not zombie) descendants of `root`, pid -> description; subtrees of `ignore` skipped."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: dict[int, str] = {}
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        if pid in ignore:
            continue
        _, state, name = table[pid]
        if state != "Z":
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                cmdline = ""
            found[pid] = f"{name} [{state}] {cmdline.strip()}"
        stack.extend(children.get(pid, []))
    return found


def wait_without_descendants(
    root: int, ignore: AbstractSet[int] = frozenset(), within: float = 5.0
) -> dict[int, str]:
    """The live descendants of `root` still there after up to `within` seconds (empty: none)."""
    deadline = time.monotonic() + within
    while True:
        left = live_descendants(root, ignore)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture(autouse=True)
def no_child_process_left() -> Iterator[None]:
    """After each test, no process started during it is still alive below the test process."""
    before = set(live_descendants(os.getpid(), ON_PURPOSE))
    yield
    left = wait_without_descendants(os.getpid(), ON_PURPOSE | before)
    assert not left, f"child processes left behind: {left}"


# --- MCP servers over HTTP, started once for the module -----------------------------------------


@dataclass(frozen=True)
class Remote:
    tools: str  # an open streamable-HTTP server: tools echo and listed_<n>
    secured: str  # the same, but it needs `Bearer TOKEN` and `X-Api-Key: API_KEY`
    hang: str  # a TCP server that never answers
    not_mcp: str  # the open server at a path that is not MCP (404)
    refused: str  # a loopback port where nothing listens


def _spawn(script: str, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [PYTHON, str(SERVERS / script), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ON_PURPOSE.add(proc.pid)
    return proc


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{proc.args} is not listening after 30 s:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    ON_PURPOSE.discard(proc.pid)


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    logs = tmp_path_factory.mktemp("mcp-http")
    ports = {"tools": free_port(), "secured": free_port(), "hang": free_port()}
    started = {
        "tools": _spawn("http_tools.py", str(ports["tools"]), log=logs / "tools.log"),
        "secured": _spawn(
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
        "hang": _spawn("hang.py", "--port", str(ports["hang"]), log=logs / "hang.log"),
    }
    try:
        for key, proc in started.items():
            _wait_listening(proc, ports[key], logs / f"{key}.log")
        yield Remote(
            tools=f"http://127.0.0.1:{ports['tools']}/mcp",
            secured=f"http://127.0.0.1:{ports['secured']}/mcp",
            hang=f"http://127.0.0.1:{ports['hang']}/mcp",
            not_mcp=f"http://127.0.0.1:{ports['tools']}/not-mcp",
            refused=f"http://127.0.0.1:{free_port()}/mcp",
        )
    finally:
        for proc in started.values():
            _stop(proc)


# --- helpers ------------------------------------------------------------------------------------


def stdio(script: str, *args: str, **env: str) -> dict[str, Any]:
    config: dict[str, Any] = {"command": PYTHON, "args": [str(SERVERS / script), *args]}
    if env:
        config["env"] = env
    return config


def http(url: str, **extra: Any) -> dict[str, Any]:
    return {"url": url, "transport": "http", **extra}


def secured(remote: Remote, token: str = TOKEN, key: str = API_KEY) -> dict[str, Any]:
    return http(remote.secured, auth=token, headers={"X-Api-Key": key})


def env_tool(value: str) -> str:
    """The name of the tool stdio_tools.py names after the hash of its MCP_TEST_SECRET."""
    return "env_" + hashlib.sha256(value.encode()).hexdigest()[:16]


def put(client: TestClient, name: str, config: dict[str, Any]) -> str:
    """Store a new server; its ETag."""
    response = client.put(f"{BASE}/{name}", json=config)
    assert response.status_code == 201, response.text
    return response.headers["etag"]


def probe(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/mcp/test", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def tools_of(client: TestClient, name: str, query: str = "") -> dict[str, Any]:
    response = client.get(f"{BASE}/{name}/tools{query}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_tools_ok(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Check the MCPToolsOk shape; the tools by name."""
    assert result["ok"] is True, result
    assert set(result) == TOOLS_OK_KEYS
    assert isinstance(result["latency_ms"], float | int) and result["latency_ms"] > 0
    for tool in result["tools"]:
        assert set(tool) == TOOL_KEYS
        assert isinstance(tool["input_schema"], dict)
    return {tool["name"]: tool for tool in result["tools"]}


def assert_failed(result: dict[str, Any], kind: str) -> str:
    """Check the MCPProbeFailed shape and kind; the error text."""
    assert result["ok"] is False, result
    assert set(result) == FAILED_KEYS
    assert result["error_kind"] == kind, result
    assert isinstance(result["error"], str) and result["error"]
    error: str = result["error"]
    return error


def listed(tools: dict[str, dict[str, Any]]) -> int:
    """The count in the `listed_<n>` tool of http_tools.py: tool lists that server has served."""
    (name,) = [n for n in tools if n.startswith("listed_")]
    return int(name.removeprefix("listed_"))


def assert_no_canary(*texts: str) -> None:
    for text in texts:
        assert CANARY not in text, f"a secret leaked: {text!r}"


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


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return caplog.text + "\n".join(r.getMessage() for r in caplog.records)


# --- POST /api/mcp/test -------------------------------------------------------------------------


def test_candidate_stdio_server_lists_its_tools_with_its_env_and_nothing_is_saved(
    make_client: Callable[..., TestClient],
    home: Path,
    all_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    processes_before = set(live_descendants(os.getpid()))
    config = stdio("stdio_tools.py", MCP_TEST_SECRET=ENV_SECRET)
    # Entered, the client runs the app in one event loop for all requests, as a server does.
    with make_client() as client:
        files_before = sorted(p.name for p in home.iterdir())
        response = client.post("/api/mcp/test", json={"config": config})
        # The connection was closed before the answer: the child has already exited.
        left = live_descendants(os.getpid(), ON_PURPOSE | processes_before)

    assert not left, f"the stdio child outlived the probe: {left}"
    assert response.status_code == 200, response.text
    result = response.json()
    tools = assert_tools_ok(result)
    assert set(tools) == {"add", env_tool(ENV_SECRET)}  # the child got the env value
    assert tools["add"]["description"] == "Add two integers."
    schema = tools["add"]["input_schema"]
    assert schema["properties"] == {"a": {"type": "integer"}, "b": {"type": "integer"}}
    assert sorted(schema["required"]) == ["a", "b"]
    assert result["server_info"] == {"name": "stdio-tools", "version": "1.2.3"}
    assert not (home / "settings.json").exists()
    assert sorted(p.name for p in home.iterdir()) == files_before
    # The child printed its secret on stderr: it must not reach the logs or our output.
    out, err = capfd.readouterr()
    assert_no_canary(response.text, logged(all_logs), out, err)


def test_candidate_http_server_is_tested_without_changing_the_stored_settings(
    client: TestClient, home: Path, remote: Remote
) -> None:
    put(client, "kept", http(remote.refused, description="stored"))
    before = settings_bytes(home)
    stored = client.get(f"{BASE}/kept").json()

    result = probe(client, {"name": "kept", "config": http(remote.tools, description="edited")})

    tools = assert_tools_ok(result)
    assert "echo" in tools
    assert tools["echo"]["description"] == "Echo the text back."
    assert tools["echo"]["input_schema"]["properties"] == {"text": {"type": "string"}}
    assert result["server_info"] == {"name": "http-tools", "version": "0.9"}
    assert settings_bytes(home) == before
    assert client.get(f"{BASE}/kept").json() == stored


def test_candidate_timeout_may_be_120_seconds(client: TestClient, remote: Remote) -> None:
    assert_tools_ok(probe(client, {"config": http(remote.tools), "timeout": 120}))
    assert_tools_ok(probe(client, {"config": http(remote.tools), "timeout": 0.5}))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"config": "{}"}, "config"),
        ({}, "config"),
        ({"config": {}}, None),
        ({"config": {"command": ""}}, "command"),
        ({"config": {"command": PYTHON, "url": "http://127.0.0.1:1/mcp"}}, None),
        ({"config": {"url": "ftp://127.0.0.1/mcp"}}, "url"),
        ({"config": {"url": "http://127.0.0.1:1/mcp", "headers": {"A": 1}}}, "headers"),
        ({"config": {"command": PYTHON, "env": {"A": MASK}}}, "env"),  # a mask needs a name
        ({"config": {"url": "http://127.0.0.1:1/mcp"}, "timeout": 0}, "timeout"),
        ({"config": {"url": "http://127.0.0.1:1/mcp"}, "timeout": -1}, "timeout"),
        ({"config": {"url": "http://127.0.0.1:1/mcp"}, "timeout": 121}, "timeout"),
        ({"config": {"url": "http://127.0.0.1:1/mcp"}, "timeout": "soon"}, "timeout"),
        ({"config": {"url": "http://127.0.0.1:1/mcp"}, "name": "no spaces"}, "name"),
        ({"config": {"url": "http://127.0.0.1:1/mcp"}, "extra": 1}, "extra"),
    ],
)
def test_invalid_candidate_is_422(
    client: TestClient, body: dict[str, Any], field: str | None
) -> None:
    response = client.post("/api/mcp/test", json=body)

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    if field is not None:
        assert any(field in error["loc"] for error in detail), detail


def test_invalid_candidate_is_never_started(client: TestClient, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    config = stdio("stdio_crash.py", str(marker))

    invalid = client.post("/api/mcp/test", json={"config": {**config, "enabled": "yes"}})
    too_long = client.post("/api/mcp/test", json={"config": config, "timeout": 121})

    assert (invalid.status_code, too_long.status_code) == (422, 422)
    assert not marker.exists()
    # The same config, valid, is started: the marker proves what the 422s did not do.
    assert_failed(probe(client, {"config": config}), "connection")
    assert marker.exists()


@pytest.mark.parametrize(
    ("make_config", "kind"),
    [
        (lambda r: {"command": "no-such-mcp-command-7f3e"}, "connection"),
        (lambda r: {"command": str(SERVERS)}, "connection"),  # a folder: cannot be run
        (lambda r: stdio("stdio_crash.py"), "connection"),
        (lambda r: http(r.refused), "connection"),
        (lambda r: stdio("hang.py"), "timeout"),
        (lambda r: http(r.hang), "timeout"),
        (lambda r: secured(r, token=WRONG_TOKEN), "auth"),
        (lambda r: http(r.secured), "auth"),
        (lambda r: http(r.not_mcp), "protocol"),
        (lambda r: {"url": r.tools, "auth": "oauth"}, "auth"),
    ],
    ids=[
        "missing-command",
        "command-not-executable",
        "stdio-exits",
        "port-refused",
        "stdio-hangs",
        "http-hangs",
        "wrong-token",
        "no-token",
        "not-mcp",
        "oauth",
    ],
)
def test_failed_candidate_reports_its_error_kind(
    client: TestClient, remote: Remote, make_config: Callable[[Remote], dict[str, Any]], kind: str
) -> None:
    started = time.monotonic()
    result = probe(client, {"config": make_config(remote), "timeout": 1})
    elapsed = time.monotonic() - started

    assert_failed(result, kind)
    assert elapsed < 6, f"a probe with a 1 s timeout took {elapsed:.1f} s"
    if kind == "timeout":
        assert elapsed >= 0.9


def test_stdio_child_that_ignores_the_end_of_its_input_is_ended_with_its_children(
    client: TestClient, tmp_path: Path
) -> None:
    pid_file = tmp_path / "grandchild.pid"

    result = probe(client, {"config": stdio("hang.py", "--stubborn", str(pid_file)), "timeout": 1})

    assert_failed(result, "timeout")
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while is_alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = is_alive(grandchild)
    if alive:
        os.kill(grandchild, signal.SIGKILL)
    assert not alive, "the stdio child's own child outlived the probe"


# --- "**********" in a candidate takes the stored server's secrets -------------------------------


def test_masked_candidate_takes_the_stored_servers_secrets(
    client: TestClient, home: Path, remote: Remote
) -> None:
    put(client, "secured", secured(remote))
    redacted = client.get(f"{BASE}/secured").json()["config"]
    assert redacted["auth"] == MASK and redacted["headers"] == {"X-Api-Key": MASK}
    edited = {**redacted, "description": "edited, not saved"}
    before = settings_bytes(home)

    with_name = client.post("/api/mcp/test", json={"name": "secured", "config": edited})
    without_name = client.post("/api/mcp/test", json={"config": edited})
    unknown_name = client.post("/api/mcp/test", json={"name": "nobody", "config": edited})
    wrong_token = client.post(
        "/api/mcp/test",
        json={"name": "secured", "config": {**edited, "auth": WRONG_TOKEN}},
    )
    wrong_header = client.post(
        "/api/mcp/test",
        json={"name": "secured", "config": {**edited, "headers": {"X-Api-Key": WRONG_KEY}}},
    )

    assert with_name.status_code == 200, with_name.text
    tools = assert_tools_ok(with_name.json())
    assert "echo" in tools
    assert with_name.json()["server_info"]["name"] == "secured-tools"
    for refused in (without_name, unknown_name):
        assert refused.status_code == 422, refused.text
        locs = [error["loc"] for error in refused.json()["detail"]]
        assert ["config", "auth"] in locs and ["config", "headers", "X-Api-Key"] in locs
    # The stored secrets are really needed: the same candidate with a wrong one is refused.
    assert wrong_token.status_code == wrong_header.status_code == 200
    assert_failed(wrong_token.json(), "auth")
    assert_failed(wrong_header.json(), "auth")
    assert settings_bytes(home) == before
    for response in (with_name, without_name, unknown_name, wrong_token, wrong_header):
        assert_no_canary(response.text)


# --- GET /api/settings/mcp-servers/{name}/tools -------------------------------------------------


def test_stored_stdio_server_lists_its_tools_with_its_decrypted_env(
    client: TestClient,
    all_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    etag = put(client, "local", stdio("stdio_tools.py", MCP_TEST_SECRET=ENV_SECRET))

    response = client.get(f"{BASE}/local/tools")

    assert response.status_code == 200, response.text
    assert response.headers["etag"] == etag
    tools = assert_tools_ok(response.json())
    # The child got the plaintext, not the stored token nor the mask.
    assert set(tools) == {"add", env_tool(ENV_SECRET)}
    assert response.json()["server_info"] == {"name": "stdio-tools", "version": "1.2.3"}
    out, err = capfd.readouterr()
    assert_no_canary(response.text, logged(all_logs), out, err)


def test_stored_servers_tools_are_cached_per_etag(client: TestClient, remote: Remote) -> None:
    first_etag = put(client, "counted", http(remote.tools))

    first = tools_of(client, "counted")
    n = listed(assert_tools_ok(first))
    again = client.get(f"{BASE}/counted/tools")
    patched = client.patch(f"{BASE}/counted", json={"description": "changed"})
    after_change = tools_of(client, "counted")
    after_change_again = tools_of(client, "counted")
    refreshed = tools_of(client, "counted", "?refresh=1")

    assert again.status_code == 200 and again.headers["etag"] == first_etag
    assert again.json() == first  # from the cache: the server was not asked again
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] != first_etag
    assert listed(assert_tools_ok(after_change)) == n + 1  # a config change: a new connection
    assert after_change_again == after_change
    assert listed(assert_tools_ok(refreshed)) == n + 2  # refresh=1 bypasses the cache
    assert "echo" in assert_tools_ok(refreshed)


def test_cached_tools_outlive_the_server(client: TestClient, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "http.log"
    proc = _spawn("http_tools.py", str(port), log=log)
    try:
        _wait_listening(proc, port, log)
        put(client, "short-lived", http(f"http://127.0.0.1:{port}/mcp"))
        first = tools_of(client, "short-lived")
    finally:
        _stop(proc)

    assert_tools_ok(first)
    assert tools_of(client, "short-lived") == first
    assert_failed(tools_of(client, "short-lived", "?refresh=1"), "connection")


def test_tools_of_a_disabled_server_are_409_and_of_a_missing_one_404(
    client: TestClient, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    put(client, "off", {**stdio("stdio_crash.py", str(marker)), "enabled": False})

    disabled = client.get(f"{BASE}/off/tools")
    missing = client.get(f"{BASE}/nobody/tools")

    assert disabled.status_code == 409, disabled.text
    assert missing.status_code == 404, missing.text
    assert not marker.exists()


# --- GET /api/mcp/tools -------------------------------------------------------------------------


def test_catalog_names_tools_by_server_and_reports_each_server(
    client: TestClient, remote: Remote, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    put(client, "alpha", http(remote.tools))
    put(client, "beta", secured(remote))
    put(client, "broken", {"command": "no-such-mcp-command-7f3e"})
    put(client, "refusing", secured(remote, token=WRONG_TOKEN))
    put(client, "off", {**stdio("stdio_crash.py", str(marker)), "enabled": False})
    put(client, "off-http", http(remote.tools, enabled=False))
    own = {name: assert_tools_ok(tools_of(client, name)) for name in ("alpha", "beta")}

    response = client.get("/api/mcp/tools")

    assert response.status_code == 200, response.text
    catalog = response.json()
    assert set(catalog) == {"tools", "servers"}
    servers = {server["name"]: server for server in catalog["servers"]}
    assert set(servers) == {"alpha", "beta", "broken", "refusing"}  # disabled ones left out
    assert not marker.exists()
    for name in ("alpha", "beta"):
        assert servers[name]["ok"] is True and servers[name]["error"] is None
        assert servers[name]["error_kind"] is None
        assert servers[name]["tool_count"] == len(own[name])
        assert servers[name]["latency_ms"] > 0
    for name, kind in (("broken", "connection"), ("refusing", "auth")):
        assert servers[name]["ok"] is False and servers[name]["tool_count"] == 0
        assert servers[name]["error_kind"] == kind and servers[name]["error"]
    tools = {tool["name"]: tool for tool in catalog["tools"]}
    assert set(tools) == {f"{server}.{tool}" for server in own for tool in own[server]}
    for server, server_tools in own.items():
        for name, tool in server_tools.items():
            assert tools[f"{server}.{name}"] == {
                "name": f"{server}.{name}",
                "gateway_name": f"{server}__{name}",
                "server": server,
                "tool": name,
                "description": tool["description"],
                "input_schema": tool["input_schema"],
                "changed": False,
            }
    assert_no_canary(response.text)


def test_catalog_queries_servers_concurrently_each_with_the_timeout(
    client: TestClient, remote: Remote
) -> None:
    put(client, "alpha", http(remote.tools))
    put(client, "hang-1", http(remote.hang))
    put(client, "hang-2", http(remote.hang))
    put(client, "hang-stdio", stdio("hang.py"))

    started = time.monotonic()
    response = client.get("/api/mcp/tools?timeout=2&refresh=1")
    elapsed = time.monotonic() - started

    assert response.status_code == 200, response.text
    assert 1.9 <= elapsed < 4.0, f"three servers hanging 2 s each took {elapsed:.1f} s"
    servers = {server["name"]: server for server in response.json()["servers"]}
    for name in ("hang-1", "hang-2", "hang-stdio"):
        assert servers[name]["ok"] is False and servers[name]["error_kind"] == "timeout"
    assert servers["alpha"]["ok"] is True
    names = {tool["name"] for tool in response.json()["tools"]}
    assert "alpha.echo" in names
    assert all(name.startswith("alpha.") for name in names)


def test_catalog_of_no_servers_is_empty(client: TestClient) -> None:
    response = client.get("/api/mcp/tools")

    assert response.status_code == 200, response.text
    assert response.json() == {"tools": [], "servers": []}


# --- GET /api/settings/mcp-servers/{name}/health ------------------------------------------------


def _checked_at(report: dict[str, Any], before: datetime, after: datetime) -> None:
    checked = datetime.fromisoformat(report["checked_at"])
    assert checked.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= checked <= after + timedelta(seconds=1)


def test_health_of_a_working_server(client: TestClient, remote: Remote) -> None:
    etag = put(client, "alpha", secured(remote))
    before = datetime.now(UTC)

    response = client.get(f"{BASE}/alpha/health")

    after = datetime.now(UTC)
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == etag
    report = response.json()
    assert set(report) == {"ok", "latency_ms", "checked_at", "error"}
    assert report["ok"] is True and report["error"] is None
    assert isinstance(report["latency_ms"], float | int) and report["latency_ms"] > 0
    _checked_at(report, before, after)


@pytest.mark.parametrize(
    "make_config",
    [
        lambda r: http(r.refused),
        lambda r: secured(r, token=WRONG_TOKEN),
        lambda r: {"command": "no-such-mcp-command-7f3e"},
    ],
    ids=["refused", "wrong-token", "missing-command"],
)
def test_health_of_a_broken_server(
    client: TestClient, remote: Remote, make_config: Callable[[Remote], dict[str, Any]]
) -> None:
    put(client, "broken", make_config(remote))
    before = datetime.now(UTC)

    response = client.get(f"{BASE}/broken/health?timeout=5")

    after = datetime.now(UTC)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["ok"] is False and report["latency_ms"] is None
    assert isinstance(report["error"], str) and report["error"]
    _checked_at(report, before, after)
    assert_no_canary(response.text)


def test_health_of_a_missing_server_is_404(client: TestClient) -> None:
    assert client.get(f"{BASE}/nobody/health").status_code == 404


# --- secrets never in errors or logs ------------------------------------------------------------


def test_failed_probes_never_show_secrets(
    client: TestClient,
    remote: Remote,
    all_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # stdio_crash.py prints its env value to stderr; the secured server echoes what it was sent
    # in its 401 body.
    crashing = stdio("stdio_crash.py", MCP_TEST_SECRET=ENV_SECRET)
    refused = secured(remote, token=WRONG_TOKEN, key=WRONG_KEY)
    unreachable = http(remote.refused, auth=TOKEN, headers={"X-Api-Key": API_KEY})
    not_mcp = http(remote.not_mcp, auth=TOKEN, headers={"X-Api-Key": API_KEY})
    answers: list[httpx.Response] = []
    for name, config in (
        ("crashing", crashing),
        ("refused", refused),
        ("unreachable", unreachable),
        ("not-mcp", not_mcp),
    ):
        answers.append(client.post("/api/mcp/test", json={"config": config}))
        put(client, name, config)
        answers.append(client.get(f"{BASE}/{name}/tools"))
        answers.append(client.get(f"{BASE}/{name}/health"))
        masked = (
            {**config, "env": {"MCP_TEST_SECRET": MASK}}
            if "command" in config
            else {**config, "auth": MASK, "headers": {"X-Api-Key": MASK}}
        )
        answers.append(client.post("/api/mcp/test", json={"name": name, "config": masked}))
    answers.append(client.get("/api/mcp/tools?refresh=1"))

    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    catalog = answers[-1].json()
    assert [s["ok"] for s in catalog["servers"]] == [False] * 4
    for answer in answers[:-1]:
        assert answer.json()["ok"] is False, answer.text
    out, err = capfd.readouterr()
    assert_no_canary(*(answer.text for answer in answers), logged(all_logs), out, err)


def test_stdio_child_printing_its_secret_on_stdout_does_not_get_it_into_the_logs(
    client: TestClient,
    all_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Like a child that prints its env value to stderr (which goes to /dev/null), one that
    # prints it as a non-MCP line on stdout must not get it into the server's log.
    config = stdio("stdio_crash.py", "--stdout", MCP_TEST_SECRET=ENV_SECRET)
    put(client, "chatty", config)

    answers = [
        client.post("/api/mcp/test", json={"config": config}),
        client.get(f"{BASE}/chatty/tools"),
        client.get(f"{BASE}/chatty/health"),
    ]

    for answer in answers:
        assert answer.status_code == 200 and answer.json()["ok"] is False, answer.text
    out, err = capfd.readouterr()
    assert_no_canary(*(answer.text for answer in answers), logged(all_logs), out, err)


def test_real_server_process_never_logs_secrets(
    start_server: Callable[..., ServerProcess], home: Path, remote: Remote
) -> None:
    server = start_server(home)
    answers: dict[str, httpx.Response] = {}
    with server.client(timeout=60) as api:
        for name, config in (
            # stdio_tools.py and stdio_crash.py print their env secret to stderr; the secured
            # server echoes the credentials it refuses.
            ("local", stdio("stdio_tools.py", MCP_TEST_SECRET=ENV_SECRET)),
            ("crashing", stdio("stdio_crash.py", MCP_TEST_SECRET=ENV_SECRET)),
            ("refused", secured(remote, token=WRONG_TOKEN, key=WRONG_KEY)),
            ("secured", secured(remote)),
        ):
            answers[f"put {name}"] = api.put(f"{BASE}/{name}", json=config)
            answers[f"tools {name}"] = api.get(f"{BASE}/{name}/tools")
            answers[f"health {name}"] = api.get(f"{BASE}/{name}/health")
        masked = {**stdio("stdio_tools.py"), "env": {"MCP_TEST_SECRET": MASK}}
        answers["test masked"] = api.post("/api/mcp/test", json={"name": "local", "config": masked})
        # The connection was closed before the answer: the child has already exited.
        assert not live_descendants(server.proc.pid)
        answers["test refused"] = api.post(
            "/api/mcp/test", json={"config": secured(remote, token=WRONG_TOKEN)}
        )
        answers["catalog"] = api.get("/api/mcp/tools")
        left = wait_without_descendants(server.proc.pid)
        assert not left, f"the server's children were left behind: {left}"

    for what, answer in answers.items():
        assert answer.status_code == (201 if what.startswith("put") else 200), answer.text
    proof = {"add", env_tool(ENV_SECRET)}  # the child got the decrypted env value
    assert set(assert_tools_ok(answers["tools local"].json())) == proof
    assert set(assert_tools_ok(answers["test masked"].json())) == proof
    assert answers["health local"].json()["ok"] is True
    assert answers["health secured"].json()["ok"] is True
    assert_failed(answers["tools refused"].json(), "auth")
    assert_failed(answers["test refused"].json(), "auth")
    servers = {s["name"]: s["ok"] for s in answers["catalog"].json()["servers"]}
    assert servers == {"crashing": False, "local": True, "refused": False, "secured": True}
    assert_no_canary(*(answer.text for answer in answers.values()), server.log())
