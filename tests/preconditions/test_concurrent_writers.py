"""Concurrent writers with If-Match: one wins, the others get 412, nothing is lost."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from preconditions_support import (
    PLAINTEXT,
    create,
    etag_of,
    url,
)
from support import (
    ServerProcess,
)

# --- concurrent writers -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server with two worker processes, shared by the concurrency tests."""
    home = tmp_path_factory.mktemp("workers") / "home"
    server = ServerProcess(home, "--workers", "2")
    try:
        yield server.wait_ready()
    finally:
        server.stop()


def test_writes_to_different_servers_never_conflict(two_workers: ServerProcess) -> None:
    def writer(index: int) -> list[int]:
        name = f"server-{index}"
        statuses = []
        with two_workers.client(timeout=30) as http:
            etag = create(http, name, {"command": "x", "env": {"N": "start"}})
            for step in range(10):
                response = http.patch(
                    url(name), json={"env": {"N": f"{index}-{step}"}}, headers={"If-Match": etag}
                )
                statuses.append(response.status_code)
                etag = response.headers.get("etag", etag)
            assert etag_of(http, name) == etag
        return statuses

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(writer, range(8)))
    assert results == [[200] * 10] * 8
    with two_workers.client() as http:
        for index in range(8):
            config = http.get(url(f"server-{index}"), headers=PLAINTEXT).json()["config"]
            assert config["env"] == {"N": f"{index}-9"}


def test_of_two_writers_with_the_same_if_match_exactly_one_wins(
    two_workers: ServerProcess,
) -> None:
    with two_workers.client() as http:
        create(http, "race", {"command": "x", "description": "start"})
    for round_ in range(6):
        with two_workers.client() as http:
            etag = etag_of(http, "race")
        barrier = threading.Barrier(2)

        def writer(
            index: int, etag: str = etag, round_: int = round_, barrier: threading.Barrier = barrier
        ) -> httpx.Response:
            with two_workers.client(timeout=30) as http:
                http.get("/health")  # connect before the race starts
                barrier.wait()
                return http.patch(
                    url("race"),
                    json={"description": f"round {round_} writer {index}"},
                    headers={"If-Match": etag},
                )

        with ThreadPoolExecutor(2) as pool:
            responses = list(pool.map(writer, range(2)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 412], statuses
        winner = next(r for r in responses if r.status_code == 200)
        loser = next(r for r in responses if r.status_code == 412)
        assert loser.headers["etag"] == winner.headers["etag"]
        with two_workers.client() as http:
            final = http.get(url("race")).json()
        assert final["config"]["description"] == winner.json()["config"]["description"]
        assert final["etag"] == winner.headers["etag"]
