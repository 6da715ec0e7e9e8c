"""Fixtures for the reliability suite: real server processes on real homes, with a real key.

The fixtures of tests/conftest.py (home, secret_key, config, client, make_client, start_server)
apply here too; these add the environment a child server process runs with.
"""

from __future__ import annotations

import pytest
from support import cli_env


@pytest.fixture
def server_env(secret_key: str) -> dict[str, str]:
    """The environment of a child server process: ours less AGENT_SERVER_*, plus the key."""
    return cli_env(AGENT_SERVER_SECRET_KEY=secret_key)
