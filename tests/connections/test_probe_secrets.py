"""Live checks never show a secret: not in an answer, a log record, the test process's output
or a real server process's log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from connections_support import (
    API_KEY,
    BASE,
    ENV_SECRET,
    TOKEN,
    WRONG_KEY,
    WRONG_TOKEN,
    Remote,
    assert_failed,
    assert_no_canary,
    assert_tools_ok,
    env_tool,
    http,
    logged,
    put,
    secured,
    stdio,
)
from processes import live_descendants, wait_without_descendants
from starlette.testclient import TestClient
from support import MASK, ServerProcess

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
