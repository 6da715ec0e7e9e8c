"""Replicas for the PostgreSQL store tests: real `agent-server serve` processes, each with its
own home, all on one database with the same keys and session key."""

from __future__ import annotations

import secrets
from pathlib import Path

from cryptography.fernet import Fernet
from support import ServerProcess, cli_env

SESSION_KEY = "replica-session-key-0123456789abcdef"


class Keys:
    """The keys every replica of one deployment shares."""

    def __init__(self) -> None:
        self.secret = Fernet.generate_key().decode()
        self.etag = secrets.token_hex(32)

    def env(self, database: str, **extra: str) -> dict[str, str]:
        values = {
            "AGENT_SERVER_STORE": database,
            "AGENT_SERVER_SECRET_KEY": self.secret,
            "AGENT_SERVER_ETAG_KEY": self.etag,
            "AGENT_SERVER_SESSION_API_KEYS": SESSION_KEY,
        }
        return cli_env(**{**values, **extra})


def launch(root: Path, env: dict[str, str], count: int) -> list[ServerProcess]:
    """`count` replicas launched at once (not yet ready), each in a home of its own."""
    replicas = []
    for i in range(count):
        home = root / f"replica-{i}"
        home.mkdir(parents=True, exist_ok=True)
        replicas.append(ServerProcess(home, env=env))
    return replicas
