"""`agent-server mcp ...` as a real program against real server processes.

Every command runs as a subprocess with --url/--api-key (or AGENT_SERVER_URL/AGENT_SERVER_API_KEY)
against `python -m agent_server serve` on a loopback port with real Fernet keys in a temp home.
The exit code each error produces is checked against the "exit codes:" section of the help.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import (
    MASK,
    ROOT,
    ServerProcess,
    cli_env,
    client_test_servers,
    free_port,
    serving_together,
)

from sdk import MCPServerListResponse, MCPServerResponse
from sdk.errors import ERRORS_BY_STATUS

KEY = "cli-session-key"
MANAGED = "admin-tools"
SECRET = "canary-cli-env-5a9c"
HEADER_SECRET = "canary-cli-hdr-e21f"
SECRETS = (SECRET, HEADER_SECRET)
BASE = "/api/settings/mcp-servers"
TABLE_HEADER = ["NAME", "SOURCE", "KIND", "TRANSPORT", "ENABLED", "DESCRIPTION"]
STDIO: dict[str, Any] = {"command": "uvx", "args": ["files-mcp"], "env": {"TOKEN": SECRET}}
REMOTE: dict[str, Any] = {
    "url": "https://mcp.example.com/mcp",
    "transport": "sse",
    "headers": {"X-Api-Key": HEADER_SECRET},
    "description": "Remote docs",
}
UNREACHABLE = "unreachable"
USAGE = "usage"


@dataclass(frozen=True)
class Servers:
    main: ServerProcess  # session key KEY, one managed server
    strict: ServerProcess  # --require-preconditions
    acp: ServerProcess  # agent kind acp


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """Three homes, started at once; the acp one is switched to the acp agent kind."""
    root = tmp_path_factory.mktemp("cli")
    for main, strict, acp in serving_together(*client_test_servers(root, MANAGED, KEY)):
        diff = {"agent_settings_diff": {"agent_kind": "acp", "acp_server": "x"}}
        switched = httpx.patch(acp.url + "/api/settings", json=diff, headers=acp.headers)
        assert switched.status_code == 200, switched.text
        yield Servers(main, strict, acp)


@pytest.fixture(scope="module")
def main_server(servers: Servers) -> ServerProcess:
    return servers.main


def parse_exit_codes(help_text: str) -> dict[str, int]:
    """The "exit codes:" section: error class name (or UNREACHABLE / USAGE / the text) -> code."""
    assert "exit codes:" in help_text, help_text
    codes: dict[str, int] = {}
    for line in help_text.split("exit codes:", 1)[1].splitlines():
        match = re.match(r"\s+(\d+)\s+(\S.*)$", line)
        if match is None:
            continue
        code, text = int(match.group(1)), match.group(2).strip()
        name = re.match(r"([A-Za-z]+) \((\d{3})\)$", text)
        if name is not None:
            key = name.group(1)
            # The status in parentheses is the one the sdk maps to that class.
            assert ERRORS_BY_STATUS[int(name.group(2))].__name__ == key, text
        elif "cannot be reached" in text:
            key = UNREACHABLE
        elif "unreadable FILE" in text:
            key = USAGE
        else:
            key = text
        assert key not in codes, f"{key} documented twice"
        codes[key] = code
    return codes


@pytest.fixture(scope="module")
def exit_codes() -> dict[str, int]:
    script = Path(sys.executable).parent / "agent-server"
    result = subprocess.run(
        [str(script), "mcp", "list", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return parse_exit_codes(result.stdout)


def mcp(
    url: str | None,
    *args: str,
    key: str | None = KEY,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`agent-server mcp ARGS [--url URL] [--api-key KEY]` as a subprocess."""
    command = [sys.executable, "-m", "agent_server", "mcp", *args]
    if url is not None:
        command += ["--url", url]
    if key is not None:
        command += ["--api-key", key]
    return subprocess.run(
        command,
        input=stdin if stdin is not None else "",
        env=env if env is not None else cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The stdout of a command that must succeed; no secret value is ever printed."""
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    assert_no_secret(result)
    return result.stdout


def assert_no_secret(result: subprocess.CompletedProcess[str]) -> None:
    for secret in SECRETS:
        assert secret not in result.stdout
        assert secret not in result.stderr


def write_json(path: Path, value: Any) -> str:
    path.write_text(json.dumps(value))
    return str(path)


def raw_etag(server: ServerProcess, name: str) -> str:
    response = httpx.get(f"{server.url}{BASE}/{name}", headers={"X-Session-API-Key": KEY})
    assert response.status_code == 200, response.text
    return response.headers["etag"]


def raw_put(server: ServerProcess, name: str, config: dict[str, Any]) -> str:
    response = httpx.put(
        f"{server.url}{BASE}/{name}", json=config, headers={"X-Session-API-Key": KEY}
    )
    assert response.status_code in (200, 201), response.text
    return response.headers["etag"]


def table(stdout: str) -> tuple[list[str], dict[str, list[str]]]:
    """The header cells and the rows by name; every cell starts under its header's column."""
    lines = stdout.splitlines()
    header = lines[0].split()
    starts = [lines[0].index(cell) for cell in header]
    rows: dict[str, list[str]] = {}
    for line in lines[1:]:
        cells = [
            line[start:end].strip() for start, end in zip(starts, [*starts[1:], None], strict=True)
        ]
        for start in starts[1:]:
            assert line[start - 1 : start] in ("", " "), f"misaligned: {line!r}"
        rows[cells[0]] = cells
    return header, rows


def failed(result: subprocess.CompletedProcess[str], code: int, status: int | None = None) -> str:
    """The stderr of a command that must exit with `code`; nothing on stdout, no secret."""
    assert result.returncode == code, f"exit {result.returncode}: {result.stderr}"
    assert result.stdout == ""
    assert_no_secret(result)
    if status is not None:
        assert result.stderr.startswith(f"agent-server: {status}: "), result.stderr
    return result.stderr


Run = Callable[[], "subprocess.CompletedProcess[str]"]


def together(*runs: Run) -> list[subprocess.CompletedProcess[str]]:
    """Independent commands at the same time: each CLI start spends about a second importing."""
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        return list(pool.map(lambda run: run(), runs))


# --- exit codes -----------------------------------------------------------------------------


def test_help_documents_a_distinct_exit_code_per_error_class(exit_codes: dict[str, int]) -> None:
    classes = {cls.__name__ for status, cls in ERRORS_BY_STATUS.items() if status != 304}
    assert classes <= set(exit_codes), exit_codes
    assert {UNREACHABLE, USAGE} <= set(exit_codes), exit_codes
    assert exit_codes.get("done") == 0
    codes = list(exit_codes.values())
    assert len(codes) == len(set(codes)), exit_codes


def test_each_error_exits_with_the_code_documented_for_its_class(
    servers: Servers, exit_codes: dict[str, int], tmp_path: Path
) -> None:
    main, strict, acp = servers.main.url, servers.strict.url, servers.acp.url
    stdio_file = write_json(tmp_path / "stdio.json", STDIO)
    raw_put(servers.main, "cli-412", STDIO)
    env_without_key = cli_env(AGENT_SERVER_URL=main)
    cases: dict[str, tuple[str, int | None, Run]] = {
        "400": ("BadRequest", 400, partial(mcp, main, "get", "bad name")),
        "401": ("Unauthorized", 401, partial(mcp, None, "list", key=None, env=env_without_key)),
        "403": ("Forbidden", 403, partial(mcp, main, "disable", MANAGED)),
        "404": ("NotFound", 404, partial(mcp, main, "get", "cli-missing")),
        "409": ("Conflict", 409, partial(mcp, acp, "put", "cli-409", stdio_file)),
        "412": (
            "PreconditionFailed",
            412,
            partial(mcp, main, "put", "cli-412", stdio_file, "--create"),
        ),
        "422": (
            "ValidationFailed",
            None,  # --json: the error is JSON on stderr
            partial(mcp, main, "put", "cli-422", "-", "--json", stdin='{"command": ""}'),
        ),
        "428": ("PreconditionRequired", 428, partial(mcp, strict, "put", "cli-428", stdio_file)),
        "unreachable": (UNREACHABLE, None, partial(mcp, f"http://127.0.0.1:{free_port()}", "list")),
    }
    results = dict(zip(cases, together(*(run for _, _, run in cases.values())), strict=True))

    wrong = {
        case: (result.returncode, exit_codes[cases[case][0]], result.stderr)
        for case, result in results.items()
        if result.returncode != exit_codes[cases[case][0]]
    }
    assert not wrong, f"case: (exit code, documented code, stderr): {wrong}"
    assert len({r.returncode for r in results.values()}) == len(cases)
    for case, result in results.items():
        error_class, status, _ = cases[case]
        failed(result, exit_codes[error_class], status)
    assert "cannot reach" in results["unreachable"].stderr
    error = json.loads(results["422"].stderr)
    assert error["status"] == 422
    assert [e["loc"] for e in error["detail"]] == [["command"]]


# --- commands -------------------------------------------------------------------------------


def test_put_from_a_file_and_from_stdin_then_list_as_a_table_and_as_json(
    main_server: ServerProcess, tmp_path: Path
) -> None:
    url = main_server.url
    raw_put(main_server, "cli-off", {"command": "x", "enabled": False})
    files, remote_out = map(
        ok,
        together(
            partial(mcp, url, "put", "cli-files", write_json(tmp_path / "files.json", STDIO)),
            partial(mcp, url, "put", "cli-remote", "-", "--json", stdin=json.dumps(REMOTE)),
        ),
    )
    assert files.splitlines()[0] == f"cli-files  (user)  etag {raw_etag(main_server, 'cli-files')}"
    assert json.loads("\n".join(files.splitlines()[1:]))["env"] == {"TOKEN": MASK}
    remote = MCPServerResponse.model_validate_json(remote_out)
    assert remote.config["headers"] == {"X-Api-Key": MASK}
    assert remote.etag == raw_etag(main_server, "cli-remote")

    # The listing for scripts finds the server and the key in AGENT_SERVER_URL/_API_KEY.
    from_env = cli_env(AGENT_SERVER_URL=url, AGENT_SERVER_API_KEY=KEY)
    people, scripts = map(
        ok,
        together(
            partial(mcp, url, "list"), partial(mcp, None, "list", "--json", key=None, env=from_env)
        ),
    )
    header, rows = table(people)
    assert header == TABLE_HEADER
    assert rows["cli-files"] == ["cli-files", "user", "stdio", "-", "yes", ""]
    assert rows["cli-remote"] == ["cli-remote", "user", "remote", "sse", "yes", "Remote docs"]
    assert rows["cli-off"] == ["cli-off", "user", "stdio", "-", "no", ""]
    assert rows[MANAGED][:3] == [MANAGED, "managed", "stdio"]

    listing = MCPServerListResponse.model_validate_json(scripts)
    etags = {s.name: s.etag for s in listing.servers}
    assert etags["cli-files"] == raw_etag(main_server, "cli-files")
    assert etags["cli-remote"] == remote.etag
    assert {s.name: s.enabled for s in listing.servers}["cli-off"] is False


def test_get_shows_the_etag_and_the_redacted_config(main_server: ServerProcess) -> None:
    url = main_server.url
    etag = raw_put(main_server, "cli-get", STDIO)
    people, scripts = map(
        ok,
        together(
            partial(mcp, url, "get", "cli-get"), partial(mcp, url, "get", "cli-get", "--json")
        ),
    )
    lines = people.splitlines()
    assert lines[0] == f"cli-get  (user)  etag {etag}"
    assert json.loads("\n".join(lines[1:])) == {**STDIO, "env": {"TOKEN": MASK}}
    read = MCPServerResponse.model_validate_json(scripts)
    assert (read.name, read.source, read.etag) == ("cli-get", "user", etag)
    assert read.config["env"] == {"TOKEN": MASK}
    # The secret is stored and readable: only the default mode hides it.
    plain = httpx.get(
        f"{url}{BASE}/cli-get",
        headers={"X-Session-API-Key": KEY, "X-Expose-Secrets": "plaintext"},
    )
    assert plain.json()["config"]["env"] == {"TOKEN": SECRET}


def test_patch_and_put_with_if_match(
    main_server: ServerProcess, exit_codes: dict[str, int], tmp_path: Path
) -> None:
    url = main_server.url
    first = raw_put(main_server, "cli-patch", STDIO)
    patch = write_json(tmp_path / "patch.json", {"env": {"MORE": "x"}, "description": "d1"})
    out = ok(mcp(url, "patch", "cli-patch", patch, "--if-match", first, "--json"))
    patched = MCPServerResponse.model_validate_json(out)
    assert patched.config["env"] == {"TOKEN": MASK, "MORE": MASK}
    assert patched.config["description"] == "d1"
    assert patched.etag == raw_etag(main_server, "cli-patch") != first

    replacement = write_json(tmp_path / "replacement.json", {"command": "node", "env": {}})
    stale, replaced = together(
        partial(mcp, url, "patch", "cli-patch", "-", "--if-match", first, stdin='{"args": []}'),
        partial(mcp, url, "put", "cli-patch", replacement, "--if-match", patched.etag, "--json"),
    )
    failed(stale, exit_codes["PreconditionFailed"], 412)
    result = MCPServerResponse.model_validate_json(ok(replaced))
    assert result.config == {"command": "node", "env": {}}
    assert result.etag == raw_etag(main_server, "cli-patch")


def test_disable_enable_and_delete_with_if_match(
    main_server: ServerProcess, exit_codes: dict[str, int]
) -> None:
    url = main_server.url
    raw_put(main_server, "cli-toggle", STDIO)
    doomed = raw_put(main_server, "cli-delete", STDIO)

    disabled, stale_delete = together(
        partial(mcp, url, "disable", "cli-toggle"),
        partial(mcp, url, "delete", "cli-delete", "--if-match", '"stale"'),
    )
    lines = ok(disabled).splitlines()
    etag = raw_etag(main_server, "cli-toggle")
    assert lines[0] == f"cli-toggle  (user)  etag {etag}"
    assert json.loads("\n".join(lines[1:]))["enabled"] is False
    failed(stale_delete, exit_codes["PreconditionFailed"], 412)

    enabled, deleted = together(
        partial(mcp, url, "enable", "cli-toggle", "--if-match", etag, "--json"),
        partial(mcp, url, "delete", "cli-delete", "--if-match", doomed),
    )
    config = MCPServerResponse.model_validate_json(ok(enabled)).config
    assert config == {**STDIO, "env": {"TOKEN": MASK}, "enabled": True}
    assert ok(deleted) == "deleted cli-delete\n"
    gone = httpx.get(f"{url}{BASE}/cli-delete", headers={"X-Session-API-Key": KEY})
    assert gone.status_code == 404


def test_a_name_with_a_slash_exits_as_a_bad_request(
    main_server: ServerProcess, exit_codes: dict[str, int]
) -> None:
    """`mcp get NAME` reads the server NAME: a slash in it must not reach another route."""
    raw_put(main_server, "cli-slash", {"url": f"http://127.0.0.1:{free_port()}/mcp"})
    result = mcp(main_server.url, "get", "cli-slash/tools")
    assert "Traceback" not in result.stderr, result.stderr
    failed(result, exit_codes["BadRequest"], 400)
