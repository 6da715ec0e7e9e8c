"""Browsing registries: pages through the fake registry, one server with its install plans, the
cache, and registries that fail, hang, answer garbage or too much, or want secret headers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from conftest import FakeRegistry
from starlette.testclient import TestClient
from support import ServerProcess, cli_env, serving

REGISTRIES = "/api/settings/mcp-registries"
KEY = "canary-registry-key-31b7"  # what the fake's `keyed` registry wants


def servers_url(rid: str) -> str:
    return f"/api/mcp/registries/{rid}/servers"


def add(client: Any, rid: str, url: str, **extra: Any) -> None:
    response = client.put(f"{REGISTRIES}/{rid}", json={"url": url, **extra})
    assert response.status_code in (200, 201), response.text


@pytest.fixture
def browsing(client: TestClient, fake_registry: FakeRegistry) -> TestClient:
    for mode in ("main", "bulk", "snake"):
        add(client, mode, fake_registry.url(mode))
    return client


def all_pages(client: TestClient, rid: str, limit: int) -> tuple[list[str], int]:
    """Every server name over every page, and the number of pages."""
    names: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        page = client.get(servers_url(rid), params=params)
        assert page.status_code == 200, page.text
        pages += 1
        names += [server["name"] for server in page.json()["servers"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return names, pages


@pytest.mark.parametrize("rid", ["bulk", "snake"])
def test_paging_through_250_servers_returns_each_active_one_once(
    browsing: TestClient, rid: str
) -> None:
    names, pages = all_pages(browsing, rid, limit=100)

    assert sorted(names) == [f"io.example.bulk/server-{i:03d}" for i in range(250)]
    assert len(names) == len(set(names))
    assert pages == 3


def test_a_listing_says_what_each_server_offers(browsing: TestClient) -> None:
    servers = {s["name"]: s for s in browsing.get(servers_url("main")).json()["servers"]}

    remote = servers["io.github.user/remote-weather"]
    assert remote["title"] == "Remote Weather"
    assert remote["icons"][0]["src"] == "https://example.com/icon.png"
    assert remote["repository"]["url"] == "https://github.com/modelcontextprotocol/servers"
    assert (remote["packages"], remote["remotes"]) == ([], ["streamable-http"])
    assert remote["connector_id"] == "mcp::main::io.github.user/remote-weather"
    assert remote["installed_as"] is None
    assert servers["io.example/echo"]["packages"] == ["npm"]
    assert servers["io.github.user/weather"]["version"] == "1.0.2"
    # Deprecated and deleted entries are left out, and so is one that breaks the schema.
    for name in ("io.example/old", "io.example/gone", "io.example/options"):
        assert name not in servers
    searched = browsing.get(servers_url("main"), params={"search": "oci"}).json()["servers"]
    assert [s["name"] for s in searched] == ["io.example/oci-db"]


def test_one_server_shows_its_plans_with_inputs(browsing: TestClient) -> None:
    shown = browsing.get(servers_url("main") + "/" + quote("io.example/npm-files", safe=""))

    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["server"]["name"] == "io.example/npm-files"
    (plan,) = body["plans"]
    assert plan["choose"] == {"package": 0}
    assert plan["config"]["command"] == "npx"
    assert plan["config"]["args"] == [
        "-y",
        "@example/files-mcp@1.2.0",
        "serve",
        "--mode",
        "read",
        "{root}",
    ]
    inputs = {i["name"]: i for i in plan["inputs"]}
    assert inputs["FILES_TOKEN"]["is_secret"] and inputs["FILES_TOKEN"]["is_required"]
    assert inputs["mode"]["choices"] == ["read", "write"]
    assert inputs["LOG_LEVEL"]["default"] == "info"
    # The name's slash may also come unencoded; a name that is not namespace/name is a 400.
    assert browsing.get(servers_url("main") + "/io.example/npm-files").status_code == 200
    assert browsing.get(servers_url("main") + "/no-slash").status_code == 400
    missing = browsing.get(servers_url("main") + "/io.example%2Fnone")
    assert missing.status_code == 404
    assert "io.example/none" in missing.json()["detail"]
    bundle = browsing.get(servers_url("main") + "/io.example%2Fbundle-only").json()["plans"]
    assert bundle[0]["supported"] is False and "mcpb" in bundle[0]["problem"]
    broken = browsing.get(servers_url("main") + "/io.example%2Foptions")
    assert broken.status_code == 502
    assert "not usable" in broken.json()["detail"]
    assert "packages.0.identifier" in broken.json()["detail"]


def test_answers_are_cached_per_registry_and_query(
    make_client: Callable[..., TestClient], fake_registry: FakeRegistry
) -> None:
    cached = make_client()
    add(cached, "main", fake_registry.url("main"))
    before = fake_registry.hits("main")
    for _ in range(3):
        assert cached.get(servers_url("main"), params={"search": "echo"}).status_code == 200
    assert fake_registry.hits("main") == before + 1
    cached.get(servers_url("main"), params={"search": "oci"})
    assert fake_registry.hits("main") == before + 2
    # A new header is a new registry config: its answers are not those read without it.
    cached.patch(f"{REGISTRIES}/main", json={"headers": {"X-Other": "1"}})
    cached.get(servers_url("main"), params={"search": "echo"})
    assert fake_registry.hits("main") == before + 3

    uncached = make_client(registry_ttl=0)
    before = fake_registry.hits("main")
    for _ in range(2):
        uncached.get(servers_url("main"), params={"search": "echo"})
    assert fake_registry.hits("main") == before + 2


def test_unknown_disabled_or_misused_registries_are_clear_4xx(browsing: TestClient) -> None:
    assert browsing.get(servers_url("nowhere")).status_code == 404
    assert browsing.get(servers_url("Bad")).status_code == 400
    assert browsing.get(servers_url("main"), params={"limit": "0"}).status_code == 400
    assert browsing.get(servers_url("main"), params={"limit": "101"}).status_code == 400
    browsing.patch(f"{REGISTRIES}/main", json={"enabled": False})
    disabled = browsing.get(servers_url("main"))
    assert disabled.status_code == 409
    assert "disabled" in disabled.json()["detail"]


# --- registries that fail, against a real server process ---------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("browse") / "home"
    yield from serving(home, "--registry-timeout", "1", env=cli_env())


FAILURES = {
    "error": (502, "HTTP 500"),
    "garbage": (502, "not JSON"),
    "notlist": (502, "answered"),
    "huge": (502, "10 MiB"),
    "hang": (504, "within 1 s"),
}


def test_failing_registries_answer_502_or_504_and_leave_the_service_unharmed(
    server: ServerProcess, fake_registry: FakeRegistry
) -> None:
    with server.client(timeout=60) as http:
        for mode in FAILURES:
            headers = {"X-Registry-Key": KEY}
            add(http, mode, fake_registry.url(mode), headers=headers)
        for mode, (status, words) in FAILURES.items():
            for path in ("", "/io.example%2Fecho"):
                response = http.get(servers_url(mode) + path)
                assert response.status_code == status, (mode, response.text)
                assert words in response.json()["detail"], mode
                assert repr(mode) in response.json()["detail"]
                assert KEY not in response.text
            install = http.post(f"/api/mcp/registries/{mode}/install", json={"server": "a/b"})
            assert install.status_code == status, (mode, install.text)
        assert http.get("/health").status_code == 200
        add(http, "main", fake_registry.url("main"))
        assert http.get(servers_url("main")).status_code == 200
    assert KEY not in server.log()


def test_registry_headers_are_sent_but_never_shown(
    server: ServerProcess, fake_registry: FakeRegistry
) -> None:
    with server.client(timeout=60) as http:
        add(http, "keyed", fake_registry.url("keyed"))
        refused = http.get(servers_url("keyed"))
        assert refused.status_code == 502
        assert "HTTP 401" in refused.json()["detail"]

        add(http, "keyed", fake_registry.url("keyed"), headers={"X-Registry-Key": KEY})
        answered = http.get(servers_url("keyed"))
        assert answered.status_code == 200
        shown = http.get(servers_url("keyed") + "/io.example%2Fecho")
        assert shown.status_code == 200
        texts = [answered.text, shown.text, http.get(REGISTRIES).text]
        texts += [http.get(f"{REGISTRIES}/keyed").text]
        texts += [json.dumps(dict(r.headers)) for r in (answered, shown)]
        for text in texts:
            assert KEY not in text
    assert KEY not in server.log()
    assert KEY not in (Path(str(server.home)) / "settings.json").read_text()
