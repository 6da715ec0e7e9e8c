"""ETags and RFC 9110 conditional requests (section 13) for named resources.

An ETag is a keyed hash (HMAC-SHA256) of the canonical plaintext of a resource: the same for the
same content in every process and after every restart or key rotation, and useless for testing
guesses of a secret offline to anyone who does not hold the ETag key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_server.durable import create_file_once
from agent_server.json_codec import dumps_canonical

ETAG_KEY_FILE = "etag.key"
_TAG_BYTES = 24  # 192 bits of the HMAC
_LIST_MEMBER = re.compile(r'\s*(W/)?("[^"]*"|[^",\s]+)\s*(?:,|$)')


def load_etag_key(home: Path) -> bytes:
    """The ETag key of a home: made once, shared by every process, independent of the secret key."""
    path = home / ETAG_KEY_FILE
    create_file_once(path, (secrets.token_hex(32) + "\n").encode())
    return bytes.fromhex(path.read_text().strip())


class ETagSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def etag(self, value: Any) -> str:
        """The strong ETag (quoted) of a JSON value's canonical form."""
        return _tag(hmac.new(self._key, dumps_canonical(value), hashlib.sha256).digest())

    def etag_of_bytes(self, kind: bytes, data: bytes) -> str:
        """The strong ETag of an answer's bytes, already in a form made the same way every
        time; `kind` names what they are (a JSON value's canonical form never starts with the
        NUL that precedes it, so the two kinds of tag never meet)."""
        mac = hmac.new(self._key, b"\0" + kind + b"\0", hashlib.sha256)
        mac.update(data)
        return _tag(mac.digest())


def _tag(digest: bytes) -> str:
    return '"' + base64.urlsafe_b64encode(digest[:_TAG_BYTES]).decode() + '"'


@dataclass(frozen=True)
class EntityTag:
    opaque: str  # with its quotes
    weak: bool


def parse_entity_tags(header: str) -> list[EntityTag] | None:
    """The tags of an If-Match / If-None-Match value; None for `*`.

    The value may be several field lines joined with commas (RFC 9110 5.3), so `*` counts
    wherever it stands in the list. A tag sent without quotes is read as if it were quoted:
    clients often drop them.
    """
    tags = []
    for weak, opaque in _LIST_MEMBER.findall(header):
        if opaque == "*" and not weak:
            return None
        if not opaque.startswith('"'):
            opaque = f'"{opaque}"'
        tags.append(EntityTag(opaque, bool(weak)))
    return tags


def if_match_holds(header: str, current: str | None) -> bool:
    """If-Match: `*` when the resource exists; else strong comparison (weak tags never match)."""
    tags = parse_entity_tags(header)
    if current is None:
        return False
    if tags is None:
        return True
    return any(not tag.weak and tag.opaque == current for tag in tags)


def if_none_match_holds(header: str, current: str | None) -> bool:
    """If-None-Match: `*` when the resource does not exist; else weak comparison must not match."""
    tags = parse_entity_tags(header)
    if current is None:
        return True
    if tags is None:
        return False
    return all(tag.opaque != current for tag in tags)


@dataclass(frozen=True)
class Preconditions:
    """If-Match and If-None-Match of one request, each field's lines joined into one list."""

    if_match: str | None
    if_none_match: str | None

    @classmethod
    def of(cls, lines: Callable[[str], list[str]]) -> Preconditions:
        """From a header lookup that answers every line of a field (e.g. Headers.getlist)."""
        return cls(
            if_match=", ".join(lines("if-match")) or None,
            if_none_match=", ".join(lines("if-none-match")) or None,
        )

    @property
    def given(self) -> bool:
        return self.if_match is not None or self.if_none_match is not None

    def evaluate(self, current: str | None, *, safe: bool) -> int | None:
        """None to go on, else the status: 412, or 304 for a safe method (RFC 9110 13.2.2)."""
        if self.if_match is not None and not if_match_holds(self.if_match, current):
            return 412
        if self.if_none_match is not None and not if_none_match_holds(self.if_none_match, current):
            return 304 if safe else 412
        return None
