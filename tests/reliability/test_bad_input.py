"""Bad input: every malformed request to a write route is a clear 4xx and changes nothing.

Malformed JSON, bodies that are not objects, bodies over the limit (declared and streamed),
invalid UTF-8, nesting 1,000 deep, numbers and strings JSON cannot carry portably, wrong content
types, and server names with a slash, a space, non-ASCII or 129 characters: each must answer its
4xx with a JSON `detail` that says what is wrong (a non-empty string, or a non-empty list of
field errors), and settings.json must stay byte for byte as it was. Every case runs against the
app through the TestClient and against a real server process, where the large bodies go through
uvicorn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from support import ServerProcess, app_client, cli_env, settings_bytes

from agent_server import Config

SERVERS = "/api/settings/mcp-servers"
TARGET = "bad-input-target"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    wrap: Callable[[bytes], bytes]  # a valid body of this route with the given JSON value in it


ROUTES = {
    "PATCH settings": Route(
        "PATCH", "/api/settings", lambda v: b'{"misc_settings_diff": {"k": ' + v + b"}}"
    ),
    "PUT server": Route(
        "PUT", f"{SERVERS}/{TARGET}", lambda v: b'{"command": "c", "description": ' + v + b"}"
    ),
    "PATCH server": Route("PATCH", f"{SERVERS}/{TARGET}", lambda v: b'{"description": ' + v + b"}"),
}


@dataclass(frozen=True)
class Case:
    body: Callable[[Route], bytes]
    status: int
    mentions: str  # a word the detail must hold: the answer says what is wrong


def deep_objects(levels: int) -> bytes:
    return b'{"a": ' * levels + b"1" + b"}" * levels


BODY_CASES = {
    "malformed-json": Case(lambda r: r.wrap(b'"x"')[:-1], 400, "JSON"),
    "malformed-unquoted-key": Case(lambda r: b"{command: 1}", 400, "JSON"),
    "malformed-trailing-data": Case(lambda r: r.wrap(b"1") + b" {}", 400, "JSON"),
    "empty-body": Case(lambda r: b"", 400, "empty"),
    "blank-body": Case(lambda r: b" \n\t ", 400, "empty"),
    "array-body": Case(lambda r: b"[" + r.wrap(b"1") + b"]", 400, "object"),
    "string-body": Case(lambda r: b'"a string"', 400, "object"),
    "number-body": Case(lambda r: b"42", 400, "object"),
    "null-body": Case(lambda r: b"null", 400, "object"),
    "true-body": Case(lambda r: b"true", 400, "object"),
    "invalid-utf8": Case(lambda r: r.wrap(b'"\xff\xfe\xc3("'), 400, "UTF-8"),
    "latin1-body": Case(lambda r: r.wrap('"caf\u00e9"'.encode("latin-1")), 400, "UTF-8"),
    "nested-100-arrays": Case(lambda r: r.wrap(b"[" * 100 + b"]" * 100), 400, "nested"),
    "nested-1000-arrays": Case(lambda r: r.wrap(b"[" * 1000 + b"]" * 1000), 400, "nested"),
    "nested-1000-objects": Case(lambda r: r.wrap(deep_objects(1000)), 400, "nested"),
    "nested-100000-arrays": Case(lambda r: r.wrap(b"[" * 100_000 + b"]" * 100_000), 400, "nested"),
    "nan": Case(lambda r: r.wrap(b"NaN"), 400, "JSON"),
    "infinity": Case(lambda r: r.wrap(b"-Infinity"), 400, "JSON"),
    "integer-over-64-bits": Case(lambda r: r.wrap(b"18446744073709551616"), 400, "64 bits"),
    "number-over-double": Case(lambda r: r.wrap(b"1e400"), 400, "double"),
    "unpaired-surrogate": Case(lambda r: r.wrap(b'"\\ud800"'), 400, "surrogate"),
    "body-of-2-mib": Case(lambda r: r.wrap(b'"' + b"x" * (2 * MIB) + b'"'), 413, "larger"),
}

CONTENT_TYPES = (
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "text/json",
)

NAMES = {
    "slash": ("a/b", 404),
    "encoded-slash": ("a%2Fb", 404),
    "space": ("a%20b", 400),
    "non-ascii": ("caf%C3%A9", 400),
    "129-characters": ("n" * 129, 400),
    "control-character": ("a%00b", 400),
}


@dataclass
class Target:
    http: httpx.Client
    home: Path


def seed(http: httpx.Client) -> None:
    agent = {"llm": {"model": "m", "api_key": "canary-bad-input-llm"}}
    response = http.patch("/api/settings", json={"agent_settings_diff": agent})
    assert response.status_code == 200, response.text
    config = {"command": "c", "env": {"TOKEN": "canary-bad-input-env"}, "description": "d"}
    response = http.put(f"{SERVERS}/{TARGET}", json=config)
    assert response.status_code == 201, response.text


@pytest.fixture(scope="module", params=["testclient", "process"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """A seeded home served by the app in process, or by a real server process."""
    home = tmp_path_factory.mktemp(f"bad-input-{request.param}") / "home"
    key = Fernet.generate_key().decode()
    if request.param == "testclient":
        with app_client(Config(home=home, secret_key=key)) as http:
            seed(http)
            yield Target(http, home)
        return
    server = ServerProcess(home, env=cli_env(AGENT_SERVER_SECRET_KEY=key)).wait_ready()
    try:
        with server.client(timeout=30) as http:
            seed(http)
            yield Target(http, home)
    finally:
        server.stop()


def check_clear_4xx(response: httpx.Response, status: int, mentions: str | None = None) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    detail: Any = response.json()["detail"]
    if isinstance(detail, str):
        assert detail.strip()
        text = detail
    else:
        assert isinstance(detail, list) and detail
        for error in detail:
            assert isinstance(error["msg"], str) and error["msg"].strip()
            assert isinstance(error["loc"], list)
        text = " ".join(error["msg"] for error in detail)
    if mentions is not None:
        assert mentions.lower() in text.lower(), text


@pytest.mark.parametrize("case_name", BODY_CASES)
@pytest.mark.parametrize("route_name", ROUTES)
def test_a_malformed_body_is_a_clear_4xx_and_leaves_the_file_alone(
    target: Target, route_name: str, case_name: str
) -> None:
    route, case = ROUTES[route_name], BODY_CASES[case_name]
    before = settings_bytes(target.home)
    response = target.http.request(
        route.method,
        route.path,
        content=case.body(route),
        headers={"Content-Type": "application/json"},
    )
    check_clear_4xx(response, case.status, case.mentions)
    assert settings_bytes(target.home) == before


@pytest.mark.parametrize("route_name", ROUTES)
def test_a_body_over_the_limit_without_a_length_is_413_when_streamed(
    target: Target, route_name: str
) -> None:
    """Chunked, with no Content-Length to refuse it by: the limit holds on the bytes read."""
    route = ROUTES[route_name]
    body = route.wrap(b'"' + b"x" * (2 * MIB) + b'"')

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    before = settings_bytes(target.home)
    response = target.http.request(
        route.method, route.path, content=chunks(), headers={"Content-Type": "application/json"}
    )
    check_clear_4xx(response, 413, "larger")
    assert settings_bytes(target.home) == before


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
@pytest.mark.parametrize("route_name", ROUTES)
def test_a_body_sent_as_another_content_type_is_415_and_leaves_the_file_alone(
    target: Target, route_name: str, content_type: str
) -> None:
    route = ROUTES[route_name]
    before = settings_bytes(target.home)
    response = target.http.request(
        route.method,
        route.path,
        content=route.wrap(b'"changed"'),  # valid JSON, declared as something else
        headers={"Content-Type": content_type},
    )
    check_clear_4xx(response, 415, "JSON")
    assert settings_bytes(target.home) == before


@pytest.mark.parametrize("name_case", NAMES)
@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_a_bad_server_name_is_a_clear_4xx_and_leaves_the_file_alone(
    target: Target, method: str, name_case: str
) -> None:
    name, status = NAMES[name_case]
    before = settings_bytes(target.home)
    response = target.http.request(
        method,
        f"{SERVERS}/{name}",
        content=b'{"command": "c", "description": "changed"}',
        headers={"Content-Type": "application/json"},
    )
    check_clear_4xx(response, status)
    assert settings_bytes(target.home) == before


def test_the_target_still_takes_good_writes_after_all_that(target: Target) -> None:
    """The cases above failed for what they sent, not because the routes refuse everything."""
    response = target.http.patch(f"{SERVERS}/{TARGET}", json={"description": "d"})
    assert response.status_code == 200, response.text
