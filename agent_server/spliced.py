"""A large answer's named parts, made again in part for a new version.

The server list and `GET /api/settings` hold one part per MCP server, joined with commas. At
ten thousand servers making them whole again after a one-server write took 24 and 29 ms; a new
version needs only the changed servers' parts encoded again, and the bytes between them kept
as they were: what changed plus one copy. These are the parts' bookkeeping (their names in
order and where each ends) and the splice; each answer keeps its own bytes.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate


@dataclass(frozen=True)
class Edit:
    """At old index `at`: the old part goes if `replaces`; the new part `name` goes in if any.

    Edits come in the order of `at`; an insertion before the part at `at` comes before an edit
    that replaces it.
    """

    at: int
    replaces: bool
    name: str | None = None
    part: bytes = b""


@dataclass(frozen=True)
class Parts:
    names: list[str]  # in the order of their parts
    ends: array[int]  # where each part ends, counted from the first part's start
    segments: list[bytes] | list[bytes | memoryview]  # joined with commas, the parts

    def items(self) -> bytes:
        return b",".join(self.segments)


def whole(names: list[str], parts: Sequence[bytes]) -> Parts:
    ends = array("Q", (end - 1 for end in accumulate(len(part) + 1 for part in parts)))
    return Parts(names, ends, list(parts))


def length(ends: array[int]) -> int:
    return ends[-1] if ends else 0


def spliced(names: list[str], ends: array[int], items: memoryview, edits: Iterable[Edit]) -> Parts:
    """The parts `items` held (`names`, `ends`) with `edits` applied."""
    new_names: list[str] = []
    new_ends = array("Q")
    segments: list[bytes | memoryview] = []
    offset = 0  # where the next segment starts

    def add(segment: bytes | memoryview, segment_ends: Iterable[int]) -> None:
        nonlocal offset
        segments.append(segment)
        new_ends.extend(offset + end for end in segment_ends)
        offset += len(segment) + 1

    def keep(first: int, last: int) -> None:
        """The old parts first..last-1, as they were."""
        if last > first:
            start = _start(ends, first)
            add(items[start : ends[last - 1]], (end - start for end in ends[first:last]))
            new_names.extend(names[first:last])

    position = 0
    for edit in edits:
        keep(position, edit.at)
        position = max(position, edit.at + 1 if edit.replaces else edit.at)
        if edit.name is not None:
            add(edit.part, (len(edit.part),))
            new_names.append(edit.name)
    keep(position, len(names))
    return Parts(new_names, new_ends, segments)


def _start(ends: array[int], index: int) -> int:
    """Where part `index` starts (after the comma that ends the one before)."""
    return ends[index - 1] + 1 if index else 0
