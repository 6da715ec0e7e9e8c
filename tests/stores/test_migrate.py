"""agent-server migrate between the file store and PostgreSQL: an exact copy both ways (tokens
byte for byte, ETags unchanged), checked, and never over settings a target already holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from starlette.testclient import TestClient
from support import app_client, cli_env, read_settings, run_cli, secret_tokens

from agent_server import Config

BASE = "/api/settings/mcp-servers"
REGISTRIES = "/api/settings/mcp-registries"
PLAINTEXT = {"X-Expose-Secrets": "plaintext"}


def fill(client: TestClient) -> None:
    """Servers with secrets, a registry with a header secret, an LLM key and a misc setting."""
    for i in range(5):
        config = {"command": f"tool-{i}", "env": {"TOKEN": f"canary-{i}"}, "args": [str(i)]}
        assert client.put(f"{BASE}/server-{i}", json=config).status_code == 201
    remote = {"url": "https://mcp.example.com/mcp?key=canary-q", "headers": {"X-Key": "canary-h"}}
    assert client.put(f"{BASE}/remote", json=remote).status_code == 201
    registry = {"url": "https://registry.example.com", "headers": {"Authorization": "Bearer r"}}
    assert client.put(f"{REGISTRIES}/acme", json=registry).status_code == 201
    settings = {
        "agent_settings_diff": {"llm": {"api_key": "sk-canary", "model": "m"}},
        "misc_settings_diff": {"theme": "dark"},
    }
    assert client.patch("/api/settings", json=settings).status_code == 200


def etags_and_plaintext(client: TestClient) -> dict[str, Any]:
    """Every resource's ETag and plaintext view, as a client sees them."""
    seen: dict[str, Any] = {}
    for collection, key in ((BASE, "servers"), (REGISTRIES, "registries")):
        listing = client.get(collection)
        seen[collection] = listing.headers["etag"]
        for entry in listing.json()[key]:
            name = entry.get("name") or entry.get("id")
            response = client.get(f"{collection}/{name}", headers=PLAINTEXT)
            seen[f"{collection}/{name}"] = (response.headers["etag"], response.json()["config"])
    seen["settings"] = client.get("/api/settings", headers=PLAINTEXT).json()
    return seen


def key_env(home: Path) -> dict[str, str]:
    return {
        "AGENT_SERVER_SECRET_KEY": (home / "secret.key").read_text().strip(),
        "AGENT_SERVER_ETAG_KEY": (home / "etag.key").read_text().strip(),
    }


def filled_source(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A file-store home filled by `fill`, and what a client saw of it."""
    source = tmp_path / "source"
    with app_client(Config(home=source)) as client:
        fill(client)
        return source, etags_and_plaintext(client)


def on_postgres(tmp_path: Path, database: str, keys: dict[str, str]) -> Config:
    """A replica's config on `database` with the keys of the migrated settings."""
    return Config(
        home=tmp_path / "replica",
        store=database,
        secret_key=keys["AGENT_SERVER_SECRET_KEY"],
        etag_key=keys["AGENT_SERVER_ETAG_KEY"],
    )


def database_tokens(database: str) -> dict[tuple[str, ...], str]:
    """The secret slots as the database rows hold them, text for text."""
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT config::text, name FROM agent_server_entries "
            "WHERE kind = 'server' AND config IS NOT NULL"
        ).fetchall()
        rest = conn.execute("SELECT rest FROM agent_server_document").fetchone()
    import json

    assert rest is not None
    agent = rest[0]["agent_settings"]
    servers = {name: json.loads(text) for text, name in rows}
    return secret_tokens({**agent, "mcp_config": {"mcpServers": servers}})


def test_migrate_to_postgresql_and_back_keeps_tokens_byte_for_byte_and_etags(
    tmp_path: Path, database: str
) -> None:
    source, before = filled_source(tmp_path)
    original = (source / "settings.json").read_bytes()
    tokens = secret_tokens(read_settings(source)["agent_settings"])

    there = run_cli("migrate", "--from", f"file:{source}", "--to", database, env=cli_env())
    assert there.returncode == 0, there.stderr
    assert "canary" not in there.stderr + there.stdout
    assert database_tokens(database) == tokens

    keys = key_env(source)
    with app_client(on_postgres(tmp_path, database, keys)) as client:
        assert etags_and_plaintext(client) == before

    target = tmp_path / "back"
    back = run_cli("migrate", "--from", database, "--to", f"file:{target}", env=cli_env(**keys))
    assert back.returncode == 0, back.stderr
    assert (target / "etag.key").read_text().strip() == keys["AGENT_SERVER_ETAG_KEY"]
    assert secret_tokens(read_settings(target)["agent_settings"]) == tokens
    assert (target / "settings.json").read_bytes() == original
    with app_client(Config(home=target, secret_key=keys["AGENT_SERVER_SECRET_KEY"])) as client:
        assert etags_and_plaintext(client) == before


def test_migrate_refuses_a_target_that_holds_settings_unless_forced(
    tmp_path: Path, database: str
) -> None:
    source, _ = filled_source(tmp_path)
    keys = key_env(source)
    replica = on_postgres(tmp_path, database, keys)
    with app_client(replica) as client:  # the target holds one non-default setting only
        assert (
            client.patch("/api/settings", json={"misc_settings_diff": {"x": 1}}).status_code == 200
        )
        held = client.get("/api/settings").json()

    refused = run_cli("migrate", "--from", f"file:{source}", "--to", database, env=cli_env())
    assert refused.returncode == 2
    assert "--force" in refused.stderr and "nothing was copied" in refused.stderr
    with app_client(replica) as client:
        assert client.get("/api/settings").json() == held

    forced = run_cli(
        "migrate", "--from", f"file:{source}", "--to", database, "--force", env=cli_env()
    )
    assert forced.returncode == 0, forced.stderr
    with app_client(replica) as client:
        assert client.get("/api/settings").json()["misc_settings"] == {"theme": "dark"}
        assert len(client.get(BASE).json()["servers"]) == 6

    # A file target that holds a server is refused the same way.
    other = tmp_path / "other"
    with app_client(Config(home=other, secret_key=keys["AGENT_SERVER_SECRET_KEY"])) as client:
        assert client.put(f"{BASE}/mine", json={"command": "mine"}).status_code == 201
    mine = (other / "settings.json").read_bytes()
    refused = run_cli("migrate", "--from", database, "--to", f"file:{other}", env=cli_env(**keys))
    assert refused.returncode == 2
    assert (other / "settings.json").read_bytes() == mine
