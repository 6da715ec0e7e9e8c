"""What a write does to the PostgreSQL rows: a one-server write touches that server's row and
the document version only, whichever route made it; rows hold the stored config exactly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient
from support import app_client

from agent_server import Config

BASE = "/api/settings/mcp-servers"


@pytest.fixture
def client(tmp_path: Path, database: str) -> Iterator[TestClient]:
    config = Config(
        home=tmp_path / "home",
        store=database,
        secret_key=Fernet.generate_key().decode(),
        etag_key="ab" * 32,
    )
    with app_client(config) as client:
        yield client


def rows(database: str) -> dict[str, tuple[int, str | None]]:
    """name -> (version, config text) of every server row, and the document's version."""
    with psycopg.connect(database) as conn:
        found = conn.execute(
            "SELECT name, version, config::text FROM agent_server_entries WHERE kind = 'server'"
        ).fetchall()
        document = conn.execute("SELECT version FROM agent_server_document").fetchone()
    assert document is not None
    return {"(document)": (document[0], None)} | {name: (v, text) for name, v, text in found}


def test_a_one_server_write_touches_only_its_row_and_the_document_version(
    client: TestClient, database: str
) -> None:
    for name in ("a", "b", "c"):
        config = {"command": name, "env": {"KEY": f"secret-{name}"}}
        assert client.put(f"{BASE}/{name}", json=config).status_code == 201
    before = rows(database)

    response = client.patch(f"{BASE}/b", json={"description": "one"})
    assert response.status_code == 200, response.text
    after = rows(database)
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {"(document)", "b"}
    assert after["(document)"][0] == before["(document)"][0] + 1
    assert after["b"][0] == after["(document)"][0]

    # The row holds the stored config exactly: the token the encrypted view shows, as text.
    shown = client.get(f"{BASE}/b", headers={"X-Expose-Secrets": "encrypted"}).json()["config"]
    stored = after["b"][1]
    assert stored is not None and json.loads(stored) == shown
    assert "secret-b" not in stored

    # A whole-document PATCH that changes one server touches that row only, too.
    settings = client.get("/api/settings", headers={"X-Expose-Secrets": "encrypted"}).json()
    servers = settings["agent_settings"]["mcp_config"]["mcpServers"]
    servers["c"] = {**servers["c"], "description": "two"}
    patched = client.patch(
        "/api/settings", json={"agent_settings_diff": {"mcp_config": {"mcpServers": servers}}}
    )
    assert patched.status_code == 200, patched.text
    last = rows(database)
    assert {name for name in last if last[name] != after[name]} == {"(document)", "c"}

    # A deletion leaves a tombstone (NULL config) at the new version, so replicas learn of it.
    assert client.delete(f"{BASE}/a").status_code == 204
    gone = rows(database)
    assert gone["a"] == (gone["(document)"][0], None)
    assert [s["name"] for s in client.get(BASE).json()["servers"]] == ["b", "c"]
    assert client.put(f"{BASE}/a", json={"command": "again"}).status_code == 201
    assert [s["name"] for s in client.get(BASE).json()["servers"]] == ["a", "b", "c"]
