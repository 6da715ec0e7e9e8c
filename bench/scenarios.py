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
from bench.procs import ServerProcess
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


def add_registry(server: ServerProcess, registry: ServerProcess) -> None:
    """Add the bench's registry to `server` as REGISTRY."""
    with new_client(server.url) as client:
        added = client.put(f"/api/settings/mcp-registries/{REGISTRY}", json={"url": registry.url})
        added.raise_for_status()


def browse(size: int) -> RequestFactory:
    """A page of the registry's 100 servers, from the server's registry cache once warm."""
    return lambda i: Req("GET", f"/api/mcp/registries/{REGISTRY}/servers?limit=100")


_INSTALLS = itertools.count()  # every install of a run makes a new server, whatever the round
INSTALLED_PREFIX = "inst"


def remove_installed(base_url: str) -> None:
    """Delete every server the installs made (untimed), so that the document is back to its
    N servers for the next round."""
    with new_client(base_url) as client:
        listed = send(client, Req("GET", PREFIX))
        listed.raise_for_status()
        names = [s["name"] for s in listed.json()["servers"]]
        made = [name for name in names if name.startswith(INSTALLED_PREFIX)]
        for name in made:
            send(client, Req("DELETE", f"{PREFIX}/{name}")).raise_for_status()


def install(size: int) -> RequestFactory:
    """Install the registry's first server under a new name each time: the config PUT one
    sends. Always the same server, so its registry answer is cached, as the target wants."""

    def make(i: int) -> Req:
        n = next(_INSTALLS)
        inputs = {key: f"install-{key}-{n:08d}" for key in ENV_KEYS}
        name = f"{INSTALLED_PREFIX}{n:08d}"
        body = {"server": registry_server_name(0), "as": name, "inputs": inputs}
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


class Writers:
    """`writers` threads, each PATCHing its own server with If-Match over its own kept connection.

    Each thread speaks HTTP/1.1 through http.client: the standard library's client costs a
    fraction of httpx's CPU per request, and on this 2-core machine the client's share of the CPU
    is what the server's workers cannot use. Each write sends the ETag its previous write
    answered, so a 412 means the server lost or changed that writer's server behind its back
    (nobody else writes it); every write counts for that check, warm-up or not. The writes come
    in rounds (`round`): untimed ones warm every worker as a user's traffic would, timed ones are
    pooled, so two servers measured in alternating rounds meet the same noisy spells. `summary`
    reads each server back in plaintext: A must be the last value its writer wrote, B and C the
    seed values.
    """

    def __init__(self, base_url: str, writers: int, cpu: CpuProbe, workers: int) -> None:
        parts = urlsplit(base_url)
        self.base_url = base_url
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.writers, self.workers, self.cpu = writers, workers, cpu
        self.conns: list[http.client.HTTPConnection | None] = [None] * writers
        self.etags: list[str | None] = [None] * writers
        self.sent = [0] * writers  # writes each writer has sent, warm-up included
        self.last: list[str | None] = [None] * writers  # the last value each one wrote
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.counts = {"ok": 0, "412": 0, "errors": 0}
        self.timed_writes = 0
        self.wall = 0.0
        self.cpu_used = 0.0

    def _problem(self, kind: str, text: str) -> None:
        with self.lock:
            self.counts[kind] += 1
            if len(self.errors) < 10:
                self.errors.append(text)

    def _connection(self, w: int) -> http.client.HTTPConnection:
        conn = self.conns[w]
        if conn is None:
            conn = self.conns[w] = http.client.HTTPConnection(self.host, self.port, timeout=120)
        return conn

    def _etag(self, w: int) -> str | None:
        """The ETag writer `w` sends next: its last write's, else read afresh (untimed)."""
        if self.etags[w] is None:
            self.etags[w] = exchange(self._connection(w), "GET", one_path(w))[1]
        return self.etags[w]

    def _write(self, w: int, timed: bool) -> None:
        path = one_path(w)
        etag = self._etag(w)
        conn = self._connection(w)
        value = f"writer{w}-{self.sent[w]:04d}"
        self.sent[w] += 1
        headers = {**WRITE_HEADERS, "If-Match": etag} if etag else WRITE_HEADERS
        body = orjson.dumps({"env": {"A": value}})
        began = time.perf_counter_ns()
        try:
            status, new_etag, text = exchange(conn, "PATCH", path, headers, body)
        except (OSError, http.client.HTTPException) as exc:
            self._problem("errors", f"writer {w} write {value}: {type(exc).__name__}: {exc}")
            conn.close()
            self.etags[w] = None
            return
        elapsed = (time.perf_counter_ns() - began) / 1e6
        if status == 200:
            self.last[w], self.etags[w] = value, new_etag
            with self.lock:
                self.counts["ok"] += 1
                if timed:
                    self.latencies.append(elapsed)
            return
        kind = "412" if status == 412 else "errors"
        self._problem(kind, f"writer {w} write {value}: {status} {text[:200]!r}")
        self.etags[w] = new_etag  # None: read afresh before the next write

    def round(self, writes_each: int, timed: bool = True) -> None:
        """Every writer sends `writes_each` writes at once; a timed round adds to the figures."""
        ready = threading.Barrier(self.writers + 1)
        go = threading.Barrier(self.writers + 1)

        def writer(w: int) -> None:
            try:
                self._etag(w)  # before the round's clock starts
            finally:
                ready.wait()
                go.wait()
            for _ in range(writes_each):
                self._write(w, timed)

        threads = [
            threading.Thread(target=writer, args=(w,), daemon=True) for w in range(self.writers)
        ]
        for thread in threads:
            thread.start()
        ready.wait()
        cpu_before = self.cpu()
        began = time.perf_counter()
        go.wait()
        for thread in threads:
            thread.join()
        if timed:
            self.wall += time.perf_counter() - began
            self.cpu_used += self.cpu() - cpu_before
            self.timed_writes += self.writers * writes_each

    def summary(self) -> dict[str, Any]:
        """The pooled figures of the timed rounds, and what reading every server back found."""
        for conn in self.conns:
            if conn is not None:
                conn.close()
        lost: list[str] = []
        with new_client(self.base_url) as client:
            for w in range(self.writers):
                response = client.get(one_path(w), headers=PLAINTEXT)
                if response.status_code != 200:
                    lost.append(f"{server_name(w)}: read back {response.status_code}")
                    continue
                env = response.json()["config"].get("env", {})
                expected = {"A": self.last[w]} | {k: seed_value(w, k) for k in ENV_KEYS[1:]}
                for key, value in expected.items():
                    if env.get(key) != value:
                        lost.append(f"{server_name(w)}.env.{key}: expected {value!r}, read back")
        total, counts, wall = self.timed_writes, self.counts, self.wall
        sent = sum(self.sent)  # the warm-up's writes count for the checks too
        return {
            "workers": self.workers,
            "writers": self.writers,
            "writes_each": total // max(self.writers, 1),
            "writes": total,
            "ok": counts["ok"],
            "status_412": counts["412"],
            "errors": counts["errors"],
            "lost": len(lost),
            "problems": (self.errors + lost)[:10],
            "wall_s": round(wall, 4),
            "rps": total / wall if wall > 0 else float("nan"),
            "median_ms": median(self.latencies),
            "p95_ms": percentile(self.latencies, 95),
            "p99_ms": percentile(self.latencies, 99),
            "mean_ms": mean(self.latencies),
            "server_cpu_ms_per_req": self.cpu_used * 1000 / max(total, 1),
            "sent": sent,
            "pass": counts["ok"] == sent
            and not counts["412"]
            and not counts["errors"]
            and not lost,
        }
