"""Tool lists of stored servers, kept per server while its ETag is the same."""

from __future__ import annotations

from sdk.models import MCPProbeFailed, MCPToolsOk


class ToolCache:
    """Tool lists of stored servers by name, valid while the server's ETag is the same.

    Successes only: a failure is tried again on the next request.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[str, MCPToolsOk]] = {}

    def get(self, name: str, etag: str) -> MCPToolsOk | None:
        entry = self._entries.get(name)
        return entry[1] if entry is not None and entry[0] == etag else None

    def put(self, name: str, etag: str, result: MCPToolsOk | MCPProbeFailed) -> None:
        if isinstance(result, MCPToolsOk):
            self._entries[name] = (etag, result)
        else:
            self._entries.pop(name, None)
