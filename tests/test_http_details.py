"""The HTTP details generated clients and caches rely on, against a real server process:
RFC 9110 conditional requests on every route that takes them (list included, header fields sent
as several lines), Allow on 405, caching headers per expose mode, no-op writes that leave the
file alone, and null read as "absent" in server configs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from support import STORES, ServerProcess, cli_env, read_settings, serving, settings_bytes

BASE = "/api/settings/mcp-servers"
SECRET = "canary-http-details-71c2"
STDIO: dict[str, Any] = {"command": "uvx", "args": ["files"], "env": {"TOKEN": SECRET}}
MODES = ("redacted", "encrypted", "plaintext")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("http-details") / "home"


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[ServerProcess]:
    yield from serving(home, env=cli_env(AGENT_SERVER_SECRET_KEY=Fernet.generate_key().decode()))


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client(timeout=30) as client:
        yield client


def url(name: str) -> str:
    return f"{BASE}/{name}"


def create(http: httpx.Client, name: str, config: dict[str, Any] = STDIO) -> str:
    response = http.put(url(name), json=config, headers={"If-None-Match": "*"})
    assert response.status_code == 201, response.text
    return response.headers["etag"]


def file_version(home: Path) -> object:
    """(inode, mtime): every write renames a new file into place with a later mtime; in
    PostgreSQL, the document's version (every write bumps it) with the document."""
    if home in STORES:
        return settings_bytes(home)
    st = os.stat(home / "settings.json")
    return st.st_ino, st.st_mtime_ns


# --- conditional requests -----------------------------------------------------------------------


def test_if_match_on_the_list_is_412_when_it_fails_and_200_when_it_holds(
    http: httpx.Client,
) -> None:
    create(http, "list-if-match")
    listing = http.get(BASE)
    etag = listing.headers["etag"]
    assert listing.json()["etag"] == etag

    for header in ('"stale"', "W/" + etag):
        failed = http.get(BASE, headers={"If-Match": header})
        assert failed.status_code == 412, failed.text
        assert failed.headers["etag"] == etag
        assert isinstance(failed.json()["detail"], str)
    for header in (etag, "*", f'"stale", {etag}'):
        assert http.get(BASE, headers={"If-Match": header}).status_code == 200


def test_if_match_is_evaluated_before_if_none_match_on_reads(http: httpx.Client) -> None:
    """RFC 9110 13.2.2: a failing If-Match is 412 even where If-None-Match would give 304."""
    etag = create(http, "order-read")
    list_etag = http.get(BASE).headers["etag"]
    for path, current in ((url("order-read"), etag), (BASE, list_etag)):
        both = {"If-Match": '"stale"', "If-None-Match": current}
        assert http.get(path, headers=both).status_code == 412
        holds = {"If-Match": current, "If-None-Match": current}
        assert http.get(path, headers=holds).status_code == 304
        assert http.get(path, headers={"If-None-Match": "*"}).status_code == 304
        assert http.head(path, headers={"If-None-Match": current}).status_code == 304
        assert http.head(path, headers={"If-Match": '"stale"'}).status_code == 412


@pytest.mark.parametrize("target", ["item", "list"])
def test_a_field_sent_as_several_lines_is_one_list(http: httpx.Client, target: str) -> None:
    name = f"multi-line-{target}"
    create(http, name)
    path = url(name) if target == "item" else BASE
    etag = http.get(path).headers["etag"]

    not_modified = http.get(path, headers=[("If-None-Match", '"a"'), ("If-None-Match", etag)])
    assert not_modified.status_code == 304
    matched = http.get(path, headers=[("If-Match", '"a"'), ("If-Match", etag)])
    assert matched.status_code == 200
    star = http.get(path, headers=[("If-None-Match", '"a"'), ("If-None-Match", "*")])
    assert star.status_code == 304


def test_writes_read_every_line_of_if_match_and_if_none_match(http: httpx.Client) -> None:
    etag = create(http, "multi-line-write")
    second_line_matches = [("If-Match", '"other"'), ("If-Match", etag)]
    change = {"description": "two lines"}
    patched = http.patch(url("multi-line-write"), json=change, headers=second_line_matches)
    assert patched.status_code == 200, patched.text

    star_on_second_line = [("If-None-Match", '"other"'), ("If-None-Match", "*")]
    again = http.put(url("multi-line-write"), json=STDIO, headers=star_on_second_line)
    assert again.status_code == 412
    assert again.headers["etag"] == patched.headers["etag"]


def test_preconditions_are_ignored_where_the_answer_would_be_404(http: httpx.Client) -> None:
    """RFC 9110 13.2.1: a request that fails before its preconditions answers that failure."""
    for headers in ({"If-Match": "*"}, {"If-None-Match": "*"}, {"If-Match": '"x"'}):
        assert http.get(url("never-made"), headers=headers).status_code == 404
        assert http.delete(url("never-made"), headers=headers).status_code == 404
        assert http.patch(url("never-made"), json={}, headers=headers).status_code == 404


