"""The heap is trimmed once after each busy spell, never while a request runs."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from agent_server.heap import IdleTrim, NoteRequests, built_for_life

IDLE = 0.05
WAIT = 0.3  # several of the watcher's turns


def app_with(trim: IdleTrim, release: asyncio.Event) -> Starlette:
    async def fast(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def slow(request: Request) -> PlainTextResponse:
        await release.wait()
        return PlainTextResponse("ok")

    return Starlette(
        routes=[Route("/fast", fast), Route("/slow", slow)],
        middleware=[Middleware(NoteRequests, trim=trim)],
    )


async def lifespan_running(app: Starlette, stop: asyncio.Event) -> None:
    """The app's lifespan, open until `stop`: it passes the middleware for as long."""
    sent: list[Any] = []

    async def receive() -> dict[str, str]:
        if not sent:
            return {"type": "lifespan.startup"}
        await stop.wait()
        return {"type": "lifespan.shutdown"}

    async def send(message: Any) -> None:
        sent.append(message)

    await app({"type": "lifespan", "state": {}}, receive, send)


def test_trimmed_once_after_each_busy_spell_and_never_during_one() -> None:
    trims: list[int] = []

    async def check() -> None:
        trim = IdleTrim(IDLE, trim=lambda: trims.append(1))
        release, stop = asyncio.Event(), asyncio.Event()
        app = app_with(trim, release)
        lifespan = asyncio.create_task(lifespan_running(app, stop))
        watcher = asyncio.create_task(trim.watch())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await asyncio.sleep(WAIT)
            assert trims == []  # nothing ran yet: the open lifespan is not a request
            assert (await client.get("/fast")).status_code == 200
            await asyncio.sleep(WAIT)
            assert trims == [1]
            await asyncio.sleep(WAIT)
            assert trims == [1]  # once per spell, not once per turn
            slow = asyncio.create_task(client.get("/slow"))
            await asyncio.sleep(WAIT)
            assert trims == [1]  # a request under way
            release.set()
            assert (await slow).status_code == 200
            await asyncio.sleep(WAIT)
            assert trims == [1, 1]
        watcher.cancel()
        stop.set()
        await lifespan

    asyncio.run(check())


def test_the_c_library_trim_runs() -> None:
    """On glibc (this machine, CI) the default trim is malloc_trim, and a spell ends in it."""

    async def check() -> None:
        trim = IdleTrim(IDLE)
        app = app_with(trim, asyncio.Event())
        watcher = asyncio.create_task(trim.watch())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/fast")).status_code == 200
        assert trim.last != 0.0
        await asyncio.sleep(WAIT)
        assert not watcher.done()  # it has a trim to run, so it keeps watching
        assert trim.last == 0.0  # trimmed, and waiting for the next spell
        watcher.cancel()

    asyncio.run(check())


def test_what_start_up_builds_is_frozen_and_the_collector_is_back_on_after() -> None:
    before = gc.get_freeze_count()
    try:
        with built_for_life():
            assert not gc.isenabled()
            built = [[index] for index in range(100)]  # containers the collector tracks
        assert gc.isenabled()
        assert gc.get_freeze_count() >= before + len(built)
        with pytest.raises(RuntimeError), built_for_life():
            raise RuntimeError("a refused start")
        assert gc.isenabled()
    finally:
        gc.unfreeze()
