"""Session API keys: every /api/ request must carry one of them when any are configured."""

from __future__ import annotations

import hmac

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

HEADER = "x-session-api-key"


class SessionKeyMiddleware:
    """401 for /api/ requests without a configured X-Session-API-Key; /health stays open."""

    def __init__(self, app: ASGIApp, keys: tuple[str, ...]) -> None:
        self.app = app
        self.keys = [key.encode() for key in keys]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.keys and scope["path"].startswith("/api/"):
            given = next((v for k, v in scope["headers"] if k == HEADER.encode()), None)
            if given is None or not self._accepts(given):
                response = JSONResponse(
                    {"detail": "missing or wrong X-Session-API-Key header"}, status_code=401
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _accepts(self, given: bytes) -> bool:
        # Compare against every key so the time taken does not tell which one nearly matched.
        matched = False
        for key in self.keys:
            matched |= hmac.compare_digest(given, key)
        return matched
