"""Cache-Control and Vary of the settings reads, so no cache hands one mode's secrets to another.

A read's body depends on X-Expose-Secrets, so every read says so in Vary. Redacted reads hold no
secret: caches may keep them but must revalidate (the ETag makes that cheap). Encrypted and
plaintext reads hold secrets in a form a cache must never keep (`no-store`), and they are never
answered with 304: the ETag names the content, not that representation, so a 304 could confirm
a copy the client never got.
"""

from __future__ import annotations

from sdk.models import ExposeMode

VARY = "X-Expose-Secrets"


def read_headers(mode: ExposeMode, etag: str | None = None) -> dict[str, str]:
    """The caching headers of a read in `mode` (and its ETag), on its 200 and its 304 alike."""
    headers = {"Cache-Control": "no-cache" if mode == "redacted" else "no-store", "Vary": VARY}
    if etag is not None:
        headers["ETag"] = etag
    return headers


def may_answer_304(mode: ExposeMode) -> bool:
    """Only a redacted read is the same bytes for the same ETag."""
    return mode == "redacted"
