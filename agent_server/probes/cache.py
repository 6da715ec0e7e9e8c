"""Tool lists of stored servers, kept per server while its ETag is the same."""

from __future__ import annotations

from sdk.models import MCPProbeFailed, MCPToolsOk

_CACHE_ENTRIES = 10_000
_CACHE_BYTES = 32 * 1024 * 1024


class ToolCache:
    """Tool lists of stored servers by name, valid while the server's ETag is the same.

    Successes only: a failure is tried again on the next request. One entry per name, so a
    server's new list replaces its old one; bounded by entries and by bytes (as JSON), the
    oldest going first, so servers with huge tool lists cannot grow the process without end.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[str, MCPToolsOk, int]] = {}
        self._bytes = 0
        self.version = object()  # replaced on every change, so an answer made from it can tell

    def get(self, name: str, etag: str) -> MCPToolsOk | None:
        entry = self._entries.get(name)
        return entry[1] if entry is not None and entry[0] == etag else None

    def put(self, name: str, etag: str, result: MCPToolsOk | MCPProbeFailed) -> None:
        self._drop(name)
        self.version = object()
        if not isinstance(result, MCPToolsOk):
            return
        size = len(result.model_dump_json())
        while self._entries and (
            len(self._entries) >= _CACHE_ENTRIES or self._bytes + size > _CACHE_BYTES
        ):
            self._drop(next(iter(self._entries)))
        if size <= _CACHE_BYTES:
            self._entries[name] = (etag, result, size)
            self._bytes += size

    def _drop(self, name: str) -> None:
        entry = self._entries.pop(name, None)
        if entry is not None:
            self._bytes -= entry[2]
