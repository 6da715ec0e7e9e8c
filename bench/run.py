"""The bench: the real server against its floors, at 10 to 10,000 MCP servers; see README.md.

.venv/bin/python -m bench            # the full run (under ~10 minutes on 2 cores)
.venv/bin/python -m bench --quick    # sizes 10 and 1000, fewer requests
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from math import ceil
from pathlib import Path
from typing import Any

import orjson

from bench import report, targets
from bench.bare_app import CATALOG_PATH, LIST_PATH, RELOAD_PATH, SETTINGS_PATH, WRITES_PATH
from bench.floors import durable_summary, durable_write_round
from bench.load import LoadResult, Phase, RequestFactory, new_client, run_phase
from bench.machine import machine_info
from bench.memory import empty_server_rss, parsed_size_mib, rss_at_rest
from bench.procs import (
    ServerProcess,
    start_agent_server,
    start_bare_app,
    start_canned_mcp,
    start_registry_app,
)
from bench.scenarios import (
    BUILT_OPERATIONS,
    OPERATIONS,
    Writers,
    add_registry,
    build_through_api,
    get_catalog,
    get_global,
    get_list,
    get_one,
    one_path,
    put_one,
    remove_installed,
)
from bench.seed import remote_document, write_settings

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Settings:
    """Counts and times are totals over the rounds; each round runs its share of them."""

    mode: str
    sizes: tuple[int, ...]
    rounds: int  # every phase runs in this many interleaved rounds, pooled afterwards
    read_requests: int  # sequential (1 client) requests per read operation, at most...
    read_seconds: float  # ...or as many as fit in this time, once min_requests are done
    write_requests: int
    write_seconds: float
    min_requests: int
    throughput_clients: int  # GET one server vs bare Starlette, same clients for both
    throughput_seconds: float
    durable_writes: int
    durable_seconds: float
    writers: int
    writes_each: int  # timed writes per writer, over the rounds
    writes_warm: int  # untimed writes per writer first
    multi_workers: int


FULL = Settings(
    mode="full",
    sizes=(10, 100, 1_000, 10_000),
    rounds=3,
    read_requests=1500,
    read_seconds=6.0,
    write_requests=450,
    write_seconds=9.0,
    min_requests=30,
    throughput_clients=4,
    throughput_seconds=9.0,
    durable_writes=450,
    durable_seconds=6.0,
    writers=8,
    writes_each=100,
    writes_warm=20,
    multi_workers=4,
)
QUICK = Settings(
    mode="quick",
    sizes=(10, 1_000),
    rounds=2,
    read_requests=300,
    read_seconds=1.5,
    write_requests=80,
    write_seconds=2.0,
    min_requests=10,
    throughput_clients=4,
    throughput_seconds=2.0,
    durable_writes=80,
    durable_seconds=1.0,
    writers=8,
    writes_each=20,
    writes_warm=5,
    multi_workers=4,
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _brief(name: str, figures: dict[str, Any]) -> str:
    return (
        f"    {name:<22} median {figures['median_ms']:8.2f} ms  p95 {figures['p95_ms']:8.2f} ms  "
        f"{figures['rps']:8.1f} req/s  server CPU {figures['server_cpu_ms_per_req']:7.2f} ms/req"
        + (f"  ERRORS {figures['errors']}" if figures.get("errors") else "")
    )


def fetch_one(server: ServerProcess, index: int) -> tuple[bytes, str]:
    with new_client(server.url) as client:
        response = client.get(one_path(index))
        response.raise_for_status()
        return response.content, response.headers["etag"]


def reload_bare(answers: list[tuple[ServerProcess, str]], bare: ServerProcess, root: Path) -> None:
    """Hand the bare app each (server, path)'s current answer: the list, the settings and the
    catalog (untimed)."""
    with new_client(bare.url) as floor:
        for server, path in answers:
            with new_client(server.url) as real:
                answer = real.get(path)
            answer.raise_for_status()
            body_file = root / f"bare{path.replace('/', '-')}.json"
            body_file.write_bytes(answer.content)
            given = {"path": path, "file": str(body_file), "etag": answer.headers.get("etag")}
            floor.post(RELOAD_PATH, content=orjson.dumps(given)).raise_for_status()


def reload_writes(bare: ServerProcess, settings_path: Path, folder: Path) -> None:
    """Hand the bare app the real settings.json as it is now, for its writes to write into
    `folder` (untimed)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    copy = folder / "written-bytes.json"
    copy.write_bytes(settings_path.read_bytes())
    given = {"file": str(copy), "target": str(folder / "settings.json")}
    with new_client(bare.url) as floor:
        floor.post(WRITES_PATH, content=orjson.dumps(given)).raise_for_status()


