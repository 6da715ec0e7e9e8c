"""A real PostgreSQL server for the tests: Debian's initdb and pg_ctl, a temporary data folder, a
free loopback port, run as an unprivileged user (PostgreSQL refuses root), stopped at the end."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from support import free_port

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
    """One PostgreSQL server on 127.0.0.1:<port> with trust authentication for user postgres."""

    def __init__(self, binaries: Path) -> None:
        self.bin = binaries
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="agent-server-pg-"))
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
        # Speed over durability for a throw-away cluster: the tests kill replicas, never it.
        # postgres runs as our own child (not daemonized by pg_ctl), so stopping it reaps it.
        self.server = subprocess.Popen(
            [*self._as_user, str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=400", "-c", "shared_buffers=32MB"],
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT, cwd=self.root,
            start_new_session=True,
        )  # fmt: skip
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        import time

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

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
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
        shutil.rmtree(self.root, ignore_errors=True)
