"""Live checks under load and under attack, through HTTP against real `agent_server serve`
processes: one limit on the probes open at once (counted from the children themselves), the
catalog's deadline, stdio servers' whole process groups ended with their probes, and no form of
a secret in what a probe returns or logs.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import is_alive, wait_without_descendants
from support import ServerProcess, cli_env, free_port, run_refused, serving

SERVERS = Path(__file__).resolve().parent / "mcp_servers"
PYTHON = sys.executable
BASE = "/api/settings/mcp-servers"
LIMIT = 4
SECRET = 'canary-qu"ote\\back-5e1'  # escapes differently in JSON and in a repr
FORMS = (SECRET, SECRET[: len(SECRET) // 2], json.dumps(SECRET), repr(SECRET), "canary-")


def counted(log: Path, name: str) -> dict[str, Any]:
    """A stdio "server" that logs its start and end (around a short sleep) and exits."""
    script = f"echo '+ {name}' >> {shlex.quote(str(log))}; sleep 0.1; echo '- {name}' >> "
    return {"command": "sh", "args": ["-c", script + shlex.quote(str(log))]}


def most_alive_at_once(log: Path) -> tuple[int, set[str]]:
    """(the most children alive at once, the names that started), from the counting log."""
    alive = most = 0
    started: set[str] = set()
    for line in log.read_text().splitlines():
        sign, name = line.split(" ", 1)
        alive += 1 if sign == "+" else -1
        most = max(most, alive)
        if sign == "+":
            started.add(name)
    return most, started


def with_grandchild(pid_file: Path, *command: str) -> dict[str, Any]:
    """A stdio server that first starts `sleep 300` in its process group (pid in pid_file)."""
    return {"command": str(SERVERS / "with_grandchild.sh"), "args": [str(pid_file), *command]}


def assert_ended(pid_file: Path) -> None:
    """The grandchild whose pid is in pid_file is gone (given a moment to be reaped)."""
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = is_alive(pid)
    if alive:
        subprocess.run(["kill", "-KILL", str(pid)], check=False)
    assert not alive, "a stdio server's own child outlived the probe"


def put_all(api: httpx.Client, servers: dict[str, dict[str, Any]]) -> None:
    for name, config in servers.items():
        response = api.put(f"{BASE}/{name}", json=config)
        assert response.status_code == 201, response.text


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start a real server (its own home) with the given flags; stopped after the test."""
    started: list[ServerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(tmp_path / f"home-{len(started)}", *args, env=env)
        started.append(server)
        return server.wait_ready()

    yield start
    for server in started:
        left = wait_without_descendants(server.proc.pid)
        server.stop()
        assert not left, f"the server's children were left behind: {left}"


# --- --max-probes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("--max-probes", "0"), {}),
        (("--max-probes", "-3"), {}),
        ((), {"AGENT_SERVER_MAX_PROBES": "0"}),
        ((), {"AGENT_SERVER_MAX_PROBES": "many"}),
    ],
    ids=["flag-0", "flag-negative", "env-0", "env-not-a-number"],
)
def test_a_probe_limit_below_one_is_refused_at_start(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str]
) -> None:
    result = run_refused("serve", "--home", str(tmp_path / "home"), *args, env=cli_env(**env))

    assert result.returncode == 2, result.stderr
    assert "--max-probes" in result.stderr and "at least 1" in result.stderr


def test_the_flag_wins_over_the_environment(serve: Callable[..., ServerProcess]) -> None:
    server = serve("--max-probes", "2", env=cli_env(AGENT_SERVER_MAX_PROBES="0"))

    assert httpx.get(server.url + "/health").status_code == 200