def warm_catalog(server: ServerProcess, size: int) -> None:
    """List every server's tools once (the first catalog connects to each; one that does not
    answer in time is listed by the next call), so the timed catalogs answer from what is known."""
    with new_client(server.url) as client:
        client.timeout = 300
        for _ in range(5):
            answer = client.get(CATALOG_PATH, params={"deadline": "120"})
            answer.raise_for_status()
            listed = answer.json()["servers"]
            if len(listed) == size and all(found["ok"] for found in listed):
                return
    raise RuntimeError(f"the catalog of {size} servers never listed every server's tools")


def measure_size(size: int, cfg: Settings, root: Path) -> dict[str, Any]:
    """Every figure for one document size: floors, operations, throughput, writers, start-up
    and memory.

    The floors and the operations run in interleaved rounds (the bare GETs, every operation,
    the throughput pair, the durable write; then again), and each one's rounds are pooled, so a
    noisy spell on this shared machine lands on a figure and its floor alike.
    """
    log(f"[{size:,} servers] seeding settings.json")
    home = root / f"home-{size}"
    settings_path = write_settings(home, size)
    writer_homes = {w: root / f"home-writers{w}-{size}" for w in (1, cfg.multi_workers)}
    for copy in writer_homes.values():
        shutil.copytree(home, copy)
    out: dict[str, Any] = {"size": size}
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    n = cfg.rounds
    read = Phase(1, ceil(cfg.read_requests / n), cfg.read_seconds / n, cfg.min_requests)
    write = Phase(1, ceil(cfg.write_requests / n), cfg.write_seconds / n, cfg.min_requests)
    concurrent = Phase(cfg.throughput_clients, 10**9, cfg.throughput_seconds / n, 1)
    started: list[ServerProcess] = []
    rounds: dict[str, list[LoadResult]] = {}

    def run(key: str, server: ServerProcess, factory: RequestFactory, phase: Phase) -> None:
        rounds.setdefault(key, []).append(run_phase(server.url, factory, phase, server.cpu_seconds))

    try:
        began = time.perf_counter()
        server = start_agent_server(home, logs, workers=1)
        started.append(server)
        out["server_start_s"] = round(time.perf_counter() - began, 3)
        body, etag = fetch_one(server, 0)
        body_file = root / f"bare-body-{size}.json"
        body_file.write_bytes(body)
        bare = start_bare_app(body_file, etag, logs)
        started.append(bare)
        registry = start_registry_app(logs)
        started.append(registry)
        add_registry(server, registry)
        log(f"  listing the tools of {size:,} remote servers for the catalog")
        canned = start_canned_mcp(logs)
        started.append(canned)
        tools_home = root / f"home-tools-{size}"
        write_settings(tools_home, size, remote_document(size, canned.url + "/mcp"))
        tooled = start_agent_server(tools_home, logs)
        started.append(tooled)
        warm_catalog(tooled, size)
        out["get_one_bytes"] = len(body)
        log(f"  building a document of {size:,} servers through the API")
        built = start_agent_server(root / f"home-built-{size}", logs, workers=1)
        started.append(built)
        build_through_api(built.url, size)

        sizes_seen: list[int] = []
        for r in range(n):
            log(f"  round {r + 1}/{n}")
            answers = [(server, LIST_PATH), (server, SETTINGS_PATH), (tooled, CATALOG_PATH)]
            reload_bare(answers, bare, root)
            reload_writes(bare, settings_path, root / f"bare-writes-{size}")
            run("bare_seq", bare, get_one(size), read)
            run("bare_list", bare, get_list(size), read)
            run("bare_settings", bare, get_global(size), read)
            run("bare_catalog", bare, get_catalog(size), read)
            run("bare_write", bare, put_one(size), write)
            run("catalog", tooled, get_catalog(size), read)
            for name, _label, make, kind in OPERATIONS:
                run(name, server, make(size), read if kind == "read" else write)
            remove_installed(server.url)  # back to N servers
            for name, _label, make, _kind in BUILT_OPERATIONS:
                run(name, built, make(size), write)
            # Throughput: GET one server vs bare Starlette, the same clients, back to back.
            run("bare_concurrent", bare, get_one(size), concurrent)
            run("get_one_concurrent", server, get_one(size), concurrent)
            # The disk floor, for settings.json as it is now (the servers are idle).
            data = settings_path.read_bytes()
            sizes_seen.append(len(data))
            min_writes = min(cfg.min_requests, cfg.durable_writes)
            rounds.setdefault("durable_write", []).append(
                durable_write_round(
                    root / f"floor-{size}",
                    data,
                    ceil(cfg.durable_writes / n),
                    cfg.durable_seconds / n,
                    min_writes,
                )
            )
        out["document_bytes"] = max(sizes_seen)
        out["server_rss_mib"] = rss_at_rest(server)
        out["parsed_document_mib"] = parsed_size_mib(settings_path.read_bytes())

        floors: dict[str, Any] = {
            key: LoadResult.merge(rounds[key]).summary()
            for key in (
                "bare_seq",
                "bare_list",
                "bare_settings",
                "bare_catalog",
                "bare_write",
                "bare_concurrent",
            )
        }
        floors["durable_write"] = durable_summary(rounds["durable_write"], max(sizes_seen))
        floors["throughput_rounds"] = {
            "bare_rps": [x.rps for x in rounds["bare_concurrent"]],
            "get_one_rps": [x.rps for x in rounds["get_one_concurrent"]],
        }
        names = [op[0] for op in (*OPERATIONS, *BUILT_OPERATIONS)]
        names += ["catalog", "get_one_concurrent"]
        operations = {name: LoadResult.merge(rounds[name]).summary() for name in names}
        log(_brief("bare Starlette GET", floors["bare_seq"]))
        log(_brief("bare PUT + write", floors["bare_write"]))
        for name, figures in operations.items():
            log(_brief(name, figures))
        log(_brief(f"bare GET x{cfg.throughput_clients}", floors["bare_concurrent"]))
        dw = floors["durable_write"]
        log(
            f"    {'durable write':<22} median {dw['median_ms']:8.2f} ms  "
            f"p95 {dw['p95_ms']:8.2f} ms  ({dw['bytes']:,} bytes)"
        )

        # The writers: 1 worker and several, each on its own copy of the seeded home, measured in
        # alternating rounds after a warm-up, with the servers above stopped.
        for proc in reversed(started):
            proc.stop()
        started.clear()
        writers: dict[str, Writers] = {}
        for workers, copy in writer_homes.items():
            writing = start_agent_server(copy, logs, workers=workers)
            started.append(writing)
            writers[str(workers)] = Writers(writing.url, cfg.writers, writing.cpu_seconds, workers)
        for each in writers.values():
            each.round(cfg.writes_warm, timed=False)
        for _ in range(n):
            for each in writers.values():
                each.round(ceil(cfg.writes_each / n))
        out["writers"] = {key: each.summary() for key, each in writers.items()}
        for key, figures in out["writers"].items():
            log(_brief(f"{cfg.writers} writers, {key} worker(s)", figures))
    finally:
        for proc in reversed(started):
            proc.stop()
    out["floors"] = floors
    out["operations"] = operations
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Benchmark the agent settings server against floors."
    )
    parser.add_argument(
        "--quick", action="store_true", help="sizes 10 and 1000, fewer requests (development)"
    )
    parser.add_argument(
        "--sizes", type=lambda s: tuple(int(x) for x in s.split(",")), help="e.g. 10,100,1000"
    )
    parser.add_argument("--out-dir", type=Path, default=RESULTS, help="default bench/results")
    parser.add_argument("--tmp-dir", type=Path, help="where the server homes go (default TMPDIR)")
    parser.add_argument("--keep-tmp", action="store_true", help="keep homes and server logs")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = QUICK if args.quick else FULL
    if args.sizes:
        cfg = Settings(**{**asdict(cfg), "sizes": args.sizes})
    root = Path(tempfile.mkdtemp(prefix="agent-server-bench-", dir=args.tmp_dir))
    started_at = dt.datetime.now().astimezone()
    began = time.perf_counter()
    log(f"bench ({cfg.mode}): sizes {', '.join(map(str, cfg.sizes))}; working in {root}")
    try:
        machine = machine_info(root)
        empty_rss = empty_server_rss(root)
        sizes = [measure_size(size, cfg, root) for size in cfg.sizes]
    finally:
        if args.keep_tmp:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    results = targets.build(
        settings=asdict(cfg),
        machine=machine,
        sizes=sizes,
        started_at=started_at,
        duration_s=time.perf_counter() - began,
        empty_server_rss_mib=empty_rss,
        previous=targets.previous_results(args.out_dir, cfg.mode),
        command=" ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
    )
    date = started_at.date().isoformat()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    print(report.table(results))
    paths = report.write_all(results, args.out_dir, date)
    print()
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
