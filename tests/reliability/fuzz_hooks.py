"""Schemathesis hooks for test_fuzz.py, loaded by the `schemathesis run` child process through
SCHEMATHESIS_HOOKS (this file is not a test module).

- Item routes get the names of seeded servers as well as generated ones, so the fuzzer reaches
  existing resources and not only 404s.
- After every write the seeded servers are put back (and the agent kind set back to openhands),
  so a DELETE or a kind switch does not leave the rest of the run with nothing to hit.
- A request that the HTTP layer (uvicorn's h11 parser) rejects before the app sees it is not
  the app's answer: its failures are dropped, and only those.

The server's URL and the seeded configs come from the environment the test sets.
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import schemathesis
from hypothesis import strategies as st

URL_VAR = "RELIABILITY_FUZZ_URL"
SEEDS_VAR = "RELIABILITY_FUZZ_SEEDS"
SERVERS = "/api/settings/mcp-servers"
# uvicorn answers a request it cannot parse (h11) with this exact plain-text 400 itself.
TRANSPORT_REJECTION = b"Invalid HTTP request received."

_URL = os.environ[URL_VAR]
_HEADERS = {"X-Session-API-Key": os.environ["RELIABILITY_FUZZ_KEY"]}
_SEEDS: dict[str, dict[str, Any]] = json.loads(os.environ[SEEDS_VAR])


def restore_seeds() -> None:
    """The agent kind back to openhands and every seeded server as it was seeded."""
    with httpx.Client(base_url=_URL, headers=_HEADERS, timeout=30) as http:
        settings = http.get("/api/settings")
        if settings.status_code != 200:
            raise RuntimeError(f"GET /api/settings answered {settings.status_code}")
        if settings.json()["agent_settings"].get("agent_kind") != "openhands":
            diff = {"agent_settings_diff": {"agent_kind": "openhands"}}
            answer = http.patch("/api/settings", json=diff)
            if answer.status_code != 200:
                raise RuntimeError(f"switching back to openhands answered {answer.status_code}")
        for name, config in _SEEDS.items():
            answer = http.put(f"{SERVERS}/{name}", json=config)
            if answer.status_code not in (200, 201):
                raise RuntimeError(f"re-seeding {name} answered {answer.status_code}")


@schemathesis.hook
def before_generate_path_parameters(
    context: schemathesis.HookContext, strategy: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    operation = context.operation
    if operation is None or "{name}" not in operation.path:
        return strategy
    return st.one_of(strategy, st.sampled_from([{"name": name} for name in sorted(_SEEDS)]))


@schemathesis.hook
def after_call(
    context: schemathesis.HookContext, case: schemathesis.Case, response: schemathesis.Response
) -> None:
    if case.method.upper() != "GET":
        restore_seeds()


@schemathesis.hook
def filter_failure(
    context: schemathesis.HookContext,
    failure: Any,
    case: schemathesis.Case,
    response: schemathesis.Response,
) -> bool:
    rejected_by_http_layer = (
        response.status_code == 400 and response.content.strip() == TRANSPORT_REJECTION
    )
    return not rejected_by_http_layer
