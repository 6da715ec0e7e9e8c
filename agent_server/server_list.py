"""The server list's answer, kept encoded with where each server's summary sits in it.

At ten thousand servers the list is megabytes. Made again for each version, it took 24 ms after
a one-server write (summaries looked up, the listing hashed in canonical form, then encoded),
and every summary was kept apart (3.9 MiB) so as not to make them all again. This keeps the
answer alone: its bytes, its names in order and where each server's part ends, with the stamps
of the servers it was made from (agent_server.stored_servers). A new version summarizes and
encodes only the servers whose stored config is not the same as before (and, when a registry's
latest versions changed, those installed from a registry) and splices their parts in among the
unchanged bytes. The bytes are exactly those of encoding the whole list again (the tests compare
the answers of a running server and a fresh one), so a list made either way has the same body and
ETag, in every worker.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent_server.document import Document, agent_kind, mcp_servers
from agent_server.entries import Source
from agent_server.json_codec import dumps
from agent_server.preconditions import ETagSigner
from agent_server.rendered import Encoded
from agent_server.server_writes import changed_names
from agent_server.spliced import Edit, Parts, length, spliced, whole
from agent_server.stored_servers import stamps_of

Part = Callable[[str, Source, dict[str, Any]], tuple[bytes, bool]]  # (encoded, from a registry)

_HEAD = b'{"servers":['
_SPLICE_LIMIT = 4  # splice while fewer than 1/4 of the servers changed, else encode them all


@dataclass(frozen=True)
class _Listed:
    """What an answer was made from, and where each server's part sits in its body."""

    configs: dict[str, object]  # the listed user servers' stamps by name (stored_servers)
    managed: dict[str, dict[str, Any]]
    names: list[str]  # sorted, managed ones included
    ends: array[int]  # where each name's part ends, counted from the first part
    registered: frozenset[str]  # names whose summary names the registry it came from
    answer: Encoded

    def items(self) -> memoryview:
        """The parts, joined with commas, as they sit in the body."""
        return memoryview(self.answer.body)[len(_HEAD) : len(_HEAD) + length(self.ends)]


class ServerList:
    """The list's answer for the latest document read, made again only for what changed."""

    def __init__(self, signer: ETagSigner) -> None:
        self._signer = signer
        self._inputs: tuple[Document, object] | None = None
        self._listed: _Listed | None = None

    def answer(
        self,
        document: Document,
        generation: object,
        managed: dict[str, dict[str, Any]],
        part: Part,
    ) -> Encoded:
        """The encoded list of `document`'s servers and `managed` (a managed name hides a user
        server's); `part` encodes one server's summary and says whether it came from a registry
        (its `update_available` then depends on `generation`, which changes with the latest
        versions read from registries)."""
        inputs, listed = self._inputs, self._listed
        same = inputs is not None and inputs[0] is document and inputs[1] is generation
        if listed is not None and same:
            return listed.answer
        if agent_kind(document["agent_settings"]) != "openhands":
            user: dict[str, Any] = {}
            managed = {}
        else:
            user = mcp_servers(document)
        renew = inputs is None or generation is not inputs[1]
        listed = self._spliced(listed, user, managed, renew, part) or self._whole(
            user, managed, part
        )
        self._inputs, self._listed = (document, generation), listed
        return listed.answer

    def _whole(
        self, user: dict[str, Any], managed: dict[str, dict[str, Any]], part: Part
    ) -> _Listed:
        names = sorted(user.keys() | managed.keys())
        made = [_part_of(name, user, managed, part) for name in names]
        registered = frozenset(name for name, (_, came) in zip(names, made, strict=True) if came)
        parts = whole(names, [encoded for encoded, _ in made])
        return self._made(user, managed, parts, registered)

    def _spliced(
        self,
        listed: _Listed | None,
        user: dict[str, Any],
        managed: dict[str, dict[str, Any]],
        renew_registered: bool,
        part: Part,
    ) -> _Listed | None:
        """The last answer with the changed servers' parts made again; None when making it
        whole costs about as much (nothing kept, other managed servers, many changed)."""
        if listed is None or listed.managed is not managed:
            return None
        changed = set(changed_names(listed.configs, user, None))
        changed -= managed.keys()  # a managed server hides the user's: its part stays
        if renew_registered:
            changed |= listed.registered
        if not changed:
            return listed
        if len(changed) * _SPLICE_LIMIT > len(listed.names):
            return None
        registered = set(listed.registered)
        edits = []
        for name in sorted(changed):
            at = bisect_left(listed.names, name)
            listed_now = at < len(listed.names) and listed.names[at] == name
            registered.discard(name)
            if name in user or name in managed:
                encoded, came = _part_of(name, user, managed, part)
                edits.append(Edit(at, listed_now, name, encoded))
                if came:
                    registered.add(name)
            else:
                edits.append(Edit(at, listed_now))
        parts = spliced(listed.names, listed.ends, listed.items(), edits)
        return self._made(user, managed, parts, frozenset(registered))

    def _made(
        self,
        user: dict[str, Any],
        managed: dict[str, dict[str, Any]],
        parts: Parts,
        registered: frozenset[str],
    ) -> _Listed:
        items = parts.items()
        etag = self._signer.etag_of_bytes(b"server-list", items)
        body = b"".join((_HEAD, items, b'],"etag":', dumps(etag), b"}"))
        answer = Encoded(body, etag)
        return _Listed(stamps_of(user), managed, parts.names, parts.ends, registered, answer)


def _part_of(
    name: str, user: dict[str, Any], managed: dict[str, dict[str, Any]], part: Part
) -> tuple[bytes, bool]:
    if name in managed:
        return part(name, "managed", managed[name])
    return part(name, "user", user[name])
