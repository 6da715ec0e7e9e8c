"""MCP servers as resources under /api/settings/mcp-servers: routes, config rules, agent kind, and
how every write changes one entry of the one settings document and nothing else.

Every test goes through HTTP (a TestClient over a real app) against a settings home in a temp
folder, with real Fernet encryption; what is on disk is read back from settings.json.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastmcp.mcp_config import MCPConfig as FastMCPConfig
from starlette.testclient import TestClient
from support import MASK, read_settings, secret_tokens, settings_bytes, settings_written

BASE = "/api/settings/mcp-servers"
PLAINTEXT = {"X-Expose-Secrets": "plaintext"}
ENCRYPTED = {"X-Expose-Secrets": "encrypted"}

ENV_A = "canary-env-a-71c2"
ENV_B = "canary-env-b-9d03"
HDR = "canary-hdr-5e1d"
AUTH = "canary-auth-3f8a"
LLM_KEY = "canary-llm-0c4b"
CANARIES = (ENV_A, ENV_B, HDR, AUTH, LLM_KEY)

STDIO: dict[str, Any] = {"command": "uvx", "args": ["files-mcp"], "env": {"A": ENV_A, "B": ENV_B}}
REMOTE: dict[str, Any] = {
    "url": "https://mcp.example.com/mcp",
    "transport": "sse",
    "headers": {"X-Api-Key": HDR},
    "auth": AUTH,
}
SUMMARY_KEYS = {
    *("name", "source", "transport_kind", "transport", "enabled", "description", "icon"),
    *("registry", "update_available"),
}


def url(name: str) -> str:
    return f"{BASE}/{name}"


def put(client: TestClient, name: str, config: Any, **headers: str) -> httpx.Response:
    return client.put(url(name), json=config, headers=headers)


def created(client: TestClient, name: str, config: dict[str, Any]) -> str:
    """PUT a new server; its ETag."""
    response = put(client, name, config)
    assert response.status_code == 201, response.text
    return response.headers["etag"]


def plaintext(client: TestClient, name: str) -> dict[str, Any]:
    response = client.get(url(name), headers=PLAINTEXT)
    assert response.status_code == 200, response.text
    config: dict[str, Any] = response.json()["config"]
    return config


def stored_servers(home: Path) -> dict[str, Any]:
    servers: dict[str, Any] = read_settings(home)["agent_settings"]["mcp_config"]["mcpServers"]
    return servers


def tokens(home: Path) -> dict[tuple[str, ...], str]:
    return secret_tokens(read_settings(home)["agent_settings"])


def assert_no_canary(text: str) -> None:
    for canary in CANARIES:
        assert canary not in text


def seed_document(client: TestClient) -> None:
    """A document with an LLM key, misc settings, a sibling key of mcpServers and two servers."""
    response = client.patch(
        "/api/settings",
        json={
            "agent_settings_diff": {
                "llm": {"model": "gpt-test", "api_key": LLM_KEY},
                "mcp_config": {
                    "x-ide": {"theme": "dark", "pinned": ["a", "b"]},
                    "mcpServers": {"a": STDIO, "b": REMOTE},
                },
            },
            "misc_settings_diff": {"ui": {"lang": "fr"}, "n": 3},
        },
    )
    assert response.status_code == 200, response.text


def without_server(document: dict[str, Any], name: str) -> dict[str, Any]:
    rest = copy.deepcopy(document)
    rest["agent_settings"]["mcp_config"]["mcpServers"].pop(name, None)
    return rest


# --- routes -------------------------------------------------------------------------------------


def test_list_holds_summaries_sorted_by_name_without_secrets(client: TestClient) -> None:
    created(client, "zeta", REMOTE)
    created(client, "alpha", STDIO)
    created(
        client,
        "Mid",
        {**STDIO, "description": "a tool", "icon": "https://x/i.png", "enabled": False},
    )
    created(client, "typed", {"command": "t", "type": "stdio"})
    response = client.get(BASE)
    assert response.status_code == 200
    servers = response.json()["servers"]
    assert list(response.json()) == ["servers", "etag"]
    assert response.json()["etag"] == response.headers["etag"]
    assert [s["name"] for s in servers] == sorted(["zeta", "alpha", "Mid", "typed"])
    by_name = {s.pop("name"): s for s in servers}
    for name, summary in by_name.items():
        assert summary.pop("etag") == client.get(url(name)).headers["etag"]
        assert set(summary) == SUMMARY_KEYS - {"name"}
    assert by_name["zeta"] == {
        "source": "user",
        "transport_kind": "remote",
        "transport": "sse",
        "enabled": True,
        "description": None,
        "icon": None,
        "registry": None,
        "update_available": None,
    }
    assert by_name["alpha"] == {
        "source": "user",
        "transport_kind": "stdio",
        "transport": None,
        "enabled": True,
        "description": None,
        "icon": None,
        "registry": None,
        "update_available": None,
    }
    assert by_name["Mid"]["enabled"] is False
    assert by_name["Mid"]["description"] == "a tool"
    assert by_name["Mid"]["icon"] == "https://x/i.png"
    assert by_name["typed"]["transport"] == "stdio"
    assert_no_canary(response.text)


def test_list_etag_changes_with_any_server_and_answers_304(client: TestClient) -> None:
    created(client, "a", STDIO)
    created(client, "b", REMOTE)
    first = client.get(BASE)
    etag = first.headers["etag"]
    for header in (etag, "W/" + etag, f'"other", {etag}'):
        again = client.get(BASE, headers={"If-None-Match": header})
        assert again.status_code == 304
        assert again.headers["etag"] == etag
        assert again.content == b""

    changes: list[Callable[[], httpx.Response]] = [
        lambda: client.patch(url("b"), json={"headers": {"X-Api-Key": "new-value"}}),
        lambda: client.patch(url("a"), json={"description": "now described"}),
        lambda: put(client, "c", {"command": "c"}),
        lambda: client.delete(url("c")),
    ]
    for change in changes:
        assert change().status_code in (200, 201, 204)
        listing = client.get(BASE, headers={"If-None-Match": etag})
        assert listing.status_code == 200
        assert listing.headers["etag"] != etag
        etag = listing.headers["etag"]


def test_get_answers_name_source_etag_and_config(client: TestClient) -> None:
    created(client, "files", STDIO)
    response = client.get(url("files"))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"name", "source", "etag", "config"}
    assert body["name"] == "files"
    assert body["source"] == "user"
    assert response.headers["etag"] == body["etag"]
    assert body["config"] == {**STDIO, "env": {"A": MASK, "B": MASK}}


def test_get_missing_server_is_404(client: TestClient) -> None:
    assert client.get(url("nobody")).status_code == 404


def test_expose_secrets_modes(client: TestClient, home: Path) -> None:
    created(client, "files", STDIO)
    created(client, "remote", REMOTE)
    disk = tokens(home)
    for headers in ({}, {"X-Expose-Secrets": "redacted"}):
        stdio = client.get(url("files"), headers=headers)
        remote = client.get(url("remote"), headers=headers)
        assert stdio.json()["config"]["env"] == {"A": MASK, "B": MASK}
        assert remote.json()["config"]["headers"] == {"X-Api-Key": MASK}
        assert remote.json()["config"]["auth"] == MASK
        assert_no_canary(stdio.text + remote.text)

    stdio = client.get(url("files"), headers=ENCRYPTED).json()["config"]
    remote = client.get(url("remote"), headers=ENCRYPTED).json()["config"]
    assert stdio["env"] == {"A": disk[("files", "env", "A")], "B": disk[("files", "env", "B")]}
    assert remote["headers"] == {"X-Api-Key": disk[("remote", "headers", "X-Api-Key")]}
    assert remote["auth"] == disk[("remote", "auth")]
    for token in disk.values():
        assert token not in CANARIES
        assert token.startswith("gAAAAA")

    assert plaintext(client, "files") == STDIO
    assert plaintext(client, "remote") == REMOTE

    bad = client.get(url("files"), headers={"X-Expose-Secrets": "everything"})
    assert bad.status_code == 400
    assert "redacted" in bad.json()["detail"]


def test_get_if_none_match_answers_304_with_etag(client: TestClient) -> None:
    etag = created(client, "files", STDIO)
    response = client.get(url("files"), headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.headers["etag"] == etag
    other = client.get(url("files"), headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_put_creates_with_201_and_location_then_replaces_with_200(
    client: TestClient,
) -> None:
    first = put(client, "files", STDIO)
    assert first.status_code == 201
    assert first.headers["location"] == f"{BASE}/files"
    replacement = {"command": "npx", "args": ["other"], "env": {"C": "c-value"}}
    second = put(client, "files", replacement)
    assert second.status_code == 200
    assert "location" not in second.headers
    assert plaintext(client, "files") == replacement  # replaced, not merged: A and B are gone


def test_patch_is_a_merge_patch_of_the_stored_config(client: TestClient, home: Path) -> None:
    created(client, "files", {**STDIO, "env": {**STDIO["env"], "C": "c-value"}})
    before = tokens(home)

    deleted = client.patch(url("files"), json={"env": {"A": None}})
    assert deleted.status_code == 200
    assert plaintext(client, "files")["env"] == {"B": ENV_B, "C": "c-value"}

    added = client.patch(url("files"), json={"env": {"D": "d-value"}, "description": "files"})
    assert added.status_code == 200
    config = plaintext(client, "files")
    assert config == {
        "command": "uvx",
        "args": STDIO["args"],
        "env": {"B": ENV_B, "C": "c-value", "D": "d-value"},
        "description": "files",
    }
    after = tokens(home)
    assert after[("files", "env", "B")] == before[("files", "env", "B")]
    assert after[("files", "env", "C")] == before[("files", "env", "C")]
    assert ("files", "env", "A") not in after


def test_patch_never_creates(client: TestClient, home: Path) -> None:
    response = client.patch(url("ghost"), json=STDIO)
    assert response.status_code == 404
    assert client.get(url("ghost")).status_code == 404
    created(client, "other", STDIO)
    before = settings_bytes(home)
    assert client.patch(url("ghost"), json={"command": "x"}).status_code == 404
    assert settings_bytes(home) == before


def test_delete_answers_204_then_404(client: TestClient, home: Path) -> None:
    created(client, "files", STDIO)
    response = client.delete(url("files"))
    assert response.status_code == 204
    assert response.content == b""
    assert client.get(url("files")).status_code == 404
    assert "files" not in stored_servers(home)
    assert client.delete(url("files")).status_code == 404


def test_successful_writes_answer_new_etag_and_redacted_server(client: TestClient) -> None:
    writes = [
        lambda: put(client, "remote", REMOTE),
        lambda: put(client, "remote", {**REMOTE, "description": "changed"}),
        lambda: client.patch(url("remote"), json={"headers": {"X-Other": "canary-env-b-9d03"}}),
    ]
    previous = None
    for write in writes:
        response = write()
        assert response.status_code in (200, 201)
        body = response.json()
        assert body["name"] == "remote"
        assert body["source"] == "user"
        assert response.headers["etag"] == body["etag"] != previous
        assert client.get(url("remote")).headers["etag"] == body["etag"]
        assert set(body["config"]["headers"].values()) == {MASK}
        assert body["config"]["auth"] == MASK
        assert_no_canary(response.text)
        previous = body["etag"]


@pytest.mark.parametrize("name", ["a%20b", "caf%C3%A9", "x" * 129, "a%09b", "a%22b", "a%0A"])
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_invalid_names_are_400_with_the_rule(
    client: TestClient, home: Path, method: str, name: str
) -> None:
    response = client.request(method, url(name), json=None if method == "GET" else STDIO)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "128" in detail
    assert "_ . @ : -" in detail
    assert not settings_written(home)


def test_names_of_allowed_characters_up_to_128_are_accepted(client: TestClient) -> None:
    for name in ("x" * 128, "a", "Az09_.@:-name"):
        assert put(client, name, STDIO).status_code == 201
        assert client.get(url(name)).json()["name"] == name
    assert [s["name"] for s in client.get(BASE).json()["servers"]] == sorted(
        ["x" * 128, "a", "Az09_.@:-name"]
    )


@pytest.mark.parametrize("path", ["a/b", "a%2Fb", "a/b/c"])
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_a_slash_never_matches_a_route(
    client: TestClient, home: Path, method: str, path: str
) -> None:
    created(client, "a", STDIO)
    before = settings_bytes(home)
    response = client.request(method, url(path), json=None if method == "GET" else STDIO)
    assert response.status_code == 404
    assert settings_bytes(home) == before


# --- config rules -------------------------------------------------------------------------------


def test_mask_keeps_the_stored_value(client: TestClient, home: Path) -> None:
    created(client, "files", STDIO)
    created(client, "remote", REMOTE)
    before = tokens(home)
    response = put(client, "files", {**STDIO, "env": {"A": MASK, "B": "new-b"}})
    assert response.status_code == 200
    response = put(client, "remote", {**REMOTE, "headers": {"X-Api-Key": MASK}, "auth": MASK})
    assert response.status_code == 200
    after = tokens(home)
    assert after[("files", "env", "A")] == before[("files", "env", "A")]
    assert after[("files", "env", "B")] != before[("files", "env", "B")]
    assert after[("remote", "headers", "X-Api-Key")] == before[("remote", "headers", "X-Api-Key")]
    assert after[("remote", "auth")] == before[("remote", "auth")]
    assert plaintext(client, "files")["env"] == {"A": ENV_A, "B": "new-b"}
    assert plaintext(client, "remote") == REMOTE


def test_mask_where_nothing_is_stored_is_422(client: TestClient, home: Path) -> None:
    new = put(client, "files", {"command": "x", "env": {"A": MASK}})
    assert new.status_code == 422
    assert new.json()["detail"][0]["loc"][-2:] == ["env", "A"]
    created(client, "files", STDIO)
    created(client, "remote", {"url": "https://mcp.example.com/mcp"})
    before = settings_bytes(home)
    for response, field in (
        (client.patch(url("files"), json={"env": {"C": MASK}}), ["env", "C"]),
        (put(client, "files", {**STDIO, "env": {"A": MASK, "Z": MASK}}), ["env", "Z"]),
        (client.patch(url("remote"), json={"auth": MASK}), ["auth"]),
        (client.patch(url("remote"), json={"headers": {"H": MASK}}), ["headers", "H"]),
    ):
        assert response.status_code == 422
        locs = [error["loc"] for error in response.json()["detail"]]
        assert any(loc[-len(field) :] == field for loc in locs), locs
    assert settings_bytes(home) == before


def test_put_back_an_encrypted_read_keeps_tokens_and_etag(client: TestClient, home: Path) -> None:
    created(client, "files", STDIO)
    created(client, "remote", REMOTE)
    for name in ("files", "remote"):
        read = client.get(url(name), headers=ENCRYPTED)
        before = tokens(home)
        response = put(client, name, read.json()["config"])
        assert response.status_code == 200
        assert response.headers["etag"] == read.headers["etag"]
        assert tokens(home) == before
        assert client.get(url(name)).headers["etag"] == read.headers["etag"]


def test_a_token_is_accepted_only_back_in_its_own_slot(client: TestClient, home: Path) -> None:
    created(client, "files", STDIO)
    token_a = client.get(url("files"), headers=ENCRYPTED).json()["config"]["env"]["A"]
    before = settings_bytes(home)
    for name, config in (
        ("copy", {"command": "uvx", "env": {"COPIED": token_a}}),  # another server
        ("files", {**STDIO, "env": {**STDIO["env"], "B": token_a}}),  # another slot
    ):
        response = put(client, name, config)
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["type"] == "secret_token_elsewhere"
        assert token_a not in response.text
    assert settings_bytes(home) == before


def test_only_changed_values_are_reencrypted(client: TestClient, home: Path) -> None:
    config = {"command": "x", "env": {"A": "1-one", "B": "2-two", "C": "3-three"}}
    created(client, "files", config)
    created(client, "remote", REMOTE)
    before = tokens(home)
    response = put(client, "files", {**config, "env": {**config["env"], "B": "2-changed"}})
    assert response.status_code == 200
    after = tokens(home)
    changed = {slot for slot in before if after.get(slot) != before[slot]}
    assert changed == {("files", "env", "B")}

    same = put(client, "remote", REMOTE)  # the same plaintext again: no token changes
    assert same.status_code == 200
    assert tokens(home) == after


def test_a_write_never_rewrites_another_servers_tokens(client: TestClient, home: Path) -> None:
    created(client, "files", STDIO)
    created(client, "remote", REMOTE)
    remote_tokens = {k: v for k, v in tokens(home).items() if k[0] == "remote"}
    assert client.patch(url("files"), json={"env": {"A": "other"}}).status_code == 200
    assert put(client, "files", {"command": "z", "env": {"Q": "q"}}).status_code == 200
    assert put(client, "third", STDIO).status_code == 201
    assert client.delete(url("files")).status_code == 204
    assert {k: v for k, v in tokens(home).items() if k[0] == "remote"} == remote_tokens


INVALID_PUTS: list[tuple[str, dict[str, Any], list[str | int]]] = [
    ("stdio without command", {"args": ["x"], "env": {"A": ENV_A}}, []),
    ("empty command", {"command": "", "env": {"A": ENV_A}}, ["command"]),
    ("ftp url", {"url": "ftp://mcp.example.com/x", "headers": {"H": HDR}}, ["url"]),
    ("url without scheme", {"url": "mcp.example.com/mcp", "auth": AUTH}, ["url"]),
    ("env number", {"command": "x", "env": {"A": ENV_A, "N": 5}}, ["env", "N"]),
    (
        "header number",
        {"url": "https://h.example/mcp", "headers": {"H": HDR, "N": 5}},
        ["headers", "N"],
    ),
    ("header number on stdio", {"command": "x", "headers": {"PIN": 123456}}, ["headers", "PIN"]),
    ("env number on remote", {"url": "https://h.example/mcp", "env": {"PIN": 1}}, ["env", "PIN"]),
    (
        "Authorization with auth",
        {"url": "https://h.example/mcp", "headers": {"Authorization": HDR}, "auth": AUTH},
        ["headers", "Authorization"],
    ),
    (
        "lower-case authorization with auth",
        {"url": "https://h.example/mcp", "headers": {"authorization": HDR}, "auth": AUTH},
        ["headers", "authorization"],
    ),
    ("enabled string", {"command": "x", "env": {"A": ENV_A}, "enabled": "yes"}, ["enabled"]),
    (
        "enabled on remote",
        {"url": "https://h.example/mcp", "auth": AUTH, "enabled": 1},
        ["enabled"],
    ),
    ("command and url", {"command": "x", "url": "https://h.example/mcp", "auth": AUTH}, ["url"]),
    ("args not a list", {"command": "x", "args": ENV_A}, ["args"]),
    ("env not an object", {"command": "x", "env": [ENV_A]}, ["env"]),
]


@pytest.mark.parametrize(
    ("server", "field"), [case[1:] for case in INVALID_PUTS], ids=[c[0] for c in INVALID_PUTS]
)
def test_put_of_an_invalid_config_is_422_naming_the_field(
    client: TestClient, home: Path, server: dict[str, Any], field: list[str | int]
) -> None:
    created(client, "keep", STDIO)
    before = settings_bytes(home)
    for name in ("keep", "new"):
        response = put(client, name, server)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert isinstance(detail, list) and detail
        locs = [error["loc"] for error in detail]
        assert all(isinstance(error["msg"], str) for error in detail)
        assert any(loc[len(loc) - len(field) :] == field for loc in locs), locs
        assert_no_canary(response.text)
        assert settings_bytes(home) == before
    assert client.get(url("new")).status_code == 404


INVALID_PATCHES: list[tuple[str, str, dict[str, Any], list[str | int]]] = [
    ("drop command", "files", {"command": None}, []),
    ("env number", "files", {"env": {"N": 7}}, ["env", "N"]),
    ("ftp url", "remote", {"url": "ftp://mcp.example.com/x"}, ["url"]),
    ("schemeless url", "remote", {"url": "mcp.example.com"}, ["url"]),
    ("header number", "remote", {"headers": {"N": 1.5}}, ["headers", "N"]),
    (
        "authorization beside auth",
        "remote",
        {"headers": {"AUTHORIZATION": HDR}},
        ["headers", "AUTHORIZATION"],
    ),
    ("enabled as a string", "files", {"enabled": "false"}, ["enabled"]),
    ("add url to stdio", "files", {"url": "https://h.example/mcp"}, ["url"]),
]


@pytest.mark.parametrize(
    ("name", "patch", "field"),
    [case[1:] for case in INVALID_PATCHES],
    ids=[c[0] for c in INVALID_PATCHES],
)
def test_patch_to_an_invalid_config_is_422_naming_the_field(
    client: TestClient, home: Path, name: str, patch: dict[str, Any], field: list[str | int]
) -> None:
    created(client, "files", STDIO)
    created(client, "remote", REMOTE)
    before = settings_bytes(home)
    response = client.patch(url(name), json=patch)
    assert response.status_code == 422, response.text
    locs = [error["loc"] for error in response.json()["detail"]]
    assert any(loc[len(loc) - len(field) :] == field for loc in locs), locs
    assert_no_canary(response.text)
    assert settings_bytes(home) == before


def test_enabled_defaults_to_true_and_false_is_kept(client: TestClient) -> None:
    created(client, "on", {"command": "x"})
    created(client, "off", {"command": "x", "enabled": False})
    created(client, "explicit", {"url": "https://h.example/mcp", "enabled": True})
    summaries = {s["name"]: s["enabled"] for s in client.get(BASE).json()["servers"]}
    assert summaries == {"on": True, "off": False, "explicit": True}
    assert plaintext(client, "off")["enabled"] is False
    assert "enabled" not in plaintext(client, "on")
    assert client.patch(url("off"), json={"enabled": True}).status_code == 200
    assert {s["name"]: s["enabled"] for s in client.get(BASE).json()["servers"]}["off"] is True


def test_unknown_fields_round_trip(client: TestClient) -> None:
    config = {
        **REMOTE,
        "x-vendor": {"nested": [1, {"deep": None}, "s"], "flag": True},
        "timeout": 30,
        "sse_read_timeout": 12.5,
        "authentication": {"kind": "custom"},
    }
    created(client, "remote", config)
    assert plaintext(client, "remote") == config
    assert client.get(url("remote")).json()["config"]["x-vendor"] == config["x-vendor"]
    assert client.patch(url("remote"), json={"description": "d"}).status_code == 200
    assert plaintext(client, "remote") == {**config, "description": "d"}


def test_accepted_configs_are_valid_for_fastmcp(client: TestClient) -> None:
    created(client, "files", {**STDIO, "cwd": "/tmp", "x-extra": {"k": 1}})
    created(client, "remote", {**REMOTE, "timeout": 5})
    created(client, "oauth", {"url": "http://127.0.0.1:9/mcp", "auth": "oauth"})
    assert client.patch(url("files"), json={"env": {"A": None, "C": "c"}}).status_code == 200
    for name in ("files", "remote", "oauth"):
        config = plaintext(client, name)
        parsed = FastMCPConfig.model_validate({"mcpServers": {name: config}})
        assert name in parsed.mcpServers
    assert client.get(url("oauth")).json()["config"]["auth"] == "oauth"


# --- agent kind ---------------------------------------------------------------------------------


def test_acp_agent_kind_hides_servers_and_refuses_writes(client: TestClient, home: Path) -> None:
    created(client, "files", STDIO)
    switch = client.patch(
        "/api/settings", json={"agent_settings_diff": {"agent_kind": "acp", "acp_server": "x"}}
    )
    assert switch.status_code == 200
    listing = client.get(BASE)
    assert listing.status_code == 200
    assert listing.json()["servers"] == []
    assert client.get(url("files")).status_code == 404
    before = settings_bytes(home)
    for response in (
        put(client, "files", STDIO),
        put(client, "brand-new", STDIO),
        client.patch(url("files"), json={"description": "x"}),
        client.delete(url("files")),
        client.delete(url("never-existed")),
    ):
        assert response.status_code == 409, response.text
        detail = response.json()["detail"]
        assert "openhands" in detail
        assert "PATCH /api/settings" in detail
    assert settings_bytes(home) == before


# --- one document -------------------------------------------------------------------------------


def test_each_write_changes_only_the_named_entry(client: TestClient, home: Path) -> None:
    seed_document(client)
    writes: list[tuple[str, Callable[[], httpx.Response]]] = [
        ("a", lambda: put(client, "a", {**STDIO, "env": {"A": MASK, "B": "b2"}})),
        ("a", lambda: client.patch(url("a"), json={"env": {"A": None, "N": "n"}})),
        ("c", lambda: put(client, "c", {"command": "c", "env": {"K": "k"}})),
        ("b", lambda: client.patch(url("b"), json={"headers": {"X-Api-Key": MASK, "H2": "h"}})),
        ("a", lambda: client.delete(url("a"))),
        ("c", lambda: client.delete(url("c"))),
    ]
    for name, write in writes:
        before = read_settings(home)
        response = write()
        assert response.status_code in (200, 201, 204), response.text
        after = read_settings(home)
        assert without_server(after, name) == without_server(before, name)
        assert after["agent_settings"]["mcp_config"]["x-ide"] == {
            "theme": "dark",
            "pinned": ["a", "b"],
        }
        assert after["misc_settings"] == {"ui": {"lang": "fr"}, "n": 3}
        assert (
            after["agent_settings"]["llm"]["api_key"] == before["agent_settings"]["llm"]["api_key"]
        )
    settings = client.get("/api/settings", headers=PLAINTEXT).json()
    assert settings["agent_settings"]["llm"]["api_key"] == LLM_KEY
    assert list(settings["agent_settings"]["mcp_config"]["mcpServers"]) == ["b"]


def test_failed_writes_leave_the_file_byte_identical(client: TestClient, home: Path) -> None:
    seed_document(client)
    stale = '"stale-etag"'
    failures: list[Callable[[], httpx.Response]] = [
        lambda: put(client, "a", {"args": []}),
        lambda: put(client, "a", {**STDIO, "env": {"Z": MASK}}),
        lambda: client.patch(url("a"), json={"env": {"A": 5}}),
        lambda: client.patch(url("b"), json={"headers": {"authorization": "Bearer x"}}),
        lambda: client.patch(url("ghost"), json={"command": "x"}),
        lambda: client.delete(url("ghost")),
        lambda: put(client, "a", STDIO, **{"If-Match": stale}),
        lambda: client.delete(url("a"), headers={"If-Match": stale}),
        lambda: put(client, "b", REMOTE, **{"If-None-Match": "*"}),
        lambda: put(client, "a%20b", STDIO),
        lambda: client.put(
            url("a"), content=b'{"command": ', headers={"content-type": "application/json"}
        ),
        lambda: client.put(url("a"), content=b"command=x", headers={"content-type": "text/plain"}),
        lambda: client.put(
            url("a"), content=b"[1, 2]", headers={"content-type": "application/json"}
        ),
        lambda: client.get(url("a"), headers={"X-Expose-Secrets": "all"}),
    ]
    before = settings_bytes(home)
    for failure in failures:
        response = failure()
        assert 400 <= response.status_code < 500, response.text
        assert settings_bytes(home) == before
        assert_no_canary(response.text)


def test_global_patch_of_one_server_changes_only_its_etag(client: TestClient, home: Path) -> None:
    seed_document(client)
    created(client, "c", {"command": "c", "env": {"K": "k"}})

    def etags() -> dict[str, str]:
        return {s["name"]: s["etag"] for s in client.get(BASE).json()["servers"]}

    before, tokens_before = etags(), tokens(home)
    response = client.patch(
        "/api/settings",
        json={"agent_settings_diff": {"mcp_config": {"mcpServers": {"b": {"description": "d"}}}}},
    )
    assert response.status_code == 200
    after = etags()
    assert after["b"] != before["b"]
    assert {k: v for k, v in after.items() if k != "b"} == {
        k: v for k, v in before.items() if k != "b"
    }
    assert tokens(home) == tokens_before
    assert client.get(url("b")).headers["etag"] == after["b"]

    response = client.patch(
        "/api/settings",
        json={"agent_settings_diff": {"mcp_config": {"mcpServers": {"c": {"env": {"K": "k2"}}}}}},
    )
    assert response.status_code == 200
    final = etags()
    assert final["c"] != after["c"]
    assert {k: v for k, v in final.items() if k != "c"} == {
        k: v for k, v in after.items() if k != "c"
    }


def test_tokens_are_real_fernet_tokens_of_the_plaintext(
    client: TestClient, home: Path, secret_key: str
) -> None:
    created(client, "remote", REMOTE)
    fernet = Fernet(secret_key)
    disk = tokens(home)
    assert fernet.decrypt(disk[("remote", "auth")].encode()).decode() == AUTH
    assert fernet.decrypt(disk[("remote", "headers", "X-Api-Key")].encode()).decode() == HDR
    assert_no_canary(json.dumps(read_settings(home)))


@pytest.mark.parametrize("suffix", ["", "/tools", "/health"])
def test_an_encoded_slash_never_reaches_another_route(
    client: TestClient, home: Path, suffix: str
) -> None:
    assert client.put(f"{BASE}/x", json={"command": "x"}).status_code == 201
    before = settings_bytes(home)
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = client.request(method, f"{BASE}/x%2F{suffix.lstrip('/') or 'y'}", json={})
        # /x/tools of a server x that exists would answer 200: the encoded slash must not
        assert response.status_code in (404, 405), (method, response.status_code)
    assert settings_bytes(home) == before


@pytest.mark.parametrize("encoded", ["%2E", "%2E%2E"])
def test_dot_names_are_refused_with_the_rule(client: TestClient, encoded: str) -> None:
    response = client.put(f"{BASE}/{encoded}", json={"command": "x"})
    assert response.status_code == 400
    assert "not . or .." in response.json()["detail"]
