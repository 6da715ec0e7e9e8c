"""The redacted settings a running server keeps, made again for each version from the servers
that changed, are byte for byte what a fresh server answers for the same document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from settings_seed import CANARY_AUTH, CANARY_ENV, CANARY_HEADER, CANARY_LLM, URL, patch, seed_agent
from starlette.testclient import TestClient

SERVERS = "/api/settings/mcp-servers"


def stdio(index: int, **more: Any) -> dict[str, Any]:
    return {"command": "uvx", "args": [f"tool-{index}"], "env": {"T": CANARY_ENV}, **more}


def assert_answered_as_fresh(client: TestClient, fresh: Callable[[], TestClient]) -> None:
    answer = client.get(URL)
    assert answer.status_code == 200, answer.text
    assert answer.content == fresh().get(URL).content
    for canary in (CANARY_ENV, CANARY_HEADER, CANARY_AUTH, CANARY_LLM):
        assert canary not in answer.text


def test_the_settings_after_each_write_are_a_fresh_servers(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    assert patch(client, agent=seed_agent()).status_code == 200
    for index in range(20):
        assert client.put(f"{SERVERS}/s{index:02d}", json=stdio(index)).status_code == 201
    assert_answered_as_fresh(client, make_client)

    steps: list[Callable[[], httpx.Response]] = [
        lambda: client.put(f"{SERVERS}/alpha", json=stdio(100)),  # the first, replaced
        lambda: client.put(f"{SERVERS}/s19", json=stdio(19, description="the last")),
        lambda: client.put(f"{SERVERS}/new-one", json=stdio(101)),  # added: last
        lambda: client.put(f"{SERVERS}/new-two", json=stdio(102)),
        lambda: client.delete(f"{SERVERS}/alpha"),  # the first goes
        lambda: client.delete(f"{SERVERS}/new-two"),  # the last goes
        lambda: client.delete(f"{SERVERS}/s07"),
        lambda: client.patch(f"{SERVERS}/s03", json={"env": {"T": "other"}, "enabled": False}),
        lambda: patch(client, misc={"theme": "light"}),  # beside the servers
        lambda: patch(client, agent={"llm": {"model": "gpt-y"}}),
        lambda: patch(client, agent={"mcp_config": {"x-client-prefs": {"theme": "light"}}}),
        lambda: client.put(f"{SERVERS}/s05", json=stdio(5, timeout=3)),
        lambda: patch(  # many at once, in one whole-document PATCH
            client,
            agent={
                "mcp_config": {"mcpServers": {f"s{i:02d}": stdio(i, timeout=9) for i in range(12)}}
            },
        ),
        lambda: client.put(  # not shown: the document changes, the answer does not
            "/api/settings/mcp-registries/more", json={"url": "https://r.example"}
        ),
        lambda: patch(client, agent={"agent_kind": "acp"}),  # no servers shown
        lambda: patch(client, agent={"agent_kind": "openhands"}),
        lambda: client.put(f"{SERVERS}/after", json=stdio(103)),
    ]
    for step in steps:
        answer = step()
        assert answer.status_code < 300, answer.text
        assert_answered_as_fresh(client, make_client)
