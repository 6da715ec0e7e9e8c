"""Secrets at rest: one Fernet token per value, re-encrypted only when the plaintext changes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from starlette.testclient import TestClient
from support import MASK, disk_tokens, read_settings, secret_tokens, settings_bytes

URL = "/api/settings"

# Every canary starts with "canary-": no file, response or log line may ever hold that text.
SECRETS: dict[tuple[str, ...], str] = {
    ("llm", "api_key"): "canary-llm-7f3a",
    ("alpha", "env", "A_TOKEN"): "canary-env-91b2",
    ("alpha", "env", "A_REGION"): "canary-env-a2c4",
    ("beta", "env", "B_TOKEN"): "canary-env-b1d6",
    ("beta", "env", "B_SECRET"): "canary-env-b2e8",
    ("beta", "env", "B_EXTRA"): "canary-env-b3f0",
    ("gamma", "headers", "X-Api-Key"): "canary-header-g1a1",
    ("gamma", "headers", "X-Org"): "canary-header-g2b2",
    ("gamma", "auth"): "canary-auth-g3c3",
    ("epsilon", "headers", "Authorization"): "canary-header-e1d4",
}


def seed_agent() -> dict[str, Any]:
    def s(*path: str) -> str:
        return SECRETS[path]

    return {
        "llm": {"model": "gpt-x", "api_key": s("llm", "api_key")},
        "mcp_config": {
            "x-client-prefs": {"order": ["beta", "alpha"]},
            "mcpServers": {
                "alpha": {
                    "command": "npx",
                    "args": ["-y", "alpha"],
                    "env": {
                        "A_TOKEN": s("alpha", "env", "A_TOKEN"),
                        "A_REGION": s("alpha", "env", "A_REGION"),
                    },
                },
                "beta": {
                    "command": "uvx",
                    "args": ["beta"],
                    "env": {
                        "B_TOKEN": s("beta", "env", "B_TOKEN"),
                        "B_SECRET": s("beta", "env", "B_SECRET"),
                        "B_EXTRA": s("beta", "env", "B_EXTRA"),
                    },
                },
                "gamma": {
                    "url": "https://mcp.example/gamma",
                    "transport": "http",
                    "headers": {
                        "X-Api-Key": s("gamma", "headers", "X-Api-Key"),
                        "X-Org": s("gamma", "headers", "X-Org"),
                    },
                    "auth": s("gamma", "auth"),
                },
                "delta": {"url": "https://mcp.example/delta", "auth": "oauth"},
                "epsilon": {
                    "url": "http://127.0.0.1:9000/sse",
                    "transport": "sse",
                    "headers": {"Authorization": s("epsilon", "headers", "Authorization")},
                },
            },
        },
    }


def patch_agent(client: TestClient, diff: dict[str, Any]) -> Any:
    return client.patch(URL, json={"agent_settings_diff": diff})


def read(client: TestClient, mode: str) -> dict[str, Any]:
    response = client.get(URL, headers={"X-Expose-Secrets": mode})
    assert response.status_code == 200
    agent: dict[str, Any] = response.json()["agent_settings"]
    return agent


def plaintexts(client: TestClient) -> dict[tuple[str, ...], str]:
    """Every secret as the plaintext read shows it, keyed like secret_tokens."""
    return secret_tokens(read(client, "plaintext"))


def changed(before: dict[Any, str], after: dict[Any, str]) -> set[Any]:
    return {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}


def assert_no_canary_on_disk(home: Path) -> None:
    assert b"canary-" not in settings_bytes(home)


@pytest.fixture
def seeded(client: TestClient, home: Path) -> TestClient:
    response = patch_agent(client, seed_agent())
    assert response.status_code == 200, response.text
    return client


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
