"""Keep the heap quiet and small: short collector passes, and freed memory given back when idle.

A full collection walks every tracked object. At ten thousand servers the parsed document, the
modules and the app are some 75,000 of them, and each full pass took 20 to 40 ms: a pause that
lands on whichever request is running. Everything alive once the app is built lives as long as
the process (or is dropped by reference counting, which freezing does not stop), so it is moved
out of the collector's reach; the collector stays off while it is built.

A write at ten thousand servers makes and drops megabytes of buffers (the file's encoding, the
answers of the new version). glibc keeps what is freed for the next allocation, so the server
stays as large as its busiest moment. Once no request has run for IDLE_SECONDS, the free pages
are handed back (`malloc_trim`) when there are megabytes of them: a busy server never pays for
it, and a small one, which frees little, does not take page faults for nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from starlette.types import ASGIApp, Receive, Scope, Send

IDLE_SECONDS = 1.0
WORTH_TRIMMING = 2 * 2**20  # free bytes in the heap; below it, giving them back is not worth
# the page faults of taking them again (a small document frees little)


@contextmanager
def built_for_life() -> Iterator[None]:
    """Build what lives as long as the process with the collector off, then freeze all of it.

    Start-up leaves next to no cyclic garbage (about 500 small objects, 80 kB, at any document
    size): freezing it with the rest costs less than the full collection that would free it, 30
    to 40 ms of every start, most of it spent walking the modules. A collection while the
    document loads would walk the fresh document for nothing (40 ms at ten thousand servers).
    """
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            *("arena", "ordblks", "smblks", "hblks", "hblkhd"),
            *("usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"),
        )
    ]


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim(0), run when the heap holds at least WORTH_TRIMMING free bytes
    (mallinfo2, glibc 2.33 and later); None where the C library has neither (musl, macOS)."""
    libc = ctypes.CDLL(None)  # the symbols the process has
    trim = getattr(libc, "malloc_trim", None)
    info = getattr(libc, "mallinfo2", None)
    if trim is None or info is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    info.restype = _MallInfo2

    def trim_if_worth_it() -> bool:
        if info().fordblks < WORTH_TRIMMING:
            return False
        trim(0)
        return True

    return trim_if_worth_it


class IdleTrim:
    """Gives freed memory back once no request has run for `idle_seconds` after a busy spell.

    `trim` defaults to glibc's malloc_trim(0) when the heap holds WORTH_TRIMMING free bytes
    (about 0.5 ms at ten thousand servers, which gave back about 5 MiB); where the C library
    has neither, `watch` returns at once.
    """

    def __init__(
        self, idle_seconds: float = IDLE_SECONDS, trim: Callable[[], object] | None = None
    ) -> None:
        self.idle_seconds = idle_seconds
        self.running = 0  # requests under way
        self.last = 0.0  # when the last request ended (monotonic); 0 once trimmed
        self._trim = trim if trim is not None else _malloc_trim()

    async def watch(self) -> None:
        """Run for the server's life: trim once after each busy spell."""
        if self._trim is None:
            return
        while True:
            await asyncio.sleep(self.idle_seconds)
            if self.running or not self.last or time.monotonic() - self.last < self.idle_seconds:
                continue
            self.last = 0.0
            self._trim()


class NoteRequests:
    """ASGI middleware that tells an IdleTrim when requests run."""

    def __init__(self, app: ASGIApp, trim: IdleTrim) -> None:
        self.app = app
        self.trim = trim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # runs as long as the server: never a request
            await self.app(scope, receive, send)
            return
        trim = self.trim
        trim.running += 1
        try:
            await self.app(scope, receive, send)
        finally:
            trim.running -= 1
            trim.last = time.monotonic()
