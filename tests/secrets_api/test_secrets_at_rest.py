"""Secrets at rest: Fernet tokens in settings.json, and which writes encrypt."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from secrets_support import (
    SECRETS,
    assert_no_canary_on_disk,
    changed,
    patch_agent,
    plaintexts,
    read,
)
from starlette.testclient import TestClient
from support import disk_tokens, read_settings, settings_bytes

# --- at rest ------------------------------------------------------------------------------------


def test_each_secret_is_stored_as_its_own_fernet_token_under_the_key(
    seeded: TestClient, home: Path, secret_key: str
) -> None:
    tokens = disk_tokens(home)

    assert set(tokens) == set(SECRETS)
    assert len(set(tokens.values())) == len(tokens)
    fernet = Fernet(secret_key.encode())
    for path, token in tokens.items():
        assert token.startswith("gAAAAA"), path
        assert fernet.decrypt(token.encode()).decode() == SECRETS[path], path
    assert_no_canary_on_disk(home)
    servers = read_settings(home)["agent_settings"]["mcp_config"]["mcpServers"]
    assert servers["delta"]["auth"] == "oauth"
    assert servers["alpha"]["args"] == ["-y", "alpha"]


def test_tokens_do_not_open_with_another_key(seeded: TestClient, home: Path) -> None:
    other = Fernet(Fernet.generate_key())
    for token in disk_tokens(home).values():
        with pytest.raises(InvalidToken):
            other.decrypt(token.encode())


def test_a_new_app_on_the_same_home_and_key_reads_the_same_plaintexts(
    seeded: TestClient, make_client: Callable[..., TestClient]
) -> None:
    restarted = make_client()

    assert plaintexts(restarted) == SECRETS


# --- which writes encrypt -----------------------------------------------------------------------


def test_changing_one_env_value_among_many_servers_changes_exactly_one_token(
    seeded: TestClient, home: Path, secret_key: str
) -> None:
    before = disk_tokens(home)

    response = patch_agent(
        seeded, {"mcp_config": {"mcpServers": {"beta": {"env": {"B_SECRET": "canary-env-new1"}}}}}
    )

    assert response.status_code == 200
    after = disk_tokens(home)
    assert changed(before, after) == {("beta", "env", "B_SECRET")}
    fernet = Fernet(secret_key.encode())
    assert fernet.decrypt(after[("beta", "env", "B_SECRET")].encode()) == b"canary-env-new1"
    assert plaintexts(seeded) == {**SECRETS, ("beta", "env", "B_SECRET"): "canary-env-new1"}
    assert_no_canary_on_disk(home)


def test_changing_one_value_in_a_plaintext_read_written_back_changes_exactly_one_token(
    seeded: TestClient, home: Path
) -> None:
    before = disk_tokens(home)
    agent = read(seeded, "plaintext")
    agent["mcp_config"]["mcpServers"]["gamma"]["headers"]["X-Org"] = "canary-header-new2"

    assert patch_agent(seeded, agent).status_code == 200

    assert changed(before, disk_tokens(home)) == {("gamma", "headers", "X-Org")}
    assert plaintexts(seeded)[("gamma", "headers", "X-Org")] == "canary-header-new2"
    assert_no_canary_on_disk(home)


def test_changing_the_llm_key_changes_only_its_token(seeded: TestClient, home: Path) -> None:
    before = disk_tokens(home)

    assert patch_agent(seeded, {"llm": {"api_key": "canary-llm-new3"}}).status_code == 200

    assert changed(before, disk_tokens(home)) == {("llm", "api_key")}
    assert plaintexts(seeded)[("llm", "api_key")] == "canary-llm-new3"


def test_setting_a_secret_to_its_current_plaintext_keeps_its_token(
    seeded: TestClient, home: Path
) -> None:
    before = disk_tokens(home)

    response = patch_agent(
        seeded,
        {
            "llm": {"api_key": SECRETS[("llm", "api_key")]},
            "mcp_config": {
                "mcpServers": {"alpha": {"env": {"A_TOKEN": SECRETS[("alpha", "env", "A_TOKEN")]}}}
            },
        },
    )

    assert response.status_code == 200
    assert disk_tokens(home) == before


@pytest.mark.parametrize("mode", ["redacted", "encrypted", "plaintext"])
def test_a_read_written_back_whole_keeps_every_token_byte_for_byte(
    seeded: TestClient, home: Path, mode: str
) -> None:
    before_document = read_settings(home)
    before = disk_tokens(home)

    response = patch_agent(seeded, read(seeded, mode))

    assert response.status_code == 200, response.text
    assert disk_tokens(home) == before
    assert read_settings(home) == before_document
    assert plaintexts(seeded) == SECRETS
    assert_no_canary_on_disk(home)


def test_an_encrypted_read_written_back_with_a_change_elsewhere_keeps_every_token(
    seeded: TestClient, home: Path
) -> None:
    before = disk_tokens(home)
    agent = read(seeded, "encrypted")
    agent["llm"]["model"] = "gpt-y"
    agent["mcp_config"]["mcpServers"]["alpha"]["description"] = "alpha tools"

    assert patch_agent(seeded, agent).status_code == 200

    assert disk_tokens(home) == before
    stored = read_settings(home)["agent_settings"]
    assert stored["llm"]["model"] == "gpt-y"
    assert stored["mcp_config"]["mcpServers"]["alpha"]["description"] == "alpha tools"


def test_a_legacy_write_that_moves_a_server_must_give_its_secrets_again(
    seeded: TestClient, home: Path
) -> None:
    """The whole-document route keeps the destination rule: tokens written back to a server
    whose args changed are refused, each field named, and the file is left alone."""
    before = settings_bytes(home)
    agent = read(seeded, "encrypted")
    agent["mcp_config"]["mcpServers"]["alpha"]["args"] = ["alpha", "--verbose"]

    response = patch_agent(seeded, agent)

    assert response.status_code == 422, response.text
    prefix = ["agent_settings", "mcp_config", "mcpServers", "alpha", "env"]
    assert sorted(e["loc"] for e in response.json()["detail"]) == [
        [*prefix, "A_REGION"],
        [*prefix, "A_TOKEN"],
    ]
    assert {e["type"] for e in response.json()["detail"]} == {"secret_rebind"}
    assert settings_bytes(home) == before
