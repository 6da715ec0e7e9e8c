"""A write to one server leaves the others' secrets alone, and no plaintext leaves through the
file, a redacted response or a log."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from secrets_support import (
    SECRETS,
    URL,
    assert_no_canary_on_disk,
    changed,
    patch_agent,
    plaintexts,
    read,
)
from starlette.testclient import TestClient
from support import disk_tokens, read_settings, settings_bytes

# --- writes to one server leave the others alone ------------------------------------------------


def _server_write(name: str) -> dict[str, Any]:
    servers: dict[str, dict[str, Any]] = {
        "add a server": {"zeta": {"command": "z", "env": {"Z": "canary-env-z"}}},
        "delete a server": {"beta": None},
        "change a non-secret field": {"alpha": {"description": "x"}},
        "add a secret": {"alpha": {"env": {"A_NEW": "canary-env-anew"}}},
        "delete a secret": {"gamma": {"headers": {"X-Org": None}}},
        "change auth": {"gamma": {"auth": "canary-auth-new"}},
        "switch to oauth": {"gamma": {"auth": "oauth"}},
        "replace transport": {
            "epsilon": {
                "url": None,
                "command": "e",
                "transport": None,
                "headers": {"Authorization": SECRETS[("epsilon", "headers", "Authorization")]},
            }
        },
    }
    return servers[name]


_EXPECTED_CHANGE: dict[str, set[tuple[str, ...]]] = {
    "add a server": {("zeta", "env", "Z")},
    "delete a server": {
        ("beta", "env", "B_TOKEN"),
        ("beta", "env", "B_SECRET"),
        ("beta", "env", "B_EXTRA"),
    },
    "change a non-secret field": set(),
    "add a secret": {("alpha", "env", "A_NEW")},
    "delete a secret": {("gamma", "headers", "X-Org")},
    "change auth": {("gamma", "auth")},
    "switch to oauth": {("gamma", "auth")},
    "replace transport": set(),
}


@pytest.mark.parametrize("name", list(_EXPECTED_CHANGE))
def test_a_write_to_one_server_leaves_every_other_token_untouched(
    seeded: TestClient, home: Path, name: str
) -> None:
    before = disk_tokens(home)

    response = patch_agent(seeded, {"mcp_config": {"mcpServers": _server_write(name)}})

    assert response.status_code == 200, response.text
    after = disk_tokens(home)
    assert changed(before, after) == _EXPECTED_CHANGE[name]
    assert "canary-" not in response.text
    assert_no_canary_on_disk(home)
    assert read_settings(home)["agent_settings"]["mcp_config"]["x-client-prefs"] == {
        "order": ["beta", "alpha"]
    }


def test_a_failed_write_changes_no_token(seeded: TestClient, home: Path) -> None:
    before = settings_bytes(home)

    response = patch_agent(
        seeded,
        {
            "llm": {"api_key": "canary-llm-never"},
            "mcp_config": {
                "mcpServers": {
                    "alpha": {"env": {"A_TOKEN": "canary-env-never"}},
                    "broken": {"url": "file:///etc/passwd", "headers": {"K": "canary-h-never"}},
                }
            },
        },
    )

    assert response.status_code == 422
    assert settings_bytes(home) == before
    assert "never" not in response.text
    assert plaintexts(seeded) == SECRETS


# --- no plaintext leaves through the file, redacted responses or logs ---------------------------


def test_no_canary_reaches_the_file_redacted_responses_or_logs_across_writes(
    seeded: TestClient, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    new_server = {"url": "https://n", "auth": "canary-auth-w2"}
    bad_server = {"url": "bad", "headers": {"Authorization": "canary-header-w3"}}
    responses = [
        patch_agent(seeded, {"llm": {"api_key": "canary-llm-w1"}}),
        patch_agent(seeded, read(seeded, "redacted")),
        patch_agent(seeded, read(seeded, "encrypted")),
        patch_agent(seeded, {"mcp_config": {"mcpServers": {"n": new_server}}}),
        patch_agent(seeded, {"mcp_config": {"mcpServers": {"n": bad_server}}}),
        patch_agent(seeded, {"agent_kind": "acp", "acp_server": "s"}),
        patch_agent(seeded, {"agent_kind": "openhands", "llm": {"api_key": "canary-llm-w4"}}),
        seeded.get(URL),
        seeded.get(URL, headers={"X-Expose-Secrets": "encrypted"}),
    ]

    assert [r.status_code for r in responses] == [200, 200, 200, 200, 422, 200, 200, 200, 200]
    for response in responses:
        assert "canary-" not in response.text
    assert_no_canary_on_disk(home)
    assert "canary-" not in caplog.text
    assert plaintexts(seeded) == {("llm", "api_key"): "canary-llm-w4"}
