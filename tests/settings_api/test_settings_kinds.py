"""GET and PATCH /api/settings: switching the agent kind, and what each kind keeps."""

from __future__ import annotations

from pathlib import Path

from settings_seed import (
    PREFS,
    assert_detail_only,
    patch,
    seeded,
)
from starlette.testclient import TestClient
from support import MASK, disk_tokens, read_settings, settings_bytes

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
