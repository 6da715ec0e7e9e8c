"""`client.registries` and `client.connectors` of the sdk against a real server process and the
fake registry: every call, and the typed errors of registries that fail."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from conftest import FakeRegistry
from support import ServerProcess, cli_env, serving

from sdk import (
    MASK,
    AsyncSettingsClient,
    BadRequest,
    NotFound,
    PreconditionFailed,
    RegistryTimeout,
    RegistryUnavailable,
    SettingsClient,
    ValidationFailed,
)

TOKEN = "canary-sdk-registry-7d10"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("sdk") / "home"
    yield from serving(home, "--registry-timeout", "1", env=cli_env())


@pytest.fixture
def client(server: ServerProcess) -> Iterator[SettingsClient]:
    with SettingsClient(server.url, api_key=server.api_key) as client:
        yield client


def test_registries_as_resources(client: SettingsClient, fake_registry: FakeRegistry) -> None:
    created = client.registries.put(
        "sdk", {"url": fake_registry.url("main"), "headers": {"X-Key": TOKEN}}, if_none_match="*"
    )
    assert created.config["headers"] == {"X-Key": MASK}
    assert client.registries.get("sdk", expose="plaintext").config["headers"] == {"X-Key": TOKEN}
    listed = client.registries.list()
    assert "sdk" in [r.id for r in listed.registries]
    patched = client.registries.patch("sdk", {"title": "SDK"}, if_match=created.etag)
    assert patched.config["title"] == "SDK"
    with pytest.raises(PreconditionFailed):
        client.registries.patch("sdk", {"title": "x"}, if_match=created.etag)
    with pytest.raises(BadRequest):
        client.registries.get("Not An Id")
    client.registries.delete("sdk")
    with pytest.raises(NotFound):
        client.registries.get("sdk")


def test_browse_show_install_upgrade_and_connectors(
    client: SettingsClient, fake_registry: FakeRegistry
) -> None:
    client.registries.put("fake", {"url": fake_registry.url("main")})

    page = client.registries.browse("fake", search="pypi", limit=10)
    assert [s.name for s in page.servers] == ["io.example/pypi-time"]
    shown = client.registries.show("fake", "io.example/pypi-time")
    assert shown.plans[0].inputs[0].name == "zone"
    with pytest.raises(ValidationFailed) as failed:
        client.registries.install("fake", "io.example/pypi-time", inputs={"nope": "1"})
    assert failed.value.errors[0].loc == ["inputs", "nope"]
    installed = client.registries.install(
        "fake", "io.example/pypi-time", as_="clock", inputs={"zone": "UTC"}
    )
    assert installed.name == "clock"
    assert installed.config["args"][-2:] == ["--zone", "UTC"]
    upgraded = client.registries.upgrade("clock", if_match=installed.etag)
    assert upgraded.etag == installed.etag  # already the latest

    ids = [c.id for c in client.connectors.list(limit=100).connectors]
    assert "clock" in ids
    remote = client.connectors.list(registry="fake").connectors
    assert "mcp::fake::io.example/echo" in [c.id for c in remote]
    detail = client.connectors.get("mcp::fake::io.github.user/remote-weather")
    assert detail.installed_as is None and detail.error is not None


def test_failing_registries_raise_typed_errors(
    client: SettingsClient, fake_registry: FakeRegistry
) -> None:
    client.registries.put("broken", {"url": fake_registry.url("garbage")})
    client.registries.put("slow", {"url": fake_registry.url("hang")})

    with pytest.raises(RegistryUnavailable) as broken:
        client.registries.browse("broken")
    assert "'broken'" in str(broken.value.detail)
    with pytest.raises(RegistryTimeout):
        client.registries.show("slow", "io.example/echo")


def test_the_async_client_has_the_same_calls(
    server: ServerProcess, fake_registry: FakeRegistry
) -> None:
    async def run() -> None:
        async with AsyncSettingsClient(server.url, api_key=server.api_key) as client:
            await client.registries.put("async", {"url": fake_registry.url("main")})
            page = await client.registries.browse("async", search="nuget")
            assert [s.name for s in page.servers] == ["io.example/nuget-sample"]
            made = await client.registries.install(
                "async", "io.example/nuget-sample", as_="nuget-async"
            )
            assert made.config["command"] == "dnx"
            listed = await client.connectors.list(registry="async")
            assert listed.connectors
            await client.registries.delete("async")

    asyncio.run(run())
