"""The disk floor: a durable atomic replace of a file the size of settings.json, in-process.

temp file beside the target, write, fsync, os.replace over the target, fsync of the folder: the
least any durable write of that document can cost on this disk, whatever the server does.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.load import LoadResult
from bench.stats import mean, median, percentile


def durable_replace(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def durable_write_round(
    folder: Path, data: bytes, count: int, max_seconds: float, min_count: int
) -> LoadResult:
    """`durable_replace` of `data` into `folder`, repeated: one round, as a LoadResult."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = folder / "settings.json"
    durable_replace(target, data)  # warm-up: the file exists from here on, as settings.json does
    result = LoadResult(threads=1)
    cpu_before = time.process_time()
    began = time.perf_counter()
    deadline = began + max_seconds
    samples = result.latencies_ms
    while len(samples) < count and (time.perf_counter() < deadline or len(samples) < min_count):
        t0 = time.perf_counter_ns()
        durable_replace(target, data)
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    result.wall_s = time.perf_counter() - began
    result.client_cpu_s = time.process_time() - cpu_before
    result.server_cpu_s = 0.0
    result.requests = len(samples)
    return result


def durable_summary(rounds: list[LoadResult], size_bytes: int) -> dict[str, Any]:
    merged = LoadResult.merge(rounds)
    samples = merged.latencies_ms
    return {
        "bytes": size_bytes,
        "writes": merged.requests,
        "rounds": merged.rounds,
        "median_ms": median(samples),
        "p95_ms": percentile(samples, 95),
        "p99_ms": percentile(samples, 99),
        "mean_ms": mean(samples),
        "rps": merged.rps,
        "cpu_ms_per_write": merged.client_cpu_s * 1000 / max(merged.requests, 1),
    }
