"""What a server config may hold: masks and tokens kept or refused, invalid configs named by
field, unknown fields kept, and the agent kind that has no servers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastmcp.mcp_config import MCPConfig as FastMCPConfig
from servers_seed import (
    AUTH,
    BASE,
    ENCRYPTED,
    ENV_A,
    HDR,
    REMOTE,
    STDIO,
    assert_no_canary,
    created,
    plaintext,
    put,
    tokens,
    url,
)
from starlette.testclient import TestClient
from support import MASK, settings_bytes

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
