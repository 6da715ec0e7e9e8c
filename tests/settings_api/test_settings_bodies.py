"""PATCH /api/settings: bad bodies and invalid settings, refused with the file left as it was."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from settings_seed import (
    CANARY_AUTH,
    CANARY_ENV,
    CANARY_HEADER,
    CANARY_LLM,
    URL,
    assert_detail_only,
    patch,
    seeded,
)
from starlette.testclient import TestClient
from support import MASK, settings_bytes, settings_written

# --- PATCH bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [{}, {"agent_settings_diff": None}, {"misc_settings_diff": None}],
    ids=["empty", "agent-null", "misc-null"],
)
def test_patch_without_any_diff_is_400(client: TestClient, home: Path, body: Any) -> None:
    seeded(client)
    before = settings_bytes(home)

    response = client.patch(URL, json=body)

    assert response.status_code == 400
    assert isinstance(assert_detail_only(response), str)
    assert settings_bytes(home) == before


def _chunks(data: bytes) -> Iterator[bytes]:
    step = 64 * 1024
    for start in range(0, len(data), step):
        yield data[start : start + step]


_BIG = json.dumps({"misc_settings_diff": {"blob": "x" * (1024 * 1024)}}).encode()

# (id, request kwargs, expected status)
_BAD_REQUESTS: list[tuple[str, Callable[[], dict[str, Any]], int]] = [
    ("over-1mib", lambda: {"content": _BIG, "headers": {"content-type": "application/json"}}, 413),
    (
        "over-1mib-chunked",
        lambda: {"content": _chunks(_BIG), "headers": {"content-type": "application/json"}},
        413,
    ),
    (
        "invalid-json",
        lambda: {
            "content": b'{"misc_settings_diff": {"a": 1,}',
            "headers": {"content-type": "application/json"},
        },
        400,
    ),
    (
        "invalid-utf8",
        lambda: {
            "content": b'{"misc_settings_diff": {"a": "\xff\xfe"}}',
            "headers": {"content-type": "application/json"},
        },
        400,
    ),
    ("array-body", lambda: {"json": [{"misc_settings_diff": {"a": 1}}]}, 400),
    ("string-body", lambda: {"json": "misc_settings_diff"}, 400),
    (
        "null-body",
        lambda: {"content": b"null", "headers": {"content-type": "application/json"}},
        400,
    ),
    (
        "nan",
        lambda: {
            "content": b'{"misc_settings_diff": {"a": NaN}}',
            "headers": {"content-type": "application/json"},
        },
        400,
    ),
    (
        "infinity",
        lambda: {
            "content": b'{"misc_settings_diff": {"a": Infinity}}',
            "headers": {"content-type": "application/json"},
        },
        400,
    ),
    (
        "text-plain",
        lambda: {
            "content": json.dumps({"misc_settings_diff": {"a": 1}}).encode(),
            "headers": {"content-type": "text/plain"},
        },
        415,
    ),
    (
        "no-content-type",
        lambda: {"content": json.dumps({"misc_settings_diff": {"a": 1}}).encode()},
        415,
    ),
    ("unknown-key", lambda: {"json": {"misc_settings_diff": {"a": 1}, "extra": 1}}, 400),
    ("typo-key", lambda: {"json": {"agent_settings": {"llm": {"model": "m"}}}}, 400),
    ("no-diff", lambda: {"json": {}}, 400),
    ("diff-not-object", lambda: {"json": {"misc_settings_diff": [1, 2]}}, 422),
]


@pytest.mark.parametrize(
    ("make_request", "status"),
    [(make, status) for _, make, status in _BAD_REQUESTS],
    ids=[name for name, _, _ in _BAD_REQUESTS],
)
def test_bad_request_bodies_are_rejected_and_leave_the_file_byte_identical(
    client: TestClient, home: Path, make_request: Callable[[], dict[str, Any]], status: int
) -> None:
    seeded(client)
    before = settings_bytes(home)
    kwargs = make_request()
    if "content" in kwargs:
        kwargs.pop("json", None)

    response = client.request("PATCH", URL, **kwargs)

    assert response.status_code == status, response.text
    assert_detail_only(response)
    assert settings_bytes(home) == before
    assert client.get(URL).json()["misc_settings"] == {"ui": {"lang": "en"}}


def test_json_content_type_with_charset_and_plus_json_are_accepted(client: TestClient) -> None:
    body = json.dumps({"misc_settings_diff": {"a": 1}}).encode()
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = client.patch(URL, content=body, headers={"content-type": content_type})
        assert response.status_code == 200, (content_type, response.text)
    assert client.get(URL).json()["misc_settings"] == {"a": 1}


def test_unknown_routes_and_methods_answer_json_detail(client: TestClient) -> None:
    for response in (client.get("/api/nothing-here"), client.put(URL, json={})):
        assert response.status_code in (404, 405)
        assert response.headers["content-type"].startswith("application/json")
        assert isinstance(assert_detail_only(response), str)


# --- validation ---------------------------------------------------------------------------------

_SERVERS = ("agent_settings", "mcp_config", "mcpServers")

# (id, agent_settings_diff, a loc the 422 must name)
_INVALID: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("llm-model-not-string", {"llm": {"model": 5}}, ["agent_settings", "llm", "model"]),
    ("llm-unknown-field", {"llm": {"modle": "m"}}, ["agent_settings", "llm", "modle"]),
    ("llm-not-object", {"llm": "gpt"}, ["agent_settings", "llm"]),
    ("unknown-agent-kind", {"agent_kind": "robot"}, ["agent_settings", "agent_kind"]),
    ("unknown-agent-field", {"modle": "m"}, ["agent_settings", "modle"]),
    (
        "stdio-without-command",
        {"mcp_config": {"mcpServers": {"s": {"args": ["x"], "env": {"K": CANARY_ENV}}}}},
        [*_SERVERS, "s"],
    ),
    (
        "stdio-empty-command",
        {"mcp_config": {"mcpServers": {"s": {"command": "", "env": {"K": CANARY_ENV}}}}},
        [*_SERVERS, "s", "command"],
    ),
    (
        "stdio-transport-without-command",
        {"mcp_config": {"mcpServers": {"s": {"transport": "stdio", "url": "https://h"}}}},
        [*_SERVERS, "s", "command"],
    ),
    (
        "remote-ftp-url",
        {
            "mcp_config": {
                "mcpServers": {"r": {"url": "ftp://h/x", "headers": {"K": CANARY_HEADER}}}
            }
        },
        [*_SERVERS, "r", "url"],
    ),
    (
        "remote-url-without-host",
        {"mcp_config": {"mcpServers": {"r": {"url": "https://", "auth": CANARY_AUTH}}}},
        [*_SERVERS, "r", "url"],
    ),
    (
        "remote-url-not-a-url",
        {"mcp_config": {"mcpServers": {"r": {"url": "localhost:8080"}}}},
        [*_SERVERS, "r", "url"],
    ),
    (
        "both-command-and-url",
        {"mcp_config": {"mcpServers": {"s": {"command": "x", "url": "https://h"}}}},
        [*_SERVERS, "s", "url"],
    ),
    (
        "stdio-env-value-not-string",
        {"mcp_config": {"mcpServers": {"s": {"command": "x", "env": {"PORT": 8080}}}}},
        [*_SERVERS, "s", "env", "PORT"],
    ),
    (
        "remote-header-value-not-string",
        {"mcp_config": {"mcpServers": {"r": {"url": "https://h", "headers": {"X-N": 1}}}}},
        [*_SERVERS, "r", "headers", "X-N"],
    ),
    (
        "remote-env-value-not-string",
        {"mcp_config": {"mcpServers": {"r": {"url": "https://h", "env": {"PORT": 8080}}}}},
        [*_SERVERS, "r", "env", "PORT"],
    ),
    (
        "stdio-header-value-not-string",
        {"mcp_config": {"mcpServers": {"s": {"command": "x", "headers": {"X-N": 1}}}}},
        [*_SERVERS, "s", "headers", "X-N"],
    ),
    (
        "authorization-header-and-auth",
        {
            "mcp_config": {
                "mcpServers": {
                    "r": {
                        "url": "https://h",
                        "headers": {"Authorization": f"Bearer {CANARY_HEADER}"},
                        "auth": CANARY_AUTH,
                    }
                }
            }
        },
        [*_SERVERS, "r", "headers", "Authorization"],
    ),
    (
        "lowercase-authorization-header-and-auth",
        {
            "mcp_config": {
                "mcpServers": {
                    "r": {
                        "url": "https://h",
                        "headers": {"authorization": CANARY_HEADER},
                        "auth": CANARY_AUTH,
                    }
                }
            }
        },
        [*_SERVERS, "r", "headers", "authorization"],
    ),
    (
        "enabled-not-bool",
        {"mcp_config": {"mcpServers": {"s": {"command": "x", "enabled": "true"}}}},
        [*_SERVERS, "s", "enabled"],
    ),
    (
        "server-not-object",
        {"mcp_config": {"mcpServers": {"s": CANARY_ENV}}},
        [*_SERVERS, "s"],
    ),
    (
        "bad-server-name",
        {"mcp_config": {"mcpServers": {"bad name/!": {"command": "x"}}}},
        [*_SERVERS, "bad name/!"],
    ),
    (
        "mask-without-stored-env",
        {"mcp_config": {"mcpServers": {"alpha": {"env": {"NEW": MASK}}}}},
        [*_SERVERS, "alpha", "env", "NEW"],
    ),
    (
        "mask-for-new-server-auth",
        {"mcp_config": {"mcpServers": {"new": {"url": "https://h", "auth": MASK}}}},
        [*_SERVERS, "new", "auth"],
    ),
]


@pytest.mark.parametrize(
    ("diff", "loc"),
    [(diff, loc) for _, diff, loc in _INVALID],
    ids=[name for name, _, _ in _INVALID],
)
def test_invalid_agent_settings_are_422_with_field_paths_and_no_secrets(
    client: TestClient,
    home: Path,
    caplog: pytest.LogCaptureFixture,
    diff: dict[str, Any],
    loc: list[Any],
) -> None:
    seeded(client)
    before = settings_bytes(home)
    caplog.set_level(logging.DEBUG)

    response = patch(client, agent=diff)

    assert response.status_code == 422, response.text
    detail = assert_detail_only(response)
    assert isinstance(detail, list)
    assert detail
    for error in detail:
        assert set(error) == {"loc", "msg", "type"}
        assert isinstance(error["loc"], list)
        assert isinstance(error["msg"], str)
        assert isinstance(error["type"], str)
    assert loc in [error["loc"] for error in detail]
    assert "canary-" not in response.text
    assert "canary-" not in caplog.text
    assert settings_bytes(home) == before


def test_422_on_llm_model_names_the_field_from_a_fresh_home(client: TestClient, home: Path) -> None:
    response = patch(client, agent={"llm": {"model": ["a"], "api_key": CANARY_LLM}})

    assert response.status_code == 422
    assert ["agent_settings", "llm", "model"] in [e["loc"] for e in assert_detail_only(response)]
    assert "canary-" not in response.text
    assert not settings_written(home)


def test_a_failed_write_does_not_leave_secrets_in_later_reads_or_the_file(
    client: TestClient, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seeded(client)
    caplog.set_level(logging.DEBUG)
    bad = {
        "mcp_config": {
            "mcpServers": {
                "leaky": {"url": "gopher://h", "headers": {"X-Key": "canary-header-0bad"}},
            }
        }
    }

    assert patch(client, agent=bad).status_code == 422

    for mode in ("redacted", "encrypted", "plaintext"):
        text = client.get(URL, headers={"X-Expose-Secrets": mode}).text
        assert "leaky" not in text
        assert "canary-header-0bad" not in text
    assert b"canary-header-0bad" not in settings_bytes(home)
    assert "canary-header-0bad" not in caplog.text