def test_catalog_over_300_stdio_servers_never_exceeds_the_probe_limit(
    serve: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    log = tmp_path / "children.log"
    log.touch()
    server = serve("--max-probes", str(LIMIT))
    stored = {f"s{i:03}": counted(log, f"s{i:03}") for i in range(300)}
    candidates = {f"t{i}": counted(log, f"t{i}") for i in range(6)}
    with server.client(timeout=300) as api:
        put_all(api, stored)
        # Each server has 3 s, while the whole catalog takes far longer: a timeout counted
        # from the queue instead of the slot would fail the later ones with "timeout".
        with ThreadPoolExecutor(8) as pool:
            catalog = pool.submit(api.get, "/api/mcp/tools?timeout=3&deadline=120")
            others = [
                *(pool.submit(api.get, f"{BASE}/s{i:03}/tools?refresh=1") for i in range(6)),
                *(pool.submit(api.get, f"{BASE}/s{i:03}/health") for i in range(6, 12)),
                *(
                    pool.submit(api.post, "/api/mcp/test", json={"config": config})
                    for config in candidates.values()
                ),
            ]
            answers = [catalog.result(), *(other.result() for other in others)]

    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    servers = {s["name"]: s for s in answers[0].json()["servers"]}
    assert set(servers) == set(stored)
    # The children exit without speaking MCP: each was reached, none timed out in the queue.
    assert {(s["ok"], s["error_kind"]) for s in servers.values()} == {(False, "connection")}
    most, started = most_alive_at_once(log)
    assert set(stored) | set(candidates) <= started
    assert most == LIMIT, f"{most} stdio children were alive at once with --max-probes {LIMIT}"


def test_catalog_deadline_marks_the_servers_it_did_not_reach_and_ends_their_probes(
    serve: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    marker = tmp_path / "queued-started"
    server = serve("--max-probes", "1")
    with server.client(timeout=90) as api:
        put_all(
            api,
            {
                # Sorted first, it takes the only slot and never answers.
                "a-hangs": with_grandchild(pid_file, PYTHON, str(SERVERS / "hang.py")),
                "b-queued": {"command": "touch", "args": [str(marker)]},
            },
        )
        # Each server may take 60 s; the catalog must answer after about 2.
        response = api.get("/api/mcp/tools?timeout=60&deadline=2")

    assert response.status_code == 200, response.text
    assert response.json()["tools"] == []
    servers = {s["name"]: s for s in response.json()["servers"]}
    assert set(servers) == {"a-hangs", "b-queued"}
    for report in servers.values():
        assert report["ok"] is False and report["error_kind"] == "deadline", report
        assert "deadline of 2 s" in report["error"]
        assert report["tool_count"] == 0 and report["latency_ms"] is None
    assert not marker.exists(), "the queued server was started after the deadline"
    assert_ended(pid_file)


def test_catalog_deadline_is_checked(serve: Callable[..., ServerProcess]) -> None:
    server = serve()
    for query in ("deadline=0", "deadline=121", "deadline=soon", "deadline=-1"):
        response = httpx.get(f"{server.url}/api/mcp/tools?{query}", headers=server.headers)
        assert response.status_code == 400, (query, response.text)
        assert "deadline" in response.json()["detail"]


# --- process groups -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server, logging at debug, for the tests that need no flag of their own."""
    yield from serving(tmp_path_factory.mktemp("probes") / "home", "--log-level", "debug")


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        ((PYTHON, str(SERVERS / "stdio_tools.py")), None),
        (("sh", "-c", "exit 3"), "connection"),
        ((PYTHON, str(SERVERS / "hang.py")), "timeout"),
    ],
    ids=["success", "failure", "timeout"],
)
def test_a_probe_ends_the_stdio_servers_whole_process_group(
    server: ServerProcess, tmp_path: Path, command: tuple[str, ...], kind: str | None
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    config = with_grandchild(pid_file, *command)

    response = httpx.post(
        f"{server.url}/api/mcp/test",
        json={"config": config, "timeout": 5},
        headers=server.headers,
        timeout=60,
    )

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["ok"] is (kind is None), result
    assert result.get("error_kind") == kind
    assert_ended(pid_file)
    assert not wait_without_descendants(server.proc.pid)


# --- no secret in answers or logs ---------------------------------------------------------------


@pytest.fixture(scope="module")
def leaky(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """leaky_http.py on a free port: its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("leaky") / "leaky.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [PYTHON, str(SERVERS / "leaky_http.py"), str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.post(url + "/status/500/mcp", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_no_form_of_a_secret_reaches_an_answer_or_the_log(
    server: ServerProcess, leaky: str
) -> None:
    # The premise: the upstream really quotes the secret it was sent, in every form.
    echoed = httpx.post(f"{leaky}/status/500/mcp", headers={"Authorization": f"Bearer {SECRET}"})
    assert all(form in echoed.text for form in FORMS), echoed.text
    configs = {
        "http-500": {"url": f"{leaky}/status/500/mcp", "auth": SECRET},
        "http-400": {"url": f"{leaky}/status/400/mcp", "auth": SECRET},
        "http-404": {"url": f"{leaky}/status/404/mcp", "auth": SECRET},
        "jsonrpc-error": {"url": f"{leaky}/jsonrpc/mcp", "auth": SECRET},
        "stdio": {
            "command": PYTHON,
            "args": [str(SERVERS / "leaky_stdio.py")],
            "env": {"MCP_TEST_SECRET": SECRET},
        },
    }
    answers: list[httpx.Response] = []
    with server.client(timeout=60) as api:
        for name, config in configs.items():
            answers.append(api.post("/api/mcp/test", json={"config": config, "timeout": 5}))
            put_all(api, {name: config})
            answers.append(api.get(f"{BASE}/{name}/tools?timeout=5"))
            answers.append(api.get(f"{BASE}/{name}/health?timeout=5"))
        answers.append(api.get("/api/mcp/tools?timeout=5"))
        for name in configs:
            assert api.delete(f"{BASE}/{name}").status_code == 204

    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    catalog = {s["name"]: s for s in answers[-1].json()["servers"]}
    # Each got as far as the server's answer (an HTTP error, or an MCP error quoting the
    # secret), so each message was made where a quote of the answer could have slipped in.
    assert {name: (s["ok"], s["error_kind"]) for name, s in catalog.items()} == dict.fromkeys(
        configs, (False, "protocol")
    )
    for answer in answers[:-1]:
        assert answer.json()["ok"] is False, answer.text
        assert answer.json().get("error_kind", "protocol") == "protocol", answer.text
    log = server.log()
    # Other loggers did log during the probes (a stray line on the child's stdout at least):
    # their records are in the log, with their text withheld.
    assert "its text is withheld" in log
    for text in (*(answer.text for answer in answers), log):
        for form in FORMS:
            assert form not in text, f"a secret leaked ({form!r}): {text!r}"
