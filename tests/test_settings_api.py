"""GET and PATCH /api/settings: document shape, merge patch, kinds, validation, bodies, auth."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from support import MASK, disk_tokens, read_settings, settings_bytes, settings_written

URL = "/api/settings"

CANARY_LLM = "canary-llm-7f3a"
CANARY_ENV = "canary-env-91b2"
CANARY_HEADER = "canary-header-5c0d"
CANARY_AUTH = "canary-auth-e4a8"

PREFS = {"theme": "dark", "pinned": ["alpha", "gamma"], "nested": {"n": 1, "flag": True}}


def seed_agent() -> dict[str, Any]:
    """Agent settings with an LLM key, stdio and remote servers with secrets, and a sibling key."""
    return {
        "llm": {"model": "gpt-x", "api_key": CANARY_LLM, "base_url": "https://llm.example"},
        "mcp_config": {
            "x-client-prefs": PREFS,
            "mcpServers": {
                "alpha": {"command": "npx", "args": ["-y", "alpha"], "env": {"TOKEN": CANARY_ENV}},
                "gamma": {
                    "url": "https://mcp.example/gamma",
                    "headers": {"X-Api-Key": CANARY_HEADER},
                    "auth": CANARY_AUTH,
                },
                "delta": {"url": "https://mcp.example/delta", "transport": "sse", "auth": "oauth"},
            },
        },
    }


def patch(client: TestClient, agent: Any = None, misc: Any = None) -> Any:
    body: dict[str, Any] = {}
    if agent is not None:
        body["agent_settings_diff"] = agent
    if misc is not None:
        body["misc_settings_diff"] = misc
    return client.patch(URL, json=body)


def seeded(client: TestClient) -> None:
    response = patch(client, agent=seed_agent(), misc={"ui": {"lang": "en"}})
    assert response.status_code == 200, response.text


def assert_detail_only(response: Any) -> Any:
    body = response.json()
    assert set(body) == {"detail"}, body
    return body["detail"]


# --- the document -------------------------------------------------------------------------------


def test_get_without_file_returns_defaults_and_creates_no_file(
    client: TestClient, home: Path
) -> None:
    response = client.get(URL)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "schema_version": 2,
        "agent_settings": {
            "agent_kind": "openhands",
            "llm": {"model": None, "api_key": None, "base_url": None},
            "mcp_config": {"mcpServers": {}},
        },
        "misc_settings": {},
        "llm_api_key_is_set": False,
    }
    assert not settings_written(home)


def test_first_write_creates_the_file_in_the_documented_shape(
    client: TestClient, home: Path
) -> None:
    assert not settings_written(home)

    response = patch(client, misc={"theme": "dark"})

    assert response.status_code == 200
    on_disk = read_settings(home)
    assert set(on_disk) == {"schema_version", "agent_settings", "misc_settings", "mcp_registries"}
    assert on_disk["schema_version"] == 2
    assert on_disk["misc_settings"] == {"theme": "dark"}
    assert on_disk["agent_settings"]["agent_kind"] == "openhands"
    assert on_disk["agent_settings"]["mcp_config"] == {"mcpServers": {}}


def test_misc_settings_store_any_json_object_as_given(client: TestClient, home: Path) -> None:
    misc = {
        "int": 7,
        "float": 2.5,
        "bool": False,
        "text": "héllo ✓",
        "list": [1, "two", {"three": [3]}],
        "deep": {"a": {"b": {"c": "d"}}},
    }

    response = patch(client, misc=misc)

    assert response.status_code == 200
    assert response.json()["misc_settings"] == misc
    assert client.get(URL).json()["misc_settings"] == misc
    assert read_settings(home)["misc_settings"] == misc


def test_merge_patch_merges_objects_deletes_nulls_and_replaces_arrays_and_scalars(
    client: TestClient,
) -> None:
    first = {
        "obj": {"keep": 1, "drop": 2, "inner": {"x": 1, "y": 2}},
        "arr": [1, 2, 3],
        "scalar": "old",
        "becomes_object": 5,
        "becomes_scalar": {"a": 1},
        "gone": True,
    }
    assert patch(client, misc=first).status_code == 200

    response = patch(
        client,
        misc={
            "obj": {"drop": None, "inner": {"y": None, "z": 3}, "new": "n"},
            "arr": [9],
            "scalar": "new",
            "becomes_object": {"k": "v", "nothing": None},
            "becomes_scalar": 0,
            "gone": None,
            "absent_deleted": None,
        },
    )

    assert response.status_code == 200
    expected = {
        "obj": {"keep": 1, "inner": {"x": 1, "z": 3}, "new": "n"},
        "arr": [9],
        "scalar": "new",
        "becomes_object": {"k": "v"},
        "becomes_scalar": 0,
    }
    assert response.json()["misc_settings"] == expected
    assert client.get(URL).json()["misc_settings"] == expected


def test_merge_patch_on_agent_settings_replaces_server_args_and_keeps_other_fields(
    client: TestClient, home: Path
) -> None:
    seeded(client)

    response = patch(
        client,
        agent={
            "llm": {"model": "gpt-y"},
            "mcp_config": {
                "mcpServers": {
                    "alpha": {"args": ["only"], "cwd": "/srv", "env": {"TOKEN": CANARY_ENV}}
                }
            },
        },
    )

    assert response.status_code == 200
    agent = read_settings(home)["agent_settings"]
    assert agent["llm"]["model"] == "gpt-y"
    assert agent["llm"]["base_url"] == "https://llm.example"
    alpha = agent["mcp_config"]["mcpServers"]["alpha"]
    assert alpha["args"] == ["only"]
    assert alpha["cwd"] == "/srv"
    assert alpha["command"] == "npx"
    assert set(alpha["env"]) == {"TOKEN"}


def test_llm_api_key_is_set_is_true_only_while_a_key_is_stored(client: TestClient) -> None:
    assert client.get(URL).json()["llm_api_key_is_set"] is False

    set_response = patch(client, agent={"llm": {"api_key": CANARY_LLM}})
    assert set_response.json()["llm_api_key_is_set"] is True
    assert client.get(URL).json()["llm_api_key_is_set"] is True

    model_only = patch(client, agent={"llm": {"model": "m"}})
    assert model_only.json()["llm_api_key_is_set"] is True

    cleared = patch(client, agent={"llm": {"api_key": None}})
    assert cleared.json()["llm_api_key_is_set"] is False
    assert client.get(URL).json()["llm_api_key_is_set"] is False
    assert client.get(URL).json()["agent_settings"]["llm"]["api_key"] is None


def test_patch_response_is_the_new_document_redacted(client: TestClient) -> None:
    response = patch(client, agent=seed_agent(), misc={"ui": {"lang": "en"}})

    assert response.status_code == 200
    body = response.json()
    assert body == client.get(URL).json()
    assert body["misc_settings"] == {"ui": {"lang": "en"}}
    assert body["llm_api_key_is_set"] is True
    agent = body["agent_settings"]
    assert agent["llm"] == {"model": "gpt-x", "api_key": MASK, "base_url": "https://llm.example"}
    servers = agent["mcp_config"]["mcpServers"]
    assert servers["alpha"]["env"] == {"TOKEN": MASK}
    assert servers["gamma"]["headers"] == {"X-Api-Key": MASK}
    assert servers["gamma"]["auth"] == MASK
    assert servers["delta"]["auth"] == "oauth"
    assert agent["mcp_config"]["x-client-prefs"] == PREFS
    assert "canary-" not in response.text


# --- agent kinds --------------------------------------------------------------------------------


def test_switch_to_acp_starts_from_a_fresh_acp_default(client: TestClient, home: Path) -> None:
    seeded(client)

    response = patch(client, agent={"agent_kind": "acp", "acp_server": "claude-code"})

    assert response.status_code == 200
    agent = response.json()["agent_settings"]
    assert agent == {"agent_kind": "acp", "acp_server": "claude-code", "acp_model": None}
    assert response.json()["llm_api_key_is_set"] is False
    stored = read_settings(home)["agent_settings"]
    assert stored == {"agent_kind": "acp", "acp_server": "claude-code", "acp_model": None}
    assert "canary-" not in settings_bytes(home).decode()


def test_acp_settings_take_a_model_and_reject_mcp_config(client: TestClient, home: Path) -> None:
    assert patch(client, agent={"agent_kind": "acp", "acp_server": "s"}).status_code == 200
    assert patch(client, agent={"acp_model": "opus"}).json()["agent_settings"] == {
        "agent_kind": "acp",
        "acp_server": "s",
        "acp_model": "opus",
    }
    before = settings_bytes(home)

    response = patch(client, agent={"mcp_config": {"mcpServers": {}}})

    assert response.status_code == 422
    locs = [error["loc"] for error in assert_detail_only(response)]
    assert ["agent_settings", "mcp_config"] in locs
    assert settings_bytes(home) == before


def test_switch_from_acp_to_openhands_gets_default_llm_and_no_servers(
    client: TestClient, home: Path
) -> None:
    seeded(client)
    assert patch(client, agent={"agent_kind": "acp", "acp_server": "s"}).status_code == 200

    response = patch(client, agent={"agent_kind": "openhands"})

    assert response.status_code == 200
    assert response.json()["agent_settings"] == {
        "agent_kind": "openhands",
        "llm": {"model": None, "api_key": None, "base_url": None},
        "mcp_config": {"mcpServers": {}},
    }
    assert response.json()["llm_api_key_is_set"] is False
    assert disk_tokens(home) == {}


def test_switch_back_to_openhands_cannot_keep_a_secret_through_the_mask(
    client: TestClient, home: Path
) -> None:
    seeded(client)
    assert patch(client, agent={"agent_kind": "acp"}).status_code == 200
    before = settings_bytes(home)

    response = patch(client, agent={"agent_kind": "openhands", "llm": {"api_key": MASK}})

    assert response.status_code == 422
    assert [e["loc"] for e in assert_detail_only(response)] == [
        ["agent_settings", "llm", "api_key"]
    ]
    assert settings_bytes(home) == before


def test_a_diff_that_deletes_agent_kind_keeps_the_openhands_settings(
    client: TestClient, home: Path
) -> None:
    """agent_kind missing means openhands, so deleting it on an openhands document is no switch."""
    seeded(client)
    tokens = disk_tokens(home)

    response = patch(client, agent={"agent_kind": None, "llm": {"model": "gpt-z"}})

    assert response.status_code == 200
    assert response.json()["llm_api_key_is_set"] is True
    agent = read_settings(home)["agent_settings"]
    assert agent["llm"]["model"] == "gpt-z"
    assert agent["mcp_config"]["x-client-prefs"] == PREFS
    assert set(agent["mcp_config"]["mcpServers"]) == {"alpha", "gamma", "delta"}
    assert disk_tokens(home) == tokens


# --- secrets in reads ---------------------------------------------------------------------------


def test_reads_are_redacted_without_the_header_or_with_redacted(client: TestClient) -> None:
    seeded(client)

    for headers in ({}, {"X-Expose-Secrets": "redacted"}):
        response = client.get(URL, headers=headers)
        assert response.status_code == 200
        agent = response.json()["agent_settings"]
        assert agent["llm"]["api_key"] == MASK
        assert agent["mcp_config"]["mcpServers"]["alpha"]["env"]["TOKEN"] == MASK
        assert agent["mcp_config"]["mcpServers"]["gamma"]["headers"]["X-Api-Key"] == MASK
        assert agent["mcp_config"]["mcpServers"]["gamma"]["auth"] == MASK
        assert "canary-" not in response.text
        assert "gAAAAA" not in response.text


def test_encrypted_read_shows_the_tokens_exactly_as_on_disk(client: TestClient, home: Path) -> None:
    seeded(client)

    response = client.get(URL, headers={"X-Expose-Secrets": "encrypted"})

    assert response.status_code == 200
    assert "canary-" not in response.text
    on_disk = read_settings(home)["agent_settings"]
    assert response.json()["agent_settings"] == on_disk
    assert len(disk_tokens(home)) == 4


def test_plaintext_read_shows_raw_values_and_logs_a_warning_without_them(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    seeded(client)
    caplog.set_level(logging.DEBUG)
    caplog.clear()

    response = client.get(URL, headers={"X-Expose-Secrets": "plaintext"})

    assert response.status_code == 200
    agent = response.json()["agent_settings"]
    assert agent["llm"]["api_key"] == CANARY_LLM
    assert agent["mcp_config"]["mcpServers"]["alpha"]["env"] == {"TOKEN": CANARY_ENV}
    assert agent["mcp_config"]["mcpServers"]["gamma"]["headers"] == {"X-Api-Key": CANARY_HEADER}
    assert agent["mcp_config"]["mcpServers"]["gamma"]["auth"] == CANARY_AUTH
    assert agent["mcp_config"]["mcpServers"]["delta"]["auth"] == "oauth"
    assert any(record.levelno == logging.WARNING for record in caplog.records)
    assert "canary-" not in caplog.text


def test_redacted_and_encrypted_reads_log_no_warning(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    seeded(client)
    caplog.set_level(logging.DEBUG)
    caplog.clear()

    client.get(URL)
    client.get(URL, headers={"X-Expose-Secrets": "encrypted"})

    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("value", ["secret", "", "plain", "all", "redacted,plaintext"])
def test_unknown_expose_mode_is_400_naming_the_valid_modes(client: TestClient, value: str) -> None:
    seeded(client)

    response = client.get(URL, headers={"X-Expose-Secrets": value})

    assert response.status_code == 400
    detail = assert_detail_only(response)
    assert isinstance(detail, str)
    for mode in ("redacted", "encrypted", "plaintext"):
        assert mode in detail
    assert "canary-" not in response.text


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


# --- auth ---------------------------------------------------------------------------------------


def test_session_api_keys_guard_every_api_route_and_leave_health_open(
    make_client: Callable[..., TestClient], home: Path
) -> None:
    client = make_client(session_api_keys=("k1", "k2"))
    first = client.patch(
        URL, json={"misc_settings_diff": {"a": 1}}, headers={"X-Session-API-Key": "k1"}
    )
    assert first.status_code == 200
    before = settings_bytes(home)
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", URL, {}),
        ("PATCH", URL, {"json": {"misc_settings_diff": {"a": 2}}}),
        ("GET", URL + "/mcp-servers", {}),
        ("GET", URL + "/mcp-servers/alpha", {}),
        ("PUT", URL + "/mcp-servers/alpha", {"json": {"command": "x"}}),
        ("DELETE", URL + "/mcp-servers/alpha", {}),
        ("GET", "/api/unknown", {}),
    ]

    for method, path, kwargs in requests:
        for headers in ({}, {"X-Session-API-Key": "wrong"}, {"X-Session-API-Key": "k1x"}):
            response = client.request(method, path, headers=headers, **kwargs)
            assert response.status_code == 401, (method, path, headers)
            assert isinstance(assert_detail_only(response), str)
    assert settings_bytes(home) == before

    for key in ("k1", "k2"):
        response = client.get(URL, headers={"X-Session-API-Key": key})
        assert response.status_code == 200
        assert response.json()["misc_settings"] == {"a": 1}
    assert client.get("/health").status_code == 200


def test_without_session_keys_the_api_needs_no_header(client: TestClient) -> None:
    assert client.get(URL).status_code == 200
    assert patch(client, misc={"a": 1}).status_code == 200


# --- the mcp_config sibling key -----------------------------------------------------------------


def test_a_sibling_key_of_mcp_config_survives_every_kind_of_write(
    client: TestClient, home: Path
) -> None:
    seeded(client)

    def sibling() -> Any:
        return read_settings(home)["agent_settings"]["mcp_config"]["x-client-prefs"]

    def plaintext_agent() -> dict[str, Any]:
        response = client.get(URL, headers={"X-Expose-Secrets": "plaintext"})
        agent: dict[str, Any] = response.json()["agent_settings"]
        return agent

    def agent(diff: dict[str, Any]) -> Callable[[], dict[str, Any]]:
        return lambda: {"agent_settings_diff": diff}

    def servers(diff: dict[str, Any]) -> Callable[[], dict[str, Any]]:
        return agent({"mcp_config": {"mcpServers": diff}})

    writes: list[tuple[str, Callable[[], dict[str, Any]], int]] = [
        ("llm only", agent({"llm": {"model": "gpt-2"}}), 200),
        ("misc only", lambda: {"misc_settings_diff": {"x": 1}}, 200),
        ("add server", servers({"beta": {"command": "uvx", "env": {"B": "canary-env-b"}}}), 200),
        ("delete server", servers({"delta": None}), 200),
        ("delete a secret", servers({"beta": {"env": {"B": None}}}), 200),
        ("failed write", servers({"bad": {"url": "ftp://h", "auth": "canary-auth-x"}}), 422),
        ("redacted write-back", lambda: agent(client.get(URL).json()["agent_settings"])(), 200),
        ("plaintext write-back", lambda: agent(plaintext_agent())(), 200),
    ]

    for name, body, status in writes:
        response = client.patch(URL, json=body())
        assert response.status_code == status, (name, response.text)
        assert sibling() == PREFS, name
        assert client.get(URL).json()["agent_settings"]["mcp_config"]["x-client-prefs"] == PREFS

    servers = read_settings(home)["agent_settings"]["mcp_config"]["mcpServers"]
    assert set(servers) == {"alpha", "beta", "gamma"}
    assert servers["beta"]["env"] == {}


def test_a_sibling_key_can_itself_be_merged_and_deleted(client: TestClient, home: Path) -> None:
    seeded(client)

    patch(client, agent={"mcp_config": {"x-client-prefs": {"theme": "light", "nested": None}}})
    prefs = read_settings(home)["agent_settings"]["mcp_config"]["x-client-prefs"]
    assert prefs == {"theme": "light", "pinned": ["alpha", "gamma"]}

    patch(client, agent={"mcp_config": {"x-client-prefs": None}})
    assert "x-client-prefs" not in read_settings(home)["agent_settings"]["mcp_config"]
    assert set(read_settings(home)["agent_settings"]["mcp_config"]["mcpServers"]) == {
        "alpha",
        "gamma",
        "delta",
    }
