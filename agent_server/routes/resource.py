"""One route per path, taking every method of that path, so a 405 lists them all in Allow.

Starlette answers 405 from the first route whose path matches, naming only that route's
methods; RFC 9110 15.5.6 wants every method the target resource takes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


class Resource(Route):
    def __init__(self, path: str, handlers: dict[str, Endpoint]) -> None:
        async def dispatch(request: Request) -> Response:
            method = "GET" if request.method == "HEAD" else request.method
            return await handlers[method](request)

        super().__init__(path, dispatch, methods=list(handlers))

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            allow = ", ".join(sorted(self.methods))
            raise HTTPException(
                405, f"{scope['method']} is not allowed here; use {allow}", {"Allow": allow}
            )
        await super().handle(scope, receive, send)
