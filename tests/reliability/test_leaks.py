"""Leaks: canary secrets never reach a log, a redacted response, an ETag or the file on disk.

A real server process (session keys, --require-preconditions, a managed server whose header comes
from the environment) holds canary secrets in the LLM key, a server's env, headers and auth. A
scripted pass then goes over every settings route, reads in every expose mode and answers of
every error class, sending canaries in requests that fail as well, and runs the live checks
against a loopback port nobody listens on and a local child that prints its secret. Afterwards
no canary may be in the server's log (plaintext reads log a warning, which must not hold the
value), in any response read without `X-Expose-Secrets: plaintext` (bodies and headers), in any
ETag, or in any file of the home. Every secret here, and every value sent in a request that must
fail, starts with "canary-".
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import MASK, ServerProcess, cli_env, free_port

CANARY = "canary-"
SESSION_KEY = "canary-session-key-5b1e"
LLM_KEY = "canary-llm-key-8c2d"
ENV_TOKEN = "canary-env-token-1f9a"
HEADER_VALUE = "canary-header-value-77e0"
AUTH_TOKEN = "canary-auth-token-3d4c"
MANAGED_TOKEN = "canary-managed-token-a6b5"
ECHO_TOKEN = "canary-echo-token-c3e1"
PROBE_TIMEOUT_S = 5
# A stdio "MCP server" that prints its secret on stdout (where MCP messages go) and on stderr,
# and exits.
ECHO = {
    "command": sys.executable,
    "args": [
        "-c",
        "import os, sys; token = os.environ['LEAK_TOKEN']; print(token, flush=True); "
        "print(token, file=sys.stderr, flush=True)",
    ],
    "env": {"LEAK_TOKEN": ECHO_TOKEN},
}
SETTINGS = "/api/settings"
SERVERS = "/api/settings/mcp-servers"
ETAG = re.compile(r'"[A-Za-z0-9_-]{32}"')
BIG = 1024 * 1024 + 4096
# Trace is the most a server logs: uvicorn's ASGI messages on top of the access log.
FLAGS = ("--require-preconditions", "--log-level", "trace")


@dataclass
class Exchange:
    label: str
    response: httpx.Response
    plaintext: bool  # read with X-Expose-Secrets: plaintext: its body may hold secrets


class Pass:
    """Sends the scripted requests; each must answer the status the script expects."""

    def __init__(self, server: ServerProcess) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=30)  # sends its own keys
        self.exchanges: list[Exchange] = []

    def __call__(
        self,
        method: str,
        path: str,
        expect: int,
        *,
        headers: dict[str, str] | None = None,
        key: str | None = SESSION_KEY,
        **kwargs: Any,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if key is not None:
            sent["X-Session-API-Key"] = key
        response = self.http.request(method, path, headers=sent, **kwargs)
        label = f"{method} {path} {sorted(sent.items())}"
        assert response.status_code == expect, f"{label}: {response.status_code} {response.text}"
        plaintext = sent.get("X-Expose-Secrets", "").lower() == "plaintext"
        self.exchanges.append(Exchange(label, response, plaintext))
        return response

    def etag(self, name: str) -> str:
        return self("GET", f"{SERVERS}/{name}", 200).headers["etag"]


def scripted_pass(call: Pass, closed_url: str) -> None:
    seed = {
        "llm": {"model": "m", "api_key": LLM_KEY},
        "mcp_config": {"mcpServers": {"leak-stdio": {"command": "c", "env": {"TOKEN": ENV_TOKEN}}}},
    }
    call("PATCH", SETTINGS, 200, json={"agent_settings_diff": seed})
    remote = {
        "url": f"{closed_url}/mcp",
        "headers": {"X-Api-Key": HEADER_VALUE},
        "auth": AUTH_TOKEN,
    }
    call("PUT", f"{SERVERS}/leak-remote", 201, json=remote, headers={"If-None-Match": "*"})
    call("PUT", f"{SERVERS}/leak-echo", 201, json=ECHO, headers={"If-None-Match": "*"})

    # The whole document in every expose mode, and written back from the redacted and
    # encrypted reads (with the expose header on the PATCH too).
    reads: dict[str, httpx.Response] = {}
    for mode in ("redacted", "encrypted", "plaintext", "REDACTED"):
        reads[mode] = call("GET", SETTINGS, 200, headers={"X-Expose-Secrets": mode})
    call("GET", SETTINGS, 200)
    call("GET", SETTINGS, 400, headers={"X-Expose-Secrets": "canary-expose-mode"})
    for mode in ("redacted", "encrypted"):
        agent = reads[mode].json()["agent_settings"]
        call(
            "PATCH",
            SETTINGS,
            200,
            json={"agent_settings_diff": agent, "misc_settings_diff": {"theme": "dark"}},
            headers={"X-Expose-Secrets": mode},
        )

    # The list, and each server in every expose mode, with conditional reads.
    listing = call("GET", SERVERS, 200)
    call("GET", SERVERS, 304, headers={"If-None-Match": listing.headers["etag"]})
    for name in ("leak-stdio", "leak-remote", "managed-docs"):
        for mode in ("redacted", "encrypted", "plaintext"):
            call("GET", f"{SERVERS}/{name}", 200, headers={"X-Expose-Secrets": mode})
        etag = call("GET", f"{SERVERS}/{name}", 200).headers["etag"]
        call("GET", f"{SERVERS}/{name}", 304, headers={"If-None-Match": etag})
        call("GET", f"{SERVERS}/{name}", 412, headers={"If-Match": '"canary-wrong-etag"'})
    call("GET", f"{SERVERS}/leak-remote", 400, headers={"X-Expose-Secrets": "canary-mode"})

    # Writes that succeed: a redacted read written back whole, a new secret, a merge patch.
    redacted = call("GET", f"{SERVERS}/leak-remote", 200).json()["config"]
    assert redacted["auth"] == MASK
    current = {"If-Match": call.etag("leak-remote")}
    call("PUT", f"{SERVERS}/leak-remote", 200, json=redacted, headers=current)
    replaced = {**redacted, "auth": "canary-auth-token-2"}
    call("PUT", f"{SERVERS}/leak-remote", 200, json=replaced, headers=current)
    patch = {"env": {"SECOND": "canary-env-second"}}
    call("PATCH", f"{SERVERS}/leak-stdio", 200, json=patch, headers={"If-Match": "*"})
    scratch = {"command": "c", "env": {"T": "canary-env-scratch"}}
    call("PUT", f"{SERVERS}/leak-scratch", 201, json=scratch, headers={"If-None-Match": "*"})
    call("DELETE", f"{SERVERS}/leak-scratch", 204, headers={"If-Match": "*"})

    # The live checks, on a loopback port nobody listens on and a child that prints its secret
    # on stdout and stderr: their errors and logs must not carry the secrets either.
    probes = f"?timeout={PROBE_TIMEOUT_S}"
    for name in ("leak-echo", "leak-remote", "leak-stdio"):
        call("GET", f"{SERVERS}/{name}/tools{probes}", 200)
    call("GET", f"{SERVERS}/leak-remote/health{probes}", 200)
    call("GET", f"{SERVERS}/leak-echo/health{probes}", 200)
    call("GET", f"/api/mcp/tools{probes}&refresh=1", 200)
    masked_echo = {**ECHO, "env": {"LEAK_TOKEN": MASK}}
    test = {"name": "leak-echo", "config": masked_echo, "timeout": PROBE_TIMEOUT_S}
    call("POST", "/api/mcp/test", 200, json=test)
    candidate = {"url": f"{closed_url}/new", "auth": "canary-probe-candidate"}
    call("POST", "/api/mcp/test", 200, json={"config": candidate, "timeout": PROBE_TIMEOUT_S})
    wrong = {"config": {"url": "canary-probe-bad-url", "auth": "canary-probe-422"}}
    call("POST", "/api/mcp/test", 422, json=wrong)
    call("POST", "/api/mcp/test", 401, key=None, json={"config": candidate})

    # 400: malformed JSON, a body that is no object, a bad name, an unknown top-level key.
    broken = b'{"env": {"TOKEN": "canary-malformed-json"'
    json_type = {"Content-Type": "application/json"}
    call("PATCH", SETTINGS, 400, content=broken, headers=json_type)
    stale_free = {"If-Match": "*", **json_type}
    call("PATCH", f"{SERVERS}/leak-stdio", 400, content=broken, headers=stale_free)
    call("PUT", f"{SERVERS}/leak-stdio", 400, content=b'["canary-array-body"]', headers=stale_free)
    call("PUT", f"{SERVERS}/bad name", 400, json={"command": "c", "env": {"T": "canary-name"}})
    typo = {"agent_settings": {"llm": {"api_key": "canary-typo-key"}}}
    call("PATCH", SETTINGS, 400, json=typo)
    # 401: no session key, a wrong one, on reads and writes.
    call("GET", SETTINGS, 401, key=None)
    call("GET", f"{SERVERS}/leak-remote", 401, key="canary-wrong-session-key")
    call(
        "PUT",
        f"{SERVERS}/leak-remote",
        401,
        key=None,
        json={"url": "https://x", "auth": AUTH_TOKEN},
    )
    call("PATCH", SETTINGS, 401, key="canary-wrong-session-2", json={"misc_settings_diff": {}})
    # 403: a write to the managed server.
    managed_write = {"url": "https://m", "auth": "canary-managed-write"}
    call("PUT", f"{SERVERS}/managed-docs", 403, json=managed_write, headers={"If-Match": "*"})
    # 404: a missing server, read and written.
    call("GET", f"{SERVERS}/leak-missing", 404)
    call("PATCH", f"{SERVERS}/leak-missing", 404, json=patch, headers={"If-Match": "*"})
    call("DELETE", f"{SERVERS}/leak-missing", 404, headers={"If-Match": "*"})
    # 412: a stale If-Match, and a create-only PUT over an existing server.
    stale = {"If-Match": current["If-Match"]}
    call("PUT", f"{SERVERS}/leak-remote", 412, json=remote, headers=stale)
    call("PATCH", f"{SERVERS}/leak-stdio", 412, json=patch, headers={"If-None-Match": "*"})
    # 413: bodies over 1 MiB that carry a canary.
    big = json.dumps({"env": {"BIG": "canary-big-" + "x" * BIG}})
    call("PATCH", f"{SERVERS}/leak-stdio", 413, content=big, headers=stale_free)
    big_settings = json.dumps({"misc_settings_diff": {"k": "canary-big-" + "x" * BIG}})
    call("PATCH", SETTINGS, 413, content=big_settings, headers=json_type)
    # 415: a body that is not JSON.
    text = {"Content-Type": "text/plain", "If-Match": "*"}
    call("PUT", f"{SERVERS}/leak-stdio", 415, content="canary-text-body", headers=text)
    call("PATCH", SETTINGS, 415, content="canary-text-body", headers=text)
    # 422: invalid fields next to secrets, a mask with nothing stored behind it.
    invalid = [
        {"url": "canary-not-a-url", "headers": {"X": "canary-422-header"}},
        {"command": "c", "enabled": "canary-422-enabled", "env": {"T": "canary-422-env"}},
        {"command": "c", "env": {"T": 7, "U": "canary-422-env-2"}},
        {"command": "c", "env": {"NEW": MASK, "U": "canary-422-env-3"}},
        {"url": "https://x", "auth": "canary-422-auth", "headers": {"Authorization": "canary-"}},
    ]
    for body in invalid:
        call("PUT", f"{SERVERS}/leak-stdio", 422, json=body, headers={"If-Match": "*"})
    bad_llm = {"llm": {"api_key": "canary-422-llm", "model": 5}}
    call("PATCH", SETTINGS, 422, json={"agent_settings_diff": bad_llm})
    bad_server = {"mcp_config": {"mcpServers": {"x": {"url": "canary-422-url", "auth": "canary-"}}}}
    call("PATCH", SETTINGS, 422, json={"agent_settings_diff": bad_server})
    # 428: server writes without a precondition.
    call("PUT", f"{SERVERS}/leak-new", 428, json={"command": "c", "env": {"T": "canary-428"}})
    call("PATCH", f"{SERVERS}/leak-remote", 428, json={"auth": "canary-428-auth"})
    call("DELETE", f"{SERVERS}/leak-remote", 428)
    # 409: MCP servers of an acp agent (last: switching kinds drops the servers).
    call("PATCH", SETTINGS, 200, json={"agent_settings_diff": {"agent_kind": "acp"}})
    acp_write = {"command": "c", "env": {"T": "canary-409"}}
    call("PUT", f"{SERVERS}/leak-stdio", 409, json=acp_write, headers={"If-None-Match": "*"})
    call("GET", SETTINGS, 200)
    back = {"agent_kind": "openhands", "llm": {"api_key": "canary-llm-after-acp"}}
    call("PATCH", SETTINGS, 200, json={"agent_settings_diff": back})


@pytest.fixture
def closed_url() -> str:
    """A loopback address nobody listens on: the remote servers' URL, so probes stay local."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def leak_server(
    home: Path,
    tmp_path: Path,
    secret_key: str,
    closed_url: str,
    start_server: Callable[..., ServerProcess],
) -> ServerProcess:
    managed = tmp_path / "managed.json"
    docs = {
        "url": f"{closed_url}/docs",
        "headers": {"Authorization": "Bearer ${env:LEAK_MANAGED_TOKEN}"},
    }
    managed.write_text(json.dumps({"mcpServers": {"managed-docs": docs}}))
    env = cli_env(
        AGENT_SERVER_SECRET_KEY=secret_key,
        AGENT_SERVER_SESSION_API_KEYS=SESSION_KEY,
        LEAK_MANAGED_TOKEN=MANAGED_TOKEN,
    )
    return start_server(home, *FLAGS, "--managed-config", str(managed), env=env)


