"""GET /api/settings: secrets in each expose mode, and the session keys on every route."""

from __future__ import annotations

import logging
from collections.abc import Callable
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
from support import MASK, disk_tokens, read_settings, settings_bytes

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
