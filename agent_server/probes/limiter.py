"""One limit on the probes connected at once in this process, whichever route started them."""

from __future__ import annotations

import asyncio


class ProbeLimiter:
    """At most `limit` probes hold a connection (or a stdio child) at once.

    A probe takes its slot before it connects and its timeout starts then, so waiting in the
    queue never eats a server's timeout. The semaphore belongs to the event loop that serves
    the app, which does not exist yet when the app is built: it is made on first use, and made
    again for another loop (Starlette's TestClient runs each request on a new one).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore = asyncio.Semaphore(limit)

    def slot(self) -> asyncio.Semaphore:
        """`async with limiter.slot():` holds one slot."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._semaphore = loop, asyncio.Semaphore(self.limit)
        return self._semaphore
