"""A local PostgreSQL server from Debian's initdb and pg_ctl, for the tests, the bench and
`make run-postgres`: a data folder (temporary, or kept like .venv/pg), a loopback port, run as an
unprivileged user (PostgreSQL refuses root), stopped by whoever started it.

    python scripts/local_postgres.py start DIR PORT   # initdb once, start, print the URL
    python scripts/local_postgres.py stop DIR
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from scripts.ports import free_port

INSTALL_HELP = (
    "the PostgreSQL store tests need initdb and pg_ctl from Debian's postgresql package: "
    "`make test` installs it when run as root, else install it with sudo apt-get install "
    "postgresql (or set PG_BIN to the folder that holds initdb and pg_ctl)"
)
RUN_AS = "nobody"  # PostgreSQL refuses to run as root


def pg_bin() -> Path | None:
    """The folder with initdb and pg_ctl: $PG_BIN, the newest Debian version, or the PATH."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Cluster:
    """One PostgreSQL server on 127.0.0.1:<port> with trust authentication for user postgres.

    With `root` None the data lives in a new temporary folder that `stop` removes. A durable
    cluster fsyncs its commits as a production one does; by default only a kept one does.
    """

    def __init__(
        self,
        binaries: Path,
        root: Path | None = None,
        port: int | None = None,
        durable: bool | None = None,
    ) -> None:
        self.bin = binaries
        self.port = port or free_port()
        self.temporary = root is None
        self.durable = not self.temporary if durable is None else durable
        self.root = Path(tempfile.mkdtemp(prefix="agent-server-pg-")) if root is None else root
        self.root.mkdir(parents=True, exist_ok=True)
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam(RUN_AS)
            os.chown(self.root, user.pw_uid, user.pw_gid)
            # setpriv execs the command itself, so postgres stays our child and is reaped by us.
            self._as_user = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}"]
            self._as_user += ["--clear-groups", "--"]
        self.server: subprocess.Popen[bytes] | None = None

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self._as_user, *args], check=True, capture_output=True, cwd=self.root, timeout=120
        )

    def start(self) -> Cluster:
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        self._start()
        return self

    def _initdb(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def _start(self) -> None:
        # The tests' cluster trades durability for speed: they kill replicas, never it.
        # postgres runs as our own child (not daemonized by pg_ctl), so stopping it reaps it.
        fast = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        self.server = subprocess.Popen(
            [*self._as_user, str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
             *([] if self.durable else fast),
             "-c", "max_connections=400", "-c", "shared_buffers=32MB"],
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT, cwd=self.root,
            start_new_session=True,
        )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.server is not None
            if self.server.poll() is not None:
                raise RuntimeError(f"postgres exited:\n{self.log.read_text(errors='replace')}")
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("postgres did not get ready within 60 s")

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        auth = f"postgres:{password}" if password else "postgres"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (or `name`, made if missing); its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if found.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (pg_ctl's fast shutdown), reap it, and remove the data folder."""
        if self.server is not None and self.server.poll() is None:
            subprocess.run(
                [*self._as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                 "-w", "-t", "30", "stop"],
                check=False, capture_output=True, cwd=self.root, timeout=60,
            )  # fmt: skip
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        self.server = None
        if self.temporary:
            shutil.rmtree(self.root, ignore_errors=True)


def main(argv: list[str]) -> int:
    """`start DIR PORT`: run a kept cluster in the foreground until interrupted."""
    binaries = pg_bin()
    if binaries is None or not (binaries / "initdb").exists():
        print(INSTALL_HELP.replace("`make test`", "make"), file=sys.stderr)
        return 1
    if len(argv) != 3 or argv[0] != "start":
        print(__doc__, file=sys.stderr)
        return 2

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    cluster = Cluster(binaries, Path(argv[1]).resolve(), int(argv[2])).start()
    print(cluster.create_database("agent_server"), flush=True)
    try:
        while cluster.server is not None and cluster.server.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
