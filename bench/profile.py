"""Where the server's time goes for one operation: the real server under cProfile, then its top.

    .venv/bin/python -m bench.profile --size 10000 --op patch_env --requests 200

Starts `agent_server serve` (one worker) on a seeded home under bench/profiled_server.py, which
profiles every thread (the writes run in worker threads, which `python -m cProfile` misses),
sends the requests from one client, stops the server with SIGINT (the stats are written on the
way out) and prints the functions with the most cumulative and the most own time. cProfile slows
pure Python down more than C code: read it for where time goes, not for absolute figures.
"""

from __future__ import annotations

import argparse
import pstats
import shutil
import signal
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.load import Phase, run_phase
from bench.procs import ServerProcess
from bench.scenarios import OPERATIONS
from bench.seed import write_settings


def main(argv: Sequence[str] | None = None) -> int:
    ops = {name: (make, kind) for name, _label, make, kind in OPERATIONS}
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--op", choices=sorted(ops), default="patch_env")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, help="keep the .prof file here (for snakeviz etc.)")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="agent-server-profile-"))
    try:
        home = root / "home"
        write_settings(home, args.size)
        prof = args.out or root / "server.prof"
        server_args = ["-m", "bench.profiled_server", str(prof)]
        server_args += ["--home", str(home), "--log-level", "info"]
        server = ServerProcess("profiled", server_args, root, "/health").wait_ready()
        try:
            make, _kind = ops[args.op]
            phase = Phase(1, args.requests, 3600.0, args.requests)
            result = run_phase(server.url, make(args.size), phase, server.cpu_seconds)
        finally:
            server.stop(signal.SIGINT)
        summary = result.summary()
        print(
            f"{args.op} at {args.size} servers, {summary['requests']} requests under cProfile: "
            f"median {summary['median_ms']:.2f} ms, server CPU "
            f"{summary['server_cpu_ms_per_req']:.2f} ms/req, errors {summary['errors']}"
        )
        stats = pstats.Stats(str(prof))
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
