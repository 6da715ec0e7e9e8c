"""The interface every settings store keeps, so routes and commands never know which one serves.

A `change` is a function from the current document to the new one: it returns the same object for
no change and may raise to abort, and a store may run it again on fresher data (the PostgreSQL
store does when another replica won the race), so it must not have effects beyond its result.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from agent_server.document import Document
from agent_server.secrets import SecretCipher

Change = Callable[[Document], Document]


class Store(Protocol):
    """Reads the settings document and applies changes to it atomically."""

    @property
    def where(self) -> str:
        """Where the document lives, for messages: a path, or a URL without its password."""
        ...

    def read(self) -> Document:
        """The current document (shared: callers must not mutate it)."""
        ...

    async def write(self, change: Change) -> Document:
        """`update` from the event loop."""
        ...

    def update(self, change: Change) -> Document:
        """Apply `change` atomically to the latest document; the document it left."""
        ...

    def locked(self) -> AbstractContextManager[None]:
        """Hold the write lock: no write of any process or replica lands while the block runs."""
        ...

    def forget_history(self) -> None:
        """Drop what the store keeps of earlier writes beside the document (after a key
        rotation, no token under the old key stays)."""
        ...

    def remove_stale_temp_files(self) -> int:
        """Clean what interrupted writes left behind; the count removed."""
        ...

    def is_empty(self) -> bool:
        """Whether the store holds no server and no setting other than the defaults."""
        ...

    def check_keys(self, etag_key: bytes, cipher: SecretCipher) -> None:
        """ConfigError when these keys differ from those the store's other users hold."""
        ...

    def close(self) -> None:
        """Release connections; the store is not used after."""
        ...
