"""Fixtures of the secrets suites."""

from __future__ import annotations

from pathlib import Path

import pytest
from secrets_support import (
    patch_agent,
    seed_agent,
)
from starlette.testclient import TestClient


@pytest.fixture
def seeded(client: TestClient, home: Path) -> TestClient:
    response = patch_agent(client, seed_agent())
    assert response.status_code == 200, response.text
    return client
