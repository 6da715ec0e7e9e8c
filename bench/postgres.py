"""The PostgreSQL store under load: `python -m bench.postgres` (`make bench` runs it too).

1. One-server PATCH (one env value) against a database of 10, 1,000, 10,000 and 100,000 servers,
   one client, median latency; target: at most 2 x (a bare `UPDATE` of one row through the same
   driver + the bare-Starlette floor), both measured in the same run on the same cluster.
2. 16 writers, each PATCHing its own server with If-Match (the ETag its last write answered),
   first all on one replica, then spread over three replicas of one database; target: three
   replicas' throughput >= one's, no error, and every server reads back its writer's last value.

The cluster is a temporary one from scripts/local_postgres.py that fsyncs its commits as a
production database does; the floor's UPDATE runs on it too, so the ratio compares like with
like. Results go to bench/results/<date>-postgres.md and .json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import secrets
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.procs import ServerProcess, start_bare_app
from bench.scenarios import WRITE_HEADERS, exchange
from bench.seed import SECRET_KEY, SESSION_HEADERS, SESSION_KEY, build_document, server_name
from bench.stats import median
from scripts.local_postgres import INSTALL_HELP, Cluster, pg_bin

RESULTS = Path(__file__).resolve().parent / "results"
WRITERS = 16
ROUNDS = 3  # the PATCH and its floors take turns this many times


def log(message: str) -> None:
    print(message, flush=True)


def seed(url: str, size: int) -> None:
    """The bench document written through the store itself (rows exactly as a server writes)."""
    from agent_server.document import default_registries
    from agent_server.stores.postgres import PostgresStore

    document = {**build_document(size), "schema_version": 2, "mcp_registries": default_registries()}
    store = PostgresStore(url)
    try:
        store.update(lambda _current: document)
    finally:
        store.close()


def replica(url: str, etag_key: str, log_dir: Path) -> ServerProcess:
    env = {
        "AGENT_SERVER_STORE": url,
        "AGENT_SERVER_SECRET_KEY": SECRET_KEY,
        "AGENT_SERVER_ETAG_KEY": etag_key,
        "AGENT_SERVER_SESSION_API_KEYS": SESSION_KEY,
    }
    home = Path(tempfile.mkdtemp(prefix="home-", dir=log_dir))
    args = ["-m", "agent_server", "serve", "--home", str(home), "--log-level", "warning"]
    return ServerProcess("agent-server-pg", args, log_dir, "/health", env).wait_ready()


def timed(count: int, call: Any) -> list[float]:
    """Milliseconds of `count` calls of call(i), after 5 untimed ones."""
    for i in range(5):
        call(i)
    samples = []
    for i in range(count):
        began = time.perf_counter_ns()
        call(i)
        samples.append((time.perf_counter_ns() - began) / 1e6)
    return samples


def one_size(cluster: Cluster, size: int, count: int, log_dir: Path) -> dict[str, Any]:
    """The PATCH and its two floors in ROUNDS interleaved rounds, pooled: a noisy spell of this
    shared machine (a disk flush, say) lands on the figure and its floors alike."""
    url = cluster.create_database()
    began = time.monotonic()
    seed(url, size)
    log(f"  seeded {size} servers in {time.monotonic() - began:.1f} s")
    server = replica(url, secrets.token_hex(32), log_dir)
    bare: ServerProcess | None = None
    patch_ms: list[float] = []
    update_ms: list[float] = []
    bare_ms: list[float] = []
    share = max(1, count // ROUNDS)
    try:
        with (
            httpx.Client(base_url=server.url, headers=SESSION_HEADERS, timeout=30) as http,
            psycopg.connect(url, autocommit=True) as conn,
        ):

            def patch(i: int) -> None:
                name = server_name(i % min(size, 100))
                response = http.patch(
                    f"/api/settings/mcp-servers/{name}", json={"env": {"A": f"value-{i}"}}
                )
                assert response.status_code == 200, response.text

            def update(i: int) -> None:
                conn.execute(
                    "UPDATE agent_server_entries SET config = %s::json WHERE kind = 'server' "
                    "AND name = %s",
                    (
                        json.dumps({"command": "x", "env": {"A": f"v-{i}"}}),
                        server_name(i % min(size, 100)),
                    ),
                )

            body_file = log_dir / f"body-{size}.json"
            body_file.write_bytes(http.get(f"/api/settings/mcp-servers/{server_name(0)}").content)
            bare = start_bare_app(body_file, '"etag"', log_dir)
            with httpx.Client(base_url=bare.url, timeout=30) as bare_http:
                for _ in range(ROUNDS):
                    patch_ms += timed(share, patch)
                    update_ms += timed(share, update)
                    bare_ms += timed(
                        share,
                        lambda i: bare_http.get(f"/api/settings/mcp-servers/{server_name(0)}"),
                    )
    finally:
        server.stop()
        if bare is not None:
            bare.stop()
    floor = median(update_ms) + median(bare_ms)
    ratio = median(patch_ms) / floor
    return {
        "size": size,
        "patch_median_ms": median(patch_ms),
        "update_median_ms": median(update_ms),
        "bare_median_ms": median(bare_ms),
        "floor_ms": floor,
        "ratio": ratio,
        "target_met": ratio <= 2,
    }


def writers(servers: list[ServerProcess], seconds: float) -> dict[str, Any]:
    """WRITERS threads, writer t on servers[t % len], each PATCHing server t with If-Match.

    Each thread speaks HTTP/1.1 through http.client over one kept connection: the standard
    library's client costs a fraction of httpx's CPU per request, and on this 2-core machine
    the client's share of the CPU is what the servers cannot use.
    """
    done = [0] * WRITERS
    errors: list[str] = []
    last: dict[int, str] = {}
    deadline = time.monotonic() + seconds

    def run(t: int) -> None:
        server = servers[t % len(servers)]
        path = f"/api/settings/mcp-servers/{server_name(t)}"
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            write_all(t, conn, path)
        except Exception as exc:  # counted as an error, not lost in the thread
            errors.append(repr(exc))
        finally:
            conn.close()

    def write_all(t: int, conn: http.client.HTTPConnection, path: str) -> None:
        """Read the server's ETag, then PATCH it with If-Match until the deadline."""
        etag = exchange(conn, "GET", path)[1] or ""
        i = 0
        while time.monotonic() < deadline:
            value = f"w{t}-{i}"
            body = json.dumps({"env": {"A": value}}).encode()
            headers = {**WRITE_HEADERS, "If-Match": etag}
            status, new_etag, text = exchange(conn, "PATCH", path, headers, body)
            if status != 200:
                errors.append(f"{status} {text[:80]!r}")
                return
            etag = new_etag or ""
            last[t] = value
            done[t] += 1
            i += 1

    began = time.monotonic()
    threads = [threading.Thread(target=run, args=(t,)) for t in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - began
    lost = 0
    with httpx.Client(base_url=servers[-1].url, headers=SESSION_HEADERS, timeout=30) as client:
        for t, value in last.items():
            config = client.get(
                f"/api/settings/mcp-servers/{server_name(t)}",
                headers={"X-Expose-Secrets": "plaintext"},
            ).json()["config"]
            lost += config["env"]["A"] != value
    return {"writes": sum(done), "wall_s": wall, "errors": errors, "lost": lost}


def replicas_scenario(cluster: Cluster, seconds: float, log_dir: Path) -> dict[str, Any]:
    """One replica, then three, in ROUNDS turns of seconds / ROUNDS each, pooled."""
    url = cluster.create_database()
    seed(url, 1000)
    etag_key = secrets.token_hex(32)
    started = [replica(url, etag_key, log_dir) for _ in range(3)]
    turns: dict[str, list[dict[str, Any]]] = {"one_replica": [], "three_replicas": []}
    try:
        for _ in range(ROUNDS):
            turns["one_replica"].append(writers(started[:1], seconds / ROUNDS))
            turns["three_replicas"].append(writers(started, seconds / ROUNDS))
    finally:
        for server in started:
            server.stop()
    one, three = (pooled(turns[key]) for key in ("one_replica", "three_replicas"))
    met = (
        three["per_s"] >= one["per_s"] > 0
        and not one["errors"]
        and not three["errors"]
        and not one["lost"]
        and not three["lost"]
    )
    return {"one_replica": one, "three_replicas": three, "target_met": met}


def pooled(turns: list[dict[str, Any]]) -> dict[str, Any]:
    writes = sum(turn["writes"] for turn in turns)
    wall = sum(turn["wall_s"] for turn in turns)
    return {
        "writes": writes,
        "per_s": writes / wall,
        "errors": [error for turn in turns for error in turn["errors"]],
        "lost": sum(turn["lost"] for turn in turns),
    }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"# PostgreSQL store bench, {results['date']}",
        "",
        "| servers | PATCH median ms | bare UPDATE ms | bare Starlette ms | ratio (<= 2) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in results["sizes"]:
        mark = "" if row["target_met"] else " !!"
        lines.append(
            f"| {row['size']:,} | {row['patch_median_ms']:.2f} | {row['update_median_ms']:.2f} "
            f"| {row['bare_median_ms']:.2f} | {row['ratio']:.2f}{mark} |"
        )
    r = results["replicas"]
    lines += [
        "",
        f"{WRITERS} writers with If-Match, each on its own server: one replica "
        f"{r['one_replica']['per_s']:.0f} writes/s, three replicas "
        f"{r['three_replicas']['per_s']:.0f} writes/s; errors "
        f"{len(r['one_replica']['errors']) + len(r['three_replicas']['errors'])}, lost writes "
        f"{r['one_replica']['lost'] + r['three_replicas']['lost']}"
        f"{'' if r['target_met'] else ' !!'}",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.postgres", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="sizes 10 and 1000, fewer requests")
    parser.add_argument("--sizes", help="comma-separated server counts")
    args, _ = parser.parse_known_args(argv)
    sizes = [10, 1000] if args.quick else [10, 1000, 10_000, 100_000]
    if args.sizes:
        sizes = [int(size) for size in args.sizes.split(",")]
    count = 60 if args.quick else 300
    seconds = 3.0 if args.quick else 10.0
    binaries = pg_bin()
    if binaries is None:
        log(INSTALL_HELP)
        return 1
    cluster = Cluster(binaries, durable=True).start()
    results: dict[str, Any] = {"date": dt.date.today().isoformat(), "sizes": []}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp:
            for size in sizes:
                log(f"PostgreSQL store, {size} servers")
                row = one_size(cluster, size, count, Path(tmp))
                log(
                    f"  PATCH {row['patch_median_ms']:.2f} ms, floor {row['floor_ms']:.2f} ms "
                    f"(UPDATE {row['update_median_ms']:.2f} + bare {row['bare_median_ms']:.2f})"
                    f", ratio {row['ratio']:.2f}"
                )
                results["sizes"].append(row)
            log(f"{WRITERS} writers, one replica then three")
            results["replicas"] = replicas_scenario(cluster, seconds, Path(tmp))
    finally:
        cluster.stop()
    text = markdown(results)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{results['date']}-postgres.md").write_text(text)
    (RESULTS / f"{results['date']}-postgres.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
