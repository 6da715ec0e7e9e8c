"""Where the settings document lives: settings.json in the home (the default), or PostgreSQL.

`open_store` picks the store a Config names (`--store` / AGENT_SERVER_STORE); routes and commands
use it only through the interface in stores/base.py.
"""

from __future__ import annotations

from pathlib import Path

from agent_server.document import default_document
from agent_server.secrets import SecretCipher
from agent_server.stores.base import Store
from agent_server.stores.file import SettingsStore
from agent_server.stores.urls import file_dir, redact_url, store_kind


class FileStore(SettingsStore):
    """settings.json in a folder, with what the store interface adds to SettingsStore."""

    @property
    def where(self) -> str:
        return str(self.path)

    def is_empty(self) -> bool:
        return not self.path.exists() or self.read() == default_document()

    def check_keys(self, etag_key: bytes, cipher: SecretCipher) -> None:
        """Nothing to check: the keys live in the same home as the file."""

    def close(self) -> None:
        """Let go of the lock file, the journal and the thread that waits for the locks."""
        if self._waiter is not None:
            self._waiter.shutdown(wait=False)
        self._file_lock.close()
        self._journal.close()


def open_store(url: str | None, home: Path) -> Store:
    """The store `url` names: file: (or None) for `<home>/settings.json`, file:DIR for another
    folder's, postgresql://... for PostgreSQL (StoreUnavailable when it cannot be reached)."""
    if store_kind(url) == "file":
        folder = file_dir(url, home)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return FileStore(folder)
    from agent_server.errors import ConfigError, StoreUnavailable
    from agent_server.stores.postgres import PostgresStore

    assert url is not None
    try:
        return PostgresStore(url)
    except StoreUnavailable as exc:
        raise ConfigError(str(exc)) from None


__all__ = ["FileStore", "SettingsStore", "Store", "open_store", "redact_url", "store_kind"]
