"""The app factory: a Starlette app for one Config; checks its secrets, maps errors to HTTP."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_server.config import (
    ENV_PREVIOUS_KEYS,
    ENV_SECRET_KEY,
    Config,
    check_gateway_times,
    check_max_probes,
    check_registry_times,
    load_cipher,
    load_etag_key_of,
    load_session_keys,
)
from agent_server.context import AppContext
from agent_server.errors import ConfigError, InvalidSettings, SecretUnavailable, StoreUnavailable
from agent_server.gateway.catalog import CatalogBuilder
from agent_server.gateway.credentials import CredentialError
from agent_server.gateway.endpoint import Gateway
from agent_server.gateway.pins import PinStore
from agent_server.gateway.pool import UpstreamPool
from agent_server.gateway.tools import GatewayTools
from agent_server.heap import IdleTrim, NoteRequests, built_for_life
from agent_server.managed import Managed, load_managed
from agent_server.migrations import seal_url_queries
from agent_server.openapi import build_openapi
from agent_server.preconditions import ETagSigner
from agent_server.probes import ProbeLimiter, ToolCache
from agent_server.registries.catalog import RegistryCatalog
from agent_server.registries.client import RegistryFailed, RegistryReader
from agent_server.rendered import RenderedAnswers
from agent_server.routes import operations, routes
from agent_server.secrets import SecretCipher, document_secret_values
from agent_server.security.guard import GuardRules, RequestGuard
from agent_server.security.headers import SecurityHeaders
from agent_server.security.home import prepare_home
from agent_server.security.session_keys import SESSION_KEY_FILE, SessionKeyMiddleware
from agent_server.server_list import ServerList
from agent_server.servers import ServerCatalog
from agent_server.settings_answer import SettingsAnswer
from agent_server.stores import Store, open_store
from sdk.models import ErrorBody, ValidationErrorBody

log = logging.getLogger(__name__)


def check_secrets(store: Store, cipher: SecretCipher) -> None:
    """Refuse to serve a document whose secrets no configured key opens; nothing is changed.

    Each token's HMAC is checked rather than the token decrypted: at ten thousand servers
    decrypting all of them took most of a second of every worker's start. Plaintexts are
    decrypted (and cached) when first needed.
    """
    try:
        document = store.read()
    except StoreUnavailable:
        return  # served as 503 until the file is fixed; the store has logged the path
    failed = [
        ".".join(str(part) for part in loc)
        for loc, token in document_secret_values(document)
        if not cipher.signed_by_ours(token)
    ]
    if failed:
        shown = ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
        raise ConfigError(
            f"{store.where} holds {len(failed)} secret(s) that no configured key can decrypt "
            f"(at {shown}). Set {ENV_SECRET_KEY} to the key they were written "
            f"with, or add that key to {ENV_PREVIOUS_KEYS}. Nothing was changed."
        )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 304:
        return Response(status_code=304, headers=exc.headers)
    body = ErrorBody(detail=exc.detail).model_dump()
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidSettings)
    return JSONResponse(ValidationErrorBody(detail=exc.errors).model_dump(), status_code=422)


async def _registry_failed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RegistryFailed)
    return JSONResponse(ErrorBody(detail=exc.detail).model_dump(), status_code=exc.status)


async def _refused_credentials(request: Request, exc: Exception) -> Response:
    return JSONResponse(ErrorBody(detail=str(exc)).model_dump(), status_code=400)


async def _unavailable(request: Request, exc: Exception) -> Response:
    return JSONResponse(ErrorBody(detail=str(exc)).model_dump(), status_code=503)


class InternalErrorMiddleware:
    """500 for an unhandled exception, logged by type and place only.

    Starlette would re-raise it for the server to log with its traceback and message, and a
    message can hold a value from the request: this keeps secrets out of the log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            tb = exc.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
            log.error(
                "unhandled %s at %s on %s %s",
                type(exc).__name__,
                where,
                scope["method"],
                scope["path"],
            )
            if not started:
                response = JSONResponse({"detail": "internal server error"}, status_code=500)
                await response(scope, receive, send)


def create_app(config: Config) -> Starlette:
    """Build the app; ConfigError when it must not start (bad key, undecryptable secrets)."""
    check_max_probes(config)
    check_registry_times(config)
    check_gateway_times(config)
    prepare_home(config.home)
    cipher = load_cipher(config)
    etag_key = load_etag_key_of(config)
    store = open_store(config.store, config.home)
    try:
        store.remove_stale_temp_files()
        seal_url_queries(store, cipher)
        check_secrets(store, cipher)
        store.check_keys(etag_key, cipher)
    except BaseException:
        store.close()  # a refused start leaves no connection open
        raise
    managed = Managed()
    if config.managed_config is not None:
        managed = load_managed(config.managed_config, cipher, os.environ)
    signer = ETagSigner(etag_key)
    servers = ServerCatalog(signer, cipher, managed.servers)
    registries = RegistryCatalog(signer, cipher, managed.registries)
    session_keys = load_session_keys(config)
    if session_keys is None:
        log.warning(
            "serving WITHOUT a session key (--no-auth): any program of any user on this "
            "machine can read and change the settings"
        )
    elif not config.session_api_keys:
        log.info(
            "the session key is in %s: send it as the X-Session-API-Key header",
            config.home / SESSION_KEY_FILE,
        )
    guard = GuardRules.build(config.bind_host, config.allowed_hosts, config.allowed_origins)
    probes = ProbeLimiter(config.max_probes)
    pool = UpstreamPool(probes, config.mcp_idle_seconds)
    pins = PinStore(config.home)
    gateway_tools = GatewayTools(store, servers, pool, pins, config.mcp_timeout)
    gateway = Gateway(gateway_tools)
    trim = IdleTrim()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        trimming = asyncio.create_task(trim.watch())
        async with gateway.lifespan():
            yield
        trimming.cancel()
        with suppress(asyncio.CancelledError):
            await trimming
        store.close()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(NoteRequests, trim=trim),
            Middleware(InternalErrorMiddleware),
            Middleware(SecurityHeaders),
            Middleware(RequestGuard, rules=guard),
            Middleware(SessionKeyMiddleware, keys=session_keys),
        ],
        exception_handlers={
            HTTPException: _http_error,
            InvalidSettings: _invalid,
            StoreUnavailable: _unavailable,
            SecretUnavailable: _unavailable,
            RegistryFailed: _registry_failed,
            CredentialError: _refused_credentials,
        },
        lifespan=lifespan,
    )
    app.state.openapi = build_openapi(app.routes, operations)
    app.state.gateway = gateway
    app.state.context = AppContext(
        config=config,
        store=store,
        cipher=cipher,
        servers=servers,
        registries=registries,
        tools=ToolCache(),
        probes=probes,
        session_keys=session_keys,
        registry_reader=RegistryReader(config.registry_ttl, config.registry_timeout),
        gateway=gateway_tools,
        pins=pins,
        catalog=CatalogBuilder(pins),
        rendered=RenderedAnswers(),
        server_list=ServerList(signer),
        settings_answer=SettingsAnswer(),
    )
    return app


def create_app_from_env() -> Starlette:
    """The factory uvicorn calls in each worker process."""
    with built_for_life():
        return create_app(Config.from_env())
