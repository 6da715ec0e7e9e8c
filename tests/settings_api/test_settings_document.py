"""GET and PATCH /api/settings: the document's shape, JSON Merge Patch, and the mcp_config
sibling key through every kind of write."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from settings_seed import (
    CANARY_ENV,
    CANARY_LLM,
    PREFS,
    URL,
    patch,
    seed_agent,
    seeded,
)
from starlette.testclient import TestClient
from support import MASK, read_settings, settings_written

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
