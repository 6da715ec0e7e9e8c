"""Reading a registry's API: bounded in time and size, cached per registry and query.

Every failure is reported in our own words, naming the registry by its id: a registry's answer
is never quoted (it could echo the secret headers it was sent), and neither are exceptions.
Redirects are not followed, so the headers go only to the registry's own origin.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

T = TypeVar("T")
MAX_ANSWER_BYTES = 10 * 1024 * 1024
_CACHE_ENTRIES = 1024
_CACHE_BYTES = 32 * 1024 * 1024  # of answers as received; a registry sets their size, not us
_LATEST_ENTRIES = 100_000


class RegistryFailed(Exception):
    """A registry could not be read: 502 (it failed) or 504 (it did not answer in time)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class RegistryNotFound(Exception):
    """The registry answered 404: it has no such server (or version)."""


class RegistryReader:
    """GETs from registries, remembering answers for `ttl` seconds (0: never).

    The cache key holds the registry's ETag, so a changed URL or header is a new key and no
    answer read with one set of credentials is served for another.
    """

    def __init__(self, ttl: float, timeout: float) -> None:
        self.ttl = ttl
        self.timeout = timeout
        self._cache: OrderedDict[tuple[str, ...], tuple[float, Any, int]] = OrderedDict()
        self._cached_bytes = 0
        self._latest: dict[tuple[str, str], str] = {}
        # Replaced whenever a latest version changes: answers made from them are then stale.
        self.latest_generation = object()
        self._tls: ssl.SSLContext | None = None
        self._derived: dict[int, tuple[Any, Any]] = {}

    def _tls_context(self) -> ssl.SSLContext:
        """One TLS context for every request: loading the CA certificates costs ~50 ms. It is
        httpx's own default: the CA store SSL_CERT_FILE or SSL_CERT_DIR names, else certifi's."""
        if self._tls is None:
            self._tls = httpx.create_ssl_context()
        return self._tls

    async def get(
        self,
        registry_id: str,
        etag: str,
        config: dict[str, Any],
        path: str,
        params: dict[str, str] | None = None,
        *,
        fresh: bool = False,
    ) -> Any:
        """The decoded JSON of GET <registry url><path>; RegistryFailed or RegistryNotFound.

        `fresh` reads the registry even when a cached answer is still valid (and caches it).
        """
        query = sorted((params or {}).items())
        key = (registry_id, etag, path, json.dumps(query))
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now and not fresh:
            return cached[1]
        try:
            async with asyncio.timeout(self.timeout):
                data, size = await self._fetch(registry_id, config, path, dict(query))
        except TimeoutError:
            raise RegistryFailed(
                504, f"registry {registry_id!r} did not answer within {self.timeout:g} s"
            ) from None
        self._drop(key)
        if self.ttl > 0 and size <= _CACHE_BYTES:
            self._cache[key] = (time.monotonic() + self.ttl, data, size)
            self._cached_bytes += size
            while len(self._cache) > _CACHE_ENTRIES or self._cached_bytes > _CACHE_BYTES:
                self._drop(next(iter(self._cache)))
        return data

    def _drop(self, key: tuple[str, ...]) -> None:
        """Forget one cached answer and what was derived from it."""
        found = self._cache.pop(key, None)
        if found is not None:
            self._cached_bytes -= found[2]
            self._derived.pop(id(found[1]), None)

    async def _fetch(
        self, registry_id: str, config: dict[str, Any], path: str, params: dict[str, str]
    ) -> tuple[Any, int]:
        """The decoded answer and its size in bytes."""
        url = config["url"].rstrip("/") + path
        headers = {"Accept": "application/json", **(config.get("headers") or {})}
        try:
            async with (
                httpx.AsyncClient(
                    follow_redirects=False, timeout=self.timeout, verify=self._tls_context()
                ) as http,
                http.stream("GET", url, params=params, headers=headers) as response,
            ):
                if response.status_code == 404:
                    raise RegistryNotFound()
                if response.status_code != 200:
                    raise RegistryFailed(
                        502, f"registry {registry_id!r} answered HTTP {response.status_code}"
                    )
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        raise RegistryFailed(
                            502,
                            f"registry {registry_id!r} answered more than "
                            f"{MAX_ANSWER_BYTES // (1024 * 1024)} MiB; the answer was refused",
                        )
        except httpx.TimeoutException:
            raise TimeoutError() from None
        except httpx.HTTPError as exc:
            raise RegistryFailed(
                502, f"cannot read registry {registry_id!r} ({type(exc).__name__})"
            ) from None
        try:
            return json.loads(body), len(body)
        except (ValueError, RecursionError):
            raise RegistryFailed(
                502, f"registry {registry_id!r} answered something that is not JSON"
            ) from None

    def derived(self, data: Any, make: Callable[[Any], T]) -> T:
        """`make(data)` for an answer `get` gave, remembered while the answer is cached: a
        cached page is validated and summarized once, not on every read.

        Keyed by the answer object, which the memo holds, so its id is never reused meanwhile;
        `make` must be the same function of the answer for every caller.
        """
        found = self._derived.get(id(data))
        if found is not None and found[0] is data:
            result: T = found[1]
            return result
        result = make(data)
        if any(entry[1] is data for entry in self._cache.values()):
            self._derived[id(data)] = (data, result)
        return result

    def remember_latest(self, registry_id: str, server: str, version: str) -> None:
        """Note a server's latest version as a registry gave it (for update_available)."""
        if len(self._latest) >= _LATEST_ENTRIES:
            self._latest.clear()
            self.latest_generation = object()
        if self._latest.get((registry_id, server)) != version:
            self._latest[(registry_id, server)] = version
            self.latest_generation = object()

    def known_latest(self, registry_id: str, server: str) -> str | None:
        return self._latest.get((registry_id, server))


def versions_path(server: str, version: str = "latest") -> str:
    """The API path of one version of a server (its name's `/` percent-encoded)."""
    return f"/v0.1/servers/{quote(server, safe='')}/versions/{quote(version, safe='')}"
