"""The HTTP rules every collection of named resources keeps (MCP servers, registries).

Conditional reads (RFC 9110 13.2.2), and writes that run their checks inside the store's lock,
against the document they are about to change, in the order the API promises: the collection's
own checks (agent kind, managed), existence, preconditions, then the body.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from agent_server.bodies import read_json_object
from agent_server.caching import may_answer_304, read_headers
from agent_server.context import AppContext
from agent_server.document import Document, merge_patch
from agent_server.entries import EntryCatalog, Source
from agent_server.json_codec import FastJSONResponse, dumps, encoded_response
from agent_server.preconditions import Preconditions
from agent_server.rendered import Encoded, Rendered
from agent_server.secrets import log_plaintext_served, server_secret_slots
from sdk.models import ExposeMode


def preconditions(request: Request) -> Preconditions:
    return Preconditions.of(request.headers.getlist)


def etag_header(etag: str | None) -> dict[str, str] | None:
    return {"ETag": etag} if etag else None


def conditional_read(request: Request, etag: str, mode: ExposeMode, what: str) -> Response | None:
    """The 304 or 412 a read answers instead of its body (RFC 9110 13.2.2), else None.

    In encrypted and plaintext mode If-None-Match is not evaluated: see agent_server.caching.
    """
    conditions = preconditions(request)
    if not may_answer_304(mode):
        conditions = replace(conditions, if_none_match=None)
    status = conditions.evaluate(etag, safe=True)
    if status == 304:
        return Response(status_code=304, headers=read_headers(mode, etag))
    if status == 412:
        raise HTTPException(412, f"If-Match does not match the {what}'s ETag", {"ETag": etag})
    return None


def listing_response(
    request: Request,
    catalog: EntryCatalog,
    rendered: Rendered,
    inputs: tuple[object, ...],
    make: Callable[[], dict[str, Any]],
) -> Response:
    """A collection's listing, with its ETag in the header and in the body.

    `make` builds the listing from `inputs` (the document version first); it runs, and the
    listing is hashed and encoded, once per version of them.
    """

    def encode() -> Encoded:
        listing = make()
        etag = catalog.signer.etag(listing)
        return Encoded(dumps({**listing, "etag": etag}), etag)

    return listing_answer(request, rendered.get(inputs, encode))


def listing_answer(request: Request, encoded: Encoded) -> Response:
    """A listing encoded earlier, or its 304 / 412."""
    assert encoded.etag is not None
    answered = conditional_read(request, encoded.etag, "redacted", "list")
    if answered is not None:
        return answered
    return encoded_response(encoded, read_headers("redacted", encoded.etag))


def entry_response(
    request: Request,
    collection: Collection,
    name: str,
    found: tuple[Source, dict[str, Any]],
    mode: ExposeMode,
    body: Callable[[str, ExposeMode], BaseModel],
) -> Response:
    """One entry read in `mode` (a managed entry always redacted), or its 304 / 412.

    `body(etag, mode)` makes the answer.
    """
    source, config = found
    etag = collection.catalog.etag(name, config)
    if source == "managed":
        mode = "redacted"  # its secrets leave the service only towards their own destination
    answered = conditional_read(request, etag, mode, collection.what)
    if answered is not None:
        return answered
    if mode == "plaintext":
        log_plaintext_served(f"{collection.label} {name!r}")
    return FastJSONResponse(body(etag, mode).model_dump(), headers=read_headers(mode, etag))


def check_write_preconditions(
    ctx: AppContext, conditions: Preconditions, current: str | None, what: str
) -> None:
    """428 when the server requires a precondition and none came; 412 when one fails."""
    if not conditions.given and ctx.config.require_preconditions:
        raise HTTPException(
            428,
            "this server requires a precondition on writes: send If-Match with the ETag "
            "you last read, or If-None-Match: * to create",
            etag_header(current),
        )
    if conditions.evaluate(current, safe=False):
        raise HTTPException(
            412,
            f"the precondition failed: the {what} changed since you read it, or it "
            "exists / does not exist contrary to If-Match / If-None-Match",
            etag_header(current),
        )


class Collection(ABC):
    """One collection of named resources in the document, as the shared write needs it."""

    what: str  # "server", "registry": how messages name one entry
    label: str  # "MCP server", "registry": how the log names one

    def __init__(self, ctx: AppContext, catalog: EntryCatalog) -> None:
        self.ctx = ctx
        self.catalog = catalog

    def forget(self, name: str) -> None:
        """Drop what the service remembers of an entry that was deleted."""
        self.catalog.forget(name)

    @abstractmethod
    def find(self, document: Document, name: str) -> tuple[Source, dict[str, Any]] | None: ...

    @abstractmethod
    def not_found(self, name: str) -> HTTPException: ...

    @abstractmethod
    def check_writable(self, document: Document, name: str) -> None:
        """Raise the 4xx that refuses any write to `name` before existence is looked at."""

    @abstractmethod
    def resolve(self, config: Any, stored: dict[str, Any] | None) -> dict[str, Any]:
        """The config ready to store: validated, its secrets resolved (InvalidSettings)."""

    @abstractmethod
    def with_entry(self, document: Document, name: str, config: dict[str, Any] | None) -> Document:
        """The document with one entry set, or removed for None."""


class EntryWrite:
    """One PUT, PATCH or DELETE of an entry, applied to the document inside the store's lock."""

    def __init__(self, collection: Collection, request: Request, name: str) -> None:
        self.collection = collection
        self.method = request.method
        self.name = name
        self.preconditions = preconditions(request)
        self.body: Any = None
        self.body_error: HTTPException | None = None
        self.created = False
        self.result: dict[str, Any] | None = None

    async def read_body(self, request: Request) -> None:
        """Read the body now, but report a bad one only where validation comes in the order."""
        try:
            self.body = await read_json_object(request)
        except HTTPException as exc:
            self.body_error = exc

    def __call__(self, document: Document) -> Document:
        collection = self.collection
        collection.check_writable(document, self.name)
        found = collection.find(document, self.name)
        stored = found[1] if found else None
        if stored is None and self.method != "PUT":
            raise collection.not_found(self.name)
        # The stored entry's ETag only where a precondition (or the 428 naming it) needs it: an
        # unconditional write would hash the old config for nothing.
        needed = self.preconditions.given or collection.ctx.config.require_preconditions
        current = None
        if stored is not None and needed:
            current = collection.catalog.etag(self.name, stored)
        check_write_preconditions(collection.ctx, self.preconditions, current, collection.what)
        if self.body_error is not None:
            raise self.body_error
        if self.method == "DELETE":
            for _, token in server_secret_slots(stored):
                collection.ctx.cipher.forget(token)
            return collection.with_entry(document, self.name, None)
        config = merge_patch(stored, self.body) if self.method == "PATCH" else self.body
        self.result = collection.resolve(config, stored)
        self.created = stored is None
        if self.result == stored:
            self.result = stored
            return document
        return collection.with_entry(document, self.name, self.result)


async def write_entry(
    request: Request,
    collection: Collection,
    name: str,
    location: str,
    body: Callable[[str, dict[str, Any]], BaseModel],
) -> Response:
    """A PUT, PATCH or DELETE of one entry: 201 with `location`, 200, or 204.

    `body(etag, redacted config)` makes the answer of a PUT or PATCH.
    """
    write = EntryWrite(collection, request, name)
    if request.method != "DELETE":
        await write.read_body(request)
    await collection.ctx.store.write(write)
    if write.result is None:
        collection.forget(name)
        return Response(status_code=204)
    etag = collection.catalog.etag(name, write.result, written=True)
    headers = {"ETag": etag}
    if write.created:
        headers["Location"] = location
    answer = body(etag, collection.catalog.view(write.result, "redacted"))
    return FastJSONResponse(
        answer.model_dump(), status_code=201 if write.created else 200, headers=headers
    )