def test_no_canary_secret_reaches_logs_redacted_responses_etags_or_files(
    home: Path, leak_server: ServerProcess, closed_url: str
) -> None:
    call = Pass(leak_server)
    try:
        scripted_pass(call, closed_url)
    finally:
        call.http.close()
    leak_server.stop()  # flushes and closes the log, with the shutdown lines in it
    log = leak_server.log_path.read_text(errors="replace")

    statuses = {exchange.response.status_code for exchange in call.exchanges}
    assert statuses >= {200, 201, 204, 304, 400, 401, 403, 404, 409, 412, 413, 415, 422, 428}

    # The secrets were really there to leak: plaintext reads return them, but never a
    # managed server's, which leaves the service only towards its own server.
    plaintext = " ".join(e.response.text for e in call.exchanges if e.plaintext)
    for secret in (LLM_KEY, ENV_TOKEN, HEADER_VALUE, AUTH_TOKEN, ECHO_TOKEN):
        assert secret in plaintext
    assert MANAGED_TOKEN not in plaintext

    # The log was captured, plaintext reads were logged, and no canary is in it.
    assert "served the settings document with secrets in plaintext" in log
    assert '"GET /api/settings HTTP/1.1" 200' in log
    assert CANARY not in log, [line for line in log.splitlines() if CANARY in line]

    etags: list[str] = []
    for exchange in call.exchanges:
        headers = exchange.response.headers
        if "etag" in headers:
            etags.append(headers["etag"])
        for name, value in headers.items():
            assert CANARY not in value, f"{exchange.label}: header {name}: {value}"
        if not exchange.plaintext:
            assert CANARY not in exchange.response.text, f"{exchange.label}: body"
            body = exchange.response.json() if exchange.response.content else {}
            etags += [s["etag"] for s in body.get("servers", []) if "etag" in s]
            if "etag" in body:
                etags.append(body["etag"])
    assert len(etags) > 20
    for etag in etags:
        assert ETAG.fullmatch(etag), etag

    # No file in the home holds a canary: settings.json, the lock, the ETag key, temp files.
    files = [path for path in home.rglob("*") if path.is_file()]
    assert home / "settings.json" in files
    for path in files:
        assert CANARY.encode() not in path.read_bytes(), path.name
