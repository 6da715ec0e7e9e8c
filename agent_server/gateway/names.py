"""Gateway tool names: one name per (server, tool), valid for the Anthropic and OpenAI tool APIs.

Those APIs take tool names matching `^[A-Za-z0-9_-]{1,64}$`. A gateway name is
`<server>__<tool>` with every other character replaced by `_`. Where that is longer than 64, or
where two tools would get the same name, each such name is cut and a short hash of the original
(server, tool) pair is appended: the name stays the same for as long as that pair exists, and
no tool silently shadows another.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable

LIMIT = 64
SEPARATOR = "__"
PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_OTHER = re.compile(r"[^A-Za-z0-9_-]")
_HASH_DIGITS = (8, 16, 32)


def plain_name(server: str, tool: str) -> str:
    return _OTHER.sub("_", f"{server}{SEPARATOR}{tool}")


def _hashed(server: str, tool: str, digits: int) -> str:
    digest = hashlib.sha256(f"{server}\0{tool}".encode()).hexdigest()[:digits]
    return f"{plain_name(server, tool)[: LIMIT - digits - 1]}_{digest}"


def gateway_names(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The gateway name of each (server, tool) pair, every one unique and matching PATTERN."""
    pairs = list(dict.fromkeys(pairs))
    plain = {pair: plain_name(*pair) for pair in pairs}
    taken = Counter(plain.values())
    names = {
        pair: name if len(name) <= LIMIT and taken[name] == 1 else _hashed(*pair, _HASH_DIGITS[0])
        for pair, name in plain.items()
    }
    for digits in _HASH_DIGITS[1:]:
        # A cut name can still meet another name (vanishingly rare): lengthen their hashes.
        counts = Counter(names.values())
        clashing = [pair for pair, name in names.items() if counts[name] > 1]
        if not clashing:
            break
        names.update((pair, _hashed(*pair, digits)) for pair in clashing)
    return names