# --- Allow on 405 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "method", "allowed"),
    [
        (url("any"), "POST", {"GET", "HEAD", "PUT", "PATCH", "DELETE"}),
        (BASE, "DELETE", {"GET", "HEAD"}),
        ("/api/settings", "PUT", {"GET", "HEAD", "PATCH"}),
        ("/api/mcp/test", "GET", {"POST"}),
    ],
)
def test_405_lists_every_method_of_the_path(
    http: httpx.Client, path: str, method: str, allowed: set[str]
) -> None:
    response = http.request(method, path)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed
    assert isinstance(response.json()["detail"], str)


# --- caching headers by expose mode -------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_every_read_varies_on_the_expose_header_and_secret_modes_are_no_store(
    http: httpx.Client, mode: str
) -> None:
    create(http, f"cache-{mode}")
    headers = {"X-Expose-Secrets": mode}
    for path in (url(f"cache-{mode}"), "/api/settings", BASE):
        response = http.get(path, headers=headers)
        assert response.status_code == 200
        assert "X-Expose-Secrets" in response.headers["vary"]
        expected = "no-cache" if mode == "redacted" or path == BASE else "no-store"
        assert response.headers["cache-control"] == expected


def test_a_304_carries_the_same_caching_headers_as_the_200(http: httpx.Client) -> None:
    etag = create(http, "cache-304")
    for path, tag in ((url("cache-304"), etag), (BASE, http.get(BASE).headers["etag"])):
        full = http.get(path)
        short = http.get(path, headers={"If-None-Match": tag})
        assert short.status_code == 304
        for header in ("etag", "vary", "cache-control"):
            assert short.headers[header] == full.headers[header]


@pytest.mark.parametrize("mode", ["encrypted", "plaintext"])
def test_secret_reads_answer_the_body_never_304_and_keep_the_etag(
    http: httpx.Client, mode: str
) -> None:
    name = f"no-304-{mode}"
    etag = create(http, name)
    headers = {"X-Expose-Secrets": mode}
    for condition in (etag, "*", f'"x", {etag}'):
        response = http.get(url(name), headers={**headers, "If-None-Match": condition})
        assert response.status_code == 200
        assert response.headers["etag"] == response.json()["etag"] == etag
        if mode == "plaintext":
            assert response.json()["config"]["env"] == {"TOKEN": SECRET}
    # If-Match still guards the read, and the tag it gave still guards the next write.
    failed = http.get(url(name), headers={**headers, "If-Match": '"stale"'})
    assert failed.status_code == 412
    read = http.get(url(name), headers=headers)
    guarded = {"If-Match": read.headers["etag"]}
    write = http.patch(url(name), json={"description": "x"}, headers=guarded)
    assert write.status_code == 200


# --- no-op writes -------------------------------------------------------------------------------


def test_writing_back_the_redacted_settings_document_leaves_the_file_alone(
    http: httpx.Client, home: Path
) -> None:
    create(http, "noop-global")
    changed = http.patch(
        "/api/settings",
        json={
            "agent_settings_diff": {"llm": {"model": "m", "api_key": SECRET}},
            "misc_settings_diff": {"theme": "dark", "nested": {"a": [1, 2]}},
        },
    )
    assert changed.status_code == 200
    before = file_version(home)
    redacted = http.get("/api/settings").json()

    for body in (
        {
            "agent_settings_diff": redacted["agent_settings"],
            "misc_settings_diff": redacted["misc_settings"],
        },
        {"agent_settings_diff": redacted["agent_settings"]},
        {"misc_settings_diff": {"theme": "dark"}},
        {"agent_settings_diff": {"llm": {"api_key": SECRET}}},
    ):
        response = http.patch("/api/settings", json=body)
        assert response.status_code == 200, response.text
        assert response.json() == redacted
        assert file_version(home) == before, body

    moved = http.patch("/api/settings", json={"misc_settings_diff": {"theme": "light"}})
    assert moved.status_code == 200
    assert file_version(home) != before


def test_a_per_server_write_that_changes_nothing_leaves_the_file_alone(
    http: httpx.Client, home: Path
) -> None:
    etag = create(http, "noop-server")
    before = file_version(home)
    redacted = http.get(url("noop-server")).json()["config"]
    for method, body in (("PUT", STDIO), ("PUT", redacted), ("PATCH", {"args": ["files"]})):
        response = http.request(method, url("noop-server"), json=body, headers={"If-Match": etag})
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == etag
        assert file_version(home) == before, (method, body)


# --- null means absent --------------------------------------------------------------------------


def test_nulls_in_a_server_config_are_not_stored(http: httpx.Client, home: Path) -> None:
    padded = {
        **STDIO,
        "transport": None,
        "cwd": None,
        "timeout": None,
        "keep_alive": None,
        "description": None,
        "enabled": None,
        "custom": None,
    }
    create(http, "padded", padded)
    stored = read_settings(home)["agent_settings"]["mcp_config"]["mcpServers"]["padded"]
    assert set(stored) == {"command", "args", "env"}
    response = http.get(url("padded"), headers={"X-Expose-Secrets": "plaintext"})
    assert response.json()["config"] == STDIO
    summary = next(s for s in http.get(BASE).json()["servers"] if s["name"] == "padded")
    assert summary["enabled"] is True

    tested = http.post("/api/mcp/test", json={"config": {"command": "", "cwd": None}})
    assert tested.status_code == 422
    assert [e["loc"] for e in tested.json()["detail"]] == [["config", "command"]]
