"""The browser guard through a real server process: Host (421), Origin and Sec-Fetch-Site
(403), and a JSON Content-Type on every body (415), checked before auth and before any route,
on every path but /health."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import ServerProcess, cli_env, serving, settings_bytes

SERVERS = "/api/settings/mcp-servers"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("guard")
    env = cli_env(AGENT_SERVER_ALLOWED_ORIGINS="https://ide.example, http://localhost:3000")
    yield from serving(root / "home", "--allowed-hosts", "agents.internal,box:8443", env=env)


def get(server: ServerProcess, path: str, **headers: str) -> httpx.Response:
    return httpx.get(server.url + path, headers={**server.headers, **headers}, timeout=10)


@pytest.mark.parametrize("path", ["/api/settings", SERVERS, "/openapi.json", "/no/such/path"])
@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:80", "127.0.0.1.evil.example", "localhost.", "box:9000"]
)
def test_a_host_this_server_does_not_answer_to_is_421(
    server: ServerProcess, path: str, host: str
) -> None:
    response = get(server, path, Host=host)
    assert response.status_code == 421, response.text
    detail = response.json()["detail"]
    assert "--allowed-hosts" in detail and "AGENT_SERVER_ALLOWED_HOSTS" in detail


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:1", "127.0.0.1", "[::1]:8000", "LOCALHOST:80", "box:8443"]
)
def test_loopback_names_and_allowed_hosts_pass(server: ServerProcess, host: str) -> None:
    assert get(server, "/api/settings", Host=host).status_code == 200
    assert get(server, "/api/settings", Host="agents.internal:1234").status_code == 200


def test_health_answers_whatever_the_host_and_origin(server: ServerProcess) -> None:
    response = get(server, "/health", Host="10.1.2.3", Origin="https://evil.example")
    assert response.status_code == 200


def test_the_host_check_comes_before_the_origin_check_and_both_before_auth(
    server: ServerProcess,
) -> None:
    both = httpx.get(
        server.url + "/api/settings",
        headers={"Host": "evil.example", "Origin": "https://evil.example"},
    )
    assert both.status_code == 421
    no_key = httpx.get(server.url + "/api/settings", headers={"Origin": "https://evil.example"})
    assert no_key.status_code == 403  # refused as a cross-site request, not asked for a key


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://127.0.0.1:1", "https://ide.example:444"]
)
def test_a_foreign_origin_is_403(server: ServerProcess, origin: str) -> None:
    response = get(server, "/api/settings", Origin=origin)
    assert response.status_code == 403
    assert "--allowed-origins" in response.json()["detail"]


def test_the_own_origin_and_allowed_origins_pass(server: ServerProcess) -> None:
    own = f"http://127.0.0.1:{server.port}"
    for origin in (own, "https://ide.example", "https://IDE.example:443", "http://localhost:3000"):
        assert get(server, "/api/settings", Origin=origin).status_code == 200, origin
    for site in ("same-origin", "none"):
        assert get(server, "/api/settings", **{"Sec-Fetch-Site": site}).status_code == 200


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_cross_site_browser_request_without_an_allowed_origin_is_403(
    server: ServerProcess, site: str
) -> None:
    for path in ("/api/mcp/tools", "/api/settings"):
        response = get(server, path, **{"Sec-Fetch-Site": site})
        assert response.status_code == 403
    allowed = get(server, "/api/settings", Origin="https://ide.example", **{"Sec-Fetch-Site": site})
    assert allowed.status_code == 200


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_does_not_say_json_is_415_and_runs_nothing(
    server: ServerProcess, tmp_path: Path, content_type: str | None
) -> None:
    marker = tmp_path / "ran"
    config = {"command": sys.executable, "args": ["-c", f"open({str(marker)!r}, 'w')"]}
    headers = dict(server.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    assert server.home is not None
    seeded = httpx.patch(
        server.url + "/api/settings",
        json={"misc_settings_diff": {"seed": 1}},
        headers=server.headers,
    )
    assert seeded.status_code == 200
    before = settings_bytes(server.home)
    for method, path, body in (
        ("POST", "/api/mcp/test", {"config": config}),
        ("PUT", f"{SERVERS}/x", config),
        ("PATCH", "/api/settings", {"misc_settings_diff": {"a": 1}}),
    ):
        response = httpx.request(
            method, server.url + path, content=json.dumps(body), headers=headers, timeout=30
        )
        assert response.status_code == 415, response.text
        assert "Content-Type: application/json" in response.json()["detail"]
    assert not marker.exists()
    assert settings_bytes(server.home) == before


def test_the_bind_address_is_a_host_it_answers_to(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "home", "--host", "127.0.0.2", env=cli_env())
    server.url = f"http://127.0.0.2:{server.port}"
    try:
        server.wait_ready()
        assert get(server, "/api/settings", Host=f"127.0.0.2:{server.port}").status_code == 200
        assert get(server, "/api/settings", Host="127.0.0.3").status_code == 421
    finally:
        server.stop()
