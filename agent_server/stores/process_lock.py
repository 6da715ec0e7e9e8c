"""An exclusive lock shared by every process that writes one home: flock on a lock file.

filelock's lock polls (try, sleep, try again), so a writer waiting for another process woke up
to a poll interval late, and with several workers writing at once the waits added up to more
than the writes. Here a waiting thread blocks in the kernel and wakes as soon as the holder
lets go. The lock is the same flock on the same file that filelock takes, so both agree.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class ProcessLock:
    """flock(LOCK_EX) on `path`, one open file per instance. Not reentrant; one holder thread
    at a time (the store serializes its threads on a thread lock first)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; without `blocking`, False at once when another process holds it."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ProcessLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
