"""Whole-collection answers encoded once per version of what they are made from.

The server list and the redacted settings document are the same bytes for every reader until the
document changes, and at ten thousand servers building and encoding them costs many times more
than sending them. Each answer is kept with the objects it was made from and compared by
identity: the store hands out one document object per version, so a new version (or a new
latest version read from a registry) makes a new answer and nothing else does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Encoded:
    """A JSON body and the ETag that names it (None where the answer carries none)."""

    body: bytes
    etag: str | None = None


class Rendered:
    """The last answer made, with the inputs it was made from."""

    def __init__(self) -> None:
        self._kept: tuple[tuple[object, ...], Encoded] | None = None

    def get(self, inputs: tuple[object, ...], make: Callable[[], Encoded]) -> Encoded:
        found = self.find(inputs)
        if found is None:
            found = make()
            self._kept = (inputs, found)
        return found

    def find(self, inputs: tuple[object, ...]) -> Encoded | None:
        """The answer kept for exactly these inputs, if it is the one kept."""
        kept = self._kept
        return kept[1] if kept is not None and same_objects(kept[0], inputs) else None


def same_objects(kept: tuple[object, ...], inputs: tuple[object, ...]) -> bool:
    """Whether the two hold the very same objects, in the same order."""
    return len(kept) == len(inputs) and all(a is b for a, b in zip(kept, inputs, strict=True))


@dataclass
class RenderedAnswers:
    """One kept answer per whole-collection read of one app (the server list and the
    settings have their own: agent_server.server_list, agent_server.settings_answer)."""

    registry_list: Rendered = field(default_factory=Rendered)
    tool_catalog: Rendered = field(default_factory=Rendered)
