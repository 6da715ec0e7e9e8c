"""Secrets as input: the mask keeps a stored value; a token is taken back only in its own slot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from secrets_support import (
    SECRETS,
    changed,
    patch_agent,
    plaintexts,
    read,
    seed_agent,
)
from starlette.testclient import TestClient
from support import MASK, disk_tokens, settings_bytes

# --- the mask -----------------------------------------------------------------------------------


def test_the_mask_keeps_the_stored_value_in_every_kind_of_slot(
    seeded: TestClient, home: Path
) -> None:
    before = disk_tokens(home)

    response = patch_agent(
        seeded,
        {
            "llm": {"api_key": MASK, "model": "gpt-y"},
            "mcp_config": {
                "mcpServers": {
                    "alpha": {"env": {"A_TOKEN": MASK}, "description": "changed"},
                    "gamma": {"headers": {"X-Api-Key": MASK}, "auth": MASK, "timeout": 30},
                }
            },
        },
    )

    assert response.status_code == 200
    assert disk_tokens(home) == before
    assert plaintexts(seeded) == SECRETS


def test_null_deletes_one_secret_while_the_mask_keeps_another(
    seeded: TestClient, home: Path
) -> None:
    before = disk_tokens(home)

    response = patch_agent(
        seeded,
        {"mcp_config": {"mcpServers": {"beta": {"env": {"B_SECRET": None, "B_EXTRA": MASK}}}}},
    )

    assert response.status_code == 200
    after = disk_tokens(home)
    assert changed(before, after) == {("beta", "env", "B_SECRET")}
    assert ("beta", "env", "B_SECRET") not in after
    assert after[("beta", "env", "B_EXTRA")] == before[("beta", "env", "B_EXTRA")]


def test_deleting_the_llm_key_then_sending_the_mask_is_422(seeded: TestClient, home: Path) -> None:
    assert patch_agent(seeded, {"llm": {"api_key": None}}).status_code == 200
    before = settings_bytes(home)

    response = patch_agent(seeded, {"llm": {"api_key": MASK}})

    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["agent_settings", "llm", "api_key"]]
    assert settings_bytes(home) == before


def test_the_mask_in_a_new_slot_is_422_and_writes_nothing(client: TestClient, home: Path) -> None:
    assert patch_agent(client, {"llm": {"model": "m"}}).status_code == 200
    before = settings_bytes(home)

    response = patch_agent(
        client,
        {
            "llm": {"api_key": MASK},
            "mcp_config": {
                "mcpServers": {
                    "s": {"command": "x", "env": {"K": MASK, "OK": "canary-env-ok"}},
                    "r": {"url": "https://h", "headers": {"H": MASK}, "auth": MASK},
                }
            },
        },
    )

    assert response.status_code == 422
    locs = [e["loc"] for e in response.json()["detail"]]
    servers = ["agent_settings", "mcp_config", "mcpServers"]
    for loc in (
        ["agent_settings", "llm", "api_key"],
        [*servers, "s", "env", "K"],
        [*servers, "r", "headers", "H"],
        [*servers, "r", "auth"],
    ):
        assert loc in locs
    assert "canary-" not in response.text
    assert settings_bytes(home) == before


# --- tokens as input ----------------------------------------------------------------------------


@pytest.mark.parametrize("whose", ["current key", "previous key", "unknown key"])
def test_a_token_sent_to_a_slot_that_does_not_hold_it_is_refused(
    make_client: Callable[..., TestClient], home: Path, secret_key: str, whose: str
) -> None:
    """A token opens nothing new: it is accepted only where it is stored, so a token from
    another slot, another server or an old backup cannot be moved into place."""
    old_key = Fernet.generate_key()
    client = make_client(previous_secret_keys=(old_key.decode(),))
    key = {
        "current key": secret_key.encode(),
        "previous key": old_key,
        "unknown key": Fernet.generate_key(),
    }[whose]
    token = Fernet(key).encrypt(b"canary-llm-tok1").decode()
    assert patch_agent(client, {"llm": {"model": "m"}}).status_code == 200
    before = settings_bytes(home)

    response = patch_agent(
        client,
        {
            "llm": {"api_key": token},
            "mcp_config": {"mcpServers": {"s": {"command": "x", "env": {"K": token}}}},
        },
    )

    assert response.status_code == 422, response.text
    assert sorted(e["loc"] for e in response.json()["detail"]) == [
        ["agent_settings", "llm", "api_key"],
        ["agent_settings", "mcp_config", "mcpServers", "s", "env", "K"],
    ]
    assert {e["type"] for e in response.json()["detail"]} == {"secret_token_elsewhere"}
    assert token not in response.text
    assert settings_bytes(home) == before


def test_tokens_of_a_previous_key_from_an_encrypted_read_are_kept_by_a_write_back(
    make_client: Callable[..., TestClient], home: Path, secret_key: str
) -> None:
    """Documents written under an older key keep their tokens when read back and written."""
    old_key = Fernet.generate_key().decode()
    old = make_client(secret_key=old_key)
    assert patch_agent(old, seed_agent()).status_code == 200
    before = disk_tokens(home)
    current = make_client(previous_secret_keys=(old_key,))

    assert patch_agent(current, read(current, "encrypted")).status_code == 200

    assert disk_tokens(home) == before
    assert plaintexts(current) == SECRETS
