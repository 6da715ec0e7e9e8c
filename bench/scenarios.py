"""What the bench sends: one request factory per operation, and the 8-writer consistency run."""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson

from bench.load import CpuProbe, Req, RequestFactory, new_client, send
from bench.registry_app import registry_server_name
from bench.seed import ENV_KEYS, SESSION_HEADERS, seed_env, seed_value, server_config, server_name
from bench.stats import mean, median, percentile

PREFIX = "/api/settings/mcp-servers"
MASK = "**********"
PLAINTEXT = {"X-Expose-Secrets": "plaintext"}


def one_path(index: int) -> str:
    return f"{PREFIX}/{server_name(index)}"


def get_one(size: int, plaintext: bool = False) -> RequestFactory:
    """GET one server, a different one each request (cycling through the document)."""
    headers = PLAINTEXT if plaintext else None
    return lambda i: Req("GET", one_path(i % size), headers)


def get_list(size: int) -> RequestFactory:
    return lambda i: Req("GET", PREFIX)


def get_global(size: int) -> RequestFactory:
    return lambda i: Req("GET", "/api/settings")


def get_catalog(size: int) -> RequestFactory:
    """The tool catalog, answered from the tool lists the server already knows."""
    return lambda i: Req("GET", "/api/mcp/tools")


def put_one(size: int) -> RequestFactory:
    """PUT one whole server with a new value of A; B and C sent masked (kept), as an IDE does."""

    def make(i: int) -> Req:
        index = i % size
        env = {"A": f"put-{i:08d}", "B": MASK, "C": MASK}
        return Req("PUT", one_path(index), body=orjson.dumps(server_config(index, env)))

    return make


def patch_env(size: int) -> RequestFactory:
    """PATCH one env value of one server: {"env": {"A": "<new>"}}."""

    def make(i: int) -> Req:
        return Req("PATCH", one_path(i % size), body=orjson.dumps({"env": {"A": f"patch-{i:08d}"}}))

    return make


def patch_global(size: int) -> RequestFactory:
    """The legacy whole-document PATCH, changing one misc setting."""

    def make(i: int) -> Req:
        body = {"misc_settings_diff": {"bench": {"counter": i}}}
        return Req("PATCH", "/api/settings", body=orjson.dumps(body))

    return make


REGISTRY = "bench"  # the id the bench gives its registry (bench/registry_app.py)


def browse(size: int) -> RequestFactory:
    """A page of the registry's 100 servers, from the server's registry cache once warm."""
    return lambda i: Req("GET", f"/api/mcp/registries/{REGISTRY}/servers?limit=100")


_INSTALLS = itertools.count()  # every install of a run makes a new server, whatever the round


def install(size: int) -> RequestFactory:
    """Install the registry's first server under a new name each time: the config PUT one
    sends. Always the same server, so its registry answer is cached, as the target wants."""

    def make(i: int) -> Req:
        n = next(_INSTALLS)
        inputs = {key: f"install-{key}-{n:08d}" for key in ENV_KEYS}
        body = {"server": registry_server_name(0), "as": f"inst{n:08d}", "inputs": inputs}
        return Req("POST", f"/api/mcp/registries/{REGISTRY}/install", body=orjson.dumps(body))

    return make


# name, label, factory maker, kind ("read" or "write")
OPERATIONS: list[tuple[str, str, Callable[[int], RequestFactory], str]] = [
    ("get_one_redacted", "GET one server (redacted)", get_one, "read"),
    (
        "get_one_plaintext",
        "GET one server (plaintext)",
        lambda size: get_one(size, plaintext=True),
        "read",
    ),
    ("list", "GET server list", get_list, "read"),
    ("global_get", "GET /api/settings", get_global, "read"),
    ("put_one", "PUT one server", put_one, "write"),
    ("patch_env", "PATCH one env value", patch_env, "write"),
    ("global_patch", "PATCH /api/settings", patch_global, "write"),
    ("browse", "GET a registry page of 100 (cached)", browse, "read"),
    ("install", "POST install from a registry", install, "write"),
]


# The one-server writes again, against a server whose document was built through the API (every
# server PUT by a client) rather than loaded from the file at start.
BUILT_OPERATIONS: list[tuple[str, str, Callable[[int], RequestFactory], str]] = [
    ("put_one_built", "PUT one server (document built through the API)", put_one, "write"),
    ("patch_env_built", "PATCH one env value (document built through the API)", patch_env, "write"),
]


