"""The load client: N threads, each with its own persistent httpx.Client, for a bounded run.

A phase sends requests made by a factory from a shared sequence number until it has sent its
count, or its time is up and it has sent its minimum. Each thread warms its connection up first
(untimed); the server's CPU time is read just before the threads are released and just after the
last one finishes, so CPU per request covers exactly the timed requests.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.seed import SESSION_HEADERS
from bench.stats import mean, median, percentile


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    headers: dict[str, str] | None = None
    body: bytes | None = None


RequestFactory = Callable[[int], Req]
CpuProbe = Callable[[], float]


@dataclass(frozen=True)
class Phase:
    threads: int
    requests: int  # the most it sends, over all threads
    max_seconds: float  # it stops sending after this long...
    min_requests: int  # ...once it has sent at least this many
    expect: tuple[int, ...] = (200, 201)  # 201: an install creates its server
    warmup: int = 3  # untimed requests per thread


@dataclass
class LoadResult:
    threads: int
    requests: int = 0
    wall_s: float = math.nan
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0  # transport errors and unexpected statuses
    error_samples: list[str] = field(default_factory=list)
    server_cpu_s: float = math.nan
    client_cpu_s: float = math.nan
    rounds: int = 1

    @property
    def rps(self) -> float:
        return self.requests / self.wall_s if self.wall_s > 0 else math.nan

    @classmethod
    def merge(cls, parts: list[LoadResult]) -> LoadResult:
        """Rounds of one phase as one run: samples pooled, counts and times added."""
        out = cls(threads=parts[0].threads, wall_s=0.0, server_cpu_s=0.0, client_cpu_s=0.0)
        for part in parts:
            out.requests += part.requests
            out.wall_s += part.wall_s
            out.latencies_ms += part.latencies_ms
            out.statuses.update(part.statuses)
            out.errors += part.errors
            out.error_samples += part.error_samples
            out.server_cpu_s += part.server_cpu_s
            out.client_cpu_s += part.client_cpu_s
        out.rounds = len(parts)
        return out

    def summary(self) -> dict[str, Any]:
        n = max(self.requests, 1)
        return {
            "clients": self.threads,
            "rounds": self.rounds,
            "requests": self.requests,
            "wall_s": round(self.wall_s, 4),
            "median_ms": median(self.latencies_ms),
            "p95_ms": percentile(self.latencies_ms, 95),
            "p99_ms": percentile(self.latencies_ms, 99),
            "mean_ms": mean(self.latencies_ms),
            "rps": self.rps,
            "server_cpu_ms_per_req": self.server_cpu_s * 1000 / n,
            "client_cpu_ms_per_req": self.client_cpu_s * 1000 / n,
            "errors": self.errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "error_samples": self.error_samples[:5],
        }


def new_client(base_url: str) -> httpx.Client:
    """One persistent connection per thread, reused for every request it sends."""
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(120.0),
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        headers={"Content-Type": "application/json", **SESSION_HEADERS},
    )


def send(client: httpx.Client, req: Req) -> httpx.Response:
    return client.request(req.method, req.path, headers=req.headers, content=req.body)


def run_phase(base_url: str, factory: RequestFactory, phase: Phase, cpu: CpuProbe) -> LoadResult:
    result = LoadResult(threads=phase.threads)
    lock = threading.Lock()
    issued = 0
    sequence = 0
    warmed = threading.Barrier(phase.threads + 1)
    go = threading.Barrier(phase.threads + 1)
    deadline = math.inf

    def next_index(timed: bool) -> int | None:
        nonlocal issued, sequence
        with lock:
            if timed:
                over_time = time.perf_counter() > deadline and issued >= phase.min_requests
                if issued >= phase.requests or over_time:
                    return None
                issued += 1
            sequence += 1
            return sequence

    def record(latency_ms: float | None, status: int, problem: str | None) -> None:
        with lock:
            result.requests += 1
            result.statuses[status] += 1
            if latency_ms is not None:
                result.latencies_ms.append(latency_ms)
            if problem is not None:
                result.errors += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(problem)

    def worker() -> None:
        with new_client(base_url) as client:
            try:
                for _ in range(phase.warmup):
                    index = next_index(timed=False)
                    assert index is not None
                    send(client, factory(index))
            except httpx.HTTPError:
                pass  # the timed requests will count it
            finally:
                warmed.wait()
                go.wait()
            while (index := next_index(timed=True)) is not None:
                req = factory(index)
                began = time.perf_counter_ns()
                try:
                    response = send(client, req)
                except httpx.HTTPError as exc:
                    record(None, 0, f"{req.method} {req.path}: {type(exc).__name__}: {exc}")
                    continue
                latency = (time.perf_counter_ns() - began) / 1e6
                problem = None
                if response.status_code not in phase.expect:
                    problem = (
                        f"{req.method} {req.path}: {response.status_code} {response.text[:200]}"
                    )
                record(latency, response.status_code, problem)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(phase.threads)]
    for thread in threads:
        thread.start()
    warmed.wait()
    cpu_before = cpu()
    client_before = time.process_time()
    began = time.perf_counter()
    deadline = began + phase.max_seconds
    go.wait()
    for thread in threads:
        thread.join()
    result.wall_s = time.perf_counter() - began
    result.server_cpu_s = cpu() - cpu_before
    result.client_cpu_s = time.process_time() - client_before
    return result