def build_through_api(base_url: str, size: int, threads: int = 4) -> None:
    """PUT every seed server with its plaintext env, as clients would have, `threads` at once."""

    def put_share(start: int) -> None:
        with new_client(base_url) as client:
            for index in range(start, size, threads):
                body = orjson.dumps(server_config(index, seed_env(index)))
                response = send(client, Req("PUT", one_path(index), body=body))
                response.raise_for_status()

    workers = [threading.Thread(target=put_share, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


WRITE_HEADERS = {"Content-Type": "application/json", **SESSION_HEADERS}


def exchange(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    headers: dict[str, str] = SESSION_HEADERS,
    body: bytes | None = None,
) -> tuple[int, str | None, bytes]:
    """One request on a kept connection: (status, ETag, body)."""
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.getheader("etag"), response.read()


def run_writers(
    base_url: str, writers: int, writes_each: int, cpu: CpuProbe, workers: int
) -> dict[str, Any]:
    """`writers` threads, each PATCHing its own server `writes_each` times with If-Match.

    Each thread speaks HTTP/1.1 through http.client over one kept connection: the standard
    library's client costs a fraction of httpx's CPU per request, and on this 2-core machine
    the client's share of the CPU is what the server's workers cannot use. Each write sends
    the ETag its previous write answered, so a 412 means the server lost or changed that
    writer's server behind its back (nobody else writes it). Afterwards each server is read
    back in plaintext: A must be the last value its writer wrote, B and C the seed values.
    """
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    counts = {"ok": 0, "412": 0, "errors": 0}
    last_written: dict[int, str | None] = {}
    ready = threading.Barrier(writers + 1)
    go = threading.Barrier(writers + 1)

    def problem(kind: str, text: str) -> None:
        with lock:
            counts[kind] += 1
            if len(errors) < 10:
                errors.append(text)

    def writer(w: int) -> None:
        path = one_path(w)
        last: str | None = None
        conn = http.client.HTTPConnection(host, port, timeout=120)
        try:
            etag = None
            try:
                etag = exchange(conn, "GET", path)[1]
            finally:
                ready.wait()
                go.wait()
            for j in range(writes_each):
                value = f"writer{w}-{j:04d}"
                headers = {**WRITE_HEADERS, "If-Match": etag} if etag else WRITE_HEADERS
                body = orjson.dumps({"env": {"A": value}})
                began = time.perf_counter_ns()
                try:
                    status, new_etag, text = exchange(conn, "PATCH", path, headers, body)
                except (OSError, http.client.HTTPException) as exc:
                    problem("errors", f"writer {w} write {j}: {type(exc).__name__}: {exc}")
                    conn.close()
                    continue
                elapsed = (time.perf_counter_ns() - began) / 1e6
                with lock:
                    latencies.append(elapsed)
                if status == 200:
                    last = value
                    etag = new_etag
                    with lock:
                        counts["ok"] += 1
                    continue
                kind = "412" if status == 412 else "errors"
                problem(kind, f"writer {w} write {j}: {status} {text[:200]!r}")
                etag = new_etag or exchange(conn, "GET", path)[1]
        finally:
            conn.close()
        last_written[w] = last

    threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(writers)]
    for thread in threads:
        thread.start()
    ready.wait()
    cpu_before = cpu()
    began = time.perf_counter()
    go.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    cpu_used = cpu() - cpu_before

    lost: list[str] = []
    with new_client(base_url) as client:
        for w in range(writers):
            response = client.get(one_path(w), headers=PLAINTEXT)
            if response.status_code != 200:
                lost.append(f"{server_name(w)}: read back {response.status_code}")
                continue
            env = response.json()["config"].get("env", {})
            expected = {"A": last_written.get(w)} | {k: seed_value(w, k) for k in ENV_KEYS[1:]}
            for key, value in expected.items():
                if env.get(key) != value:
                    lost.append(f"{server_name(w)}.env.{key}: expected {value!r}, read back")
    total = writers * writes_each
    return {
        "workers": workers,
        "writers": writers,
        "writes_each": writes_each,
        "writes": total,
        "ok": counts["ok"],
        "status_412": counts["412"],
        "errors": counts["errors"],
        "lost": len(lost),
        "problems": (errors + lost)[:10],
        "wall_s": round(wall, 4),
        "rps": total / wall if wall > 0 else float("nan"),
        "median_ms": median(latencies),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "mean_ms": mean(latencies),
        "server_cpu_ms_per_req": cpu_used * 1000 / max(total, 1),
        "pass": counts["ok"] == total and not counts["412"] and not counts["errors"] and not lost,
    }
