"""The settings page in a real Chromium against a real server: log in, create, test, save,
edit with a masked secret, resolve a 412 between two tabs, a read-only key, the legacy path."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Page, expect
from registries.conftest import FakeRegistry
from support import MASK, ROOT, ServerProcess, cli_env, read_settings, settings_bytes
from web.conftest import PageOpener, printed_page_url, screenshot

STDIO_TOOLS = str(ROOT / "tests" / "mcp_servers" / "stdio_tools.py")
SERVERS = "/api/settings/mcp-servers"
CANARY = "canary-page-env-31f8"
LLM_KEY = "canary-page-llm-9a0c"


@pytest.fixture
def server(home: Path, start_server: Callable[..., ServerProcess]) -> ServerProcess:
    served: ServerProcess = start_server(home, env=cli_env())
    return served


def logged_in(open_page: PageOpener, server: ServerProcess, **kwargs: Any) -> Page:
    page = open_page(**kwargs)
    page.goto(printed_page_url(server))
    expect(page.locator("#app")).to_be_visible()
    return page


def put(server: ServerProcess, name: str, config: dict[str, Any]) -> None:
    with server.client() as api:
        assert api.put(f"{SERVERS}/{name}", json=config).status_code == 201


def stored_plaintext(home: Path, name: str, var: str) -> str:
    key = (home / "secret.key").read_text().split()[0]
    server = read_settings(home)["agent_settings"]["mcp_config"]["mcpServers"][name]
    return Fernet(key).decrypt(server["env"][var].encode()).decode()


def test_the_printed_url_logs_in_once_and_leaves_the_address_bar(
    server: ServerProcess, open_page: PageOpener
) -> None:
    url = printed_page_url(server)
    page = logged_in(open_page, server)
    assert page.url == f"{server.url}/"
    [cookie] = page.context.cookies()
    assert cookie["name"] == f"agent_server_session_{server.port}"
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert "code" not in cookie["value"]

    open_page.allow(401)  # the wrong key below
    again = open_page()
    again.goto(url)  # the code works once: a second browser is asked for a key
    expect(again.locator("#login")).to_be_visible()
    expect(again.locator("#app")).to_be_hidden()
    again.fill("#login-key", "not-the-key")
    again.click("#login-form button")
    expect(again.locator("#login-error")).to_contain_text("not a session key")
    assert server.home is not None
    again.fill("#login-key", (server.home / "session.key").read_text().strip())
    again.click("#login-form button")
    expect(again.locator("#app")).to_be_visible()


def test_create_a_stdio_server_test_it_save_it_and_see_its_tools(
    server: ServerProcess, open_page: PageOpener
) -> None:
    page = logged_in(open_page, server)
    page.click("#new-server")
    page.fill("#f-name", "files")
    page.fill("#f-command", sys.executable)
    page.fill("#f-args", STDIO_TOOLS)
    page.click("#add-env")
    page.fill("#env-key-0", "MCP_TEST_SECRET")
    page.fill("#env-value-0", CANARY)
    page.click("#test")
    expect(page.locator("#test-result")).to_have_text(re.compile(r"^Works: 2 tool"), timeout=60_000)
    page.click("#save")
    expect(page.locator("li.server[data-name=files]")).to_be_visible()
    expect(page.locator("#env-value-0")).to_have_value(MASK)  # the secret left the page

    # Testing again with the secret masked fills it from the stored one (the name is sent).
    page.click("#test")
    expect(page.locator("#test-result")).to_have_text(re.compile(r"^Works"), timeout=60_000)
    page.click("#tools")
    proof = "env_" + hashlib.sha256(CANARY.encode()).hexdigest()[:16]
    expect(page.locator("#tool-list")).to_contain_text(proof)
    expect(page.locator("#tool-list")).to_contain_text("add")
    page.uncheck("[aria-label='Serve the tool add']")  # one tool off: the gateway leaves it out
    expect(page.locator("#status")).to_have_text("add no longer served through the gateway")
    stored = read_settings(server.home)["agent_settings"]["mcp_config"]["mcpServers"]["files"]
    assert stored["tools"] == {"add": {"enabled": False}}
    assert stored_plaintext(server.home, "files", "MCP_TEST_SECRET") == CANARY
    page.click("#tools")
    expect(page.locator("[aria-label='Serve the tool add']")).not_to_be_checked()
    page.locator("li.server[data-name=files] .check").click()
    expect(page.locator("li.server[data-name=files] .checked")).to_contain_text(
        re.compile(r"ok at .*, 2 tool\(s\)"), timeout=60_000
    )
    assert CANARY not in page.content()
    screenshot(page, "servers-and-editor")


def test_a_masked_secret_survives_an_edit_and_a_new_destination_asks_for_it(
    server: ServerProcess, home: Path, open_page: PageOpener
) -> None:
    put(server, "files", {"command": "npx", "args": ["files"], "env": {"TOKEN": CANARY}})
    page = logged_in(open_page, server)
    page.click("li.server[data-name=files] .edit")
    expect(page.locator("#env-value-0")).to_have_value(MASK)
    page.uncheck("#f-enabled")
    page.click("#save")
    expect(page.locator("#status")).to_have_text("Saved files")
    assert stored_plaintext(home, "files", "TOKEN") == CANARY
    assert (
        read_settings(home)["agent_settings"]["mcp_config"]["mcpServers"]["files"]["enabled"]
        is False
    )

    before = settings_bytes(home)
    page.fill("#f-args", "files\n--elsewhere")
    page.click("#save")
    error = page.locator("#env-rows .pair-error").first
    expect(error).to_contain_text("enter this secret again")
    assert settings_bytes(home) == before


def test_an_edit_in_two_tabs_resolves_the_412_without_losing_either_change(
    server: ServerProcess, home: Path, open_page: PageOpener
) -> None:
    put(server, "files", {"command": "npx", "args": ["files"], "env": {"TOKEN": CANARY}})
    first = logged_in(open_page, server)
    second = open_page(context=first.context)
    second.goto(server.url)
    for page in (first, second):
        page.click("li.server[data-name=files] .edit")
        expect(page.locator("#f-command")).to_have_value("npx")

    first.click("#add-env")
    first.fill("#env-key-1", "REGION")
    first.fill("#env-value-1", "eu-west")
    first.click("#save")
    expect(first.locator("#status")).to_have_text("Saved files")

    open_page.allow(412)
    second.uncheck("#f-enabled")
    second.click("#save")
    expect(second.locator("#conflict")).to_be_visible()
    expect(second.locator("#form-error")).to_contain_text("nothing was overwritten")
    rows = second.locator("#conflict-rows")
    expect(rows).to_contain_text("env.REGION")
    expect(rows).to_contain_text("enabled")
    assert "eu-west" not in rows.inner_text()  # secrets stay masked in the comparison
    screenshot(second, "conflict")
    second.click("#conflict-reapply")
    second.click("#save")
    expect(second.locator("#status")).to_have_text("Saved files")

    stored = read_settings(home)["agent_settings"]["mcp_config"]["mcpServers"]["files"]
    assert stored["enabled"] is False and set(stored["env"]) == {"TOKEN", "REGION"}
    assert stored_plaintext(home, "files", "REGION") == "eu-west"
    assert stored_plaintext(home, "files", "TOKEN") == CANARY


def test_a_read_key_gets_a_read_only_page_and_the_api_refuses_its_writes(
    home: Path, start_server: Callable[..., ServerProcess], open_page: PageOpener
) -> None:
    keys = "admin-key-5b1e:admin,read-key-07c3:read"
    server = start_server(home, env=cli_env(AGENT_SERVER_SESSION_API_KEYS=keys))
    put(server, "files", {"command": "npx", "env": {"TOKEN": CANARY}})
    page = open_page()
    page.goto(server.url)
    page.fill("#login-key", "read-key-07c3")
    page.click("#login-form button")
    expect(page.locator("#scope")).to_have_text("read only")
    expect(page.locator("#new-server")).to_be_hidden()
    expect(page.locator("li.server[data-name=files] .enabled")).to_be_disabled()
    page.click("li.server[data-name=files] .edit")
    expect(page.locator("#save")).to_be_hidden()
    expect(page.locator("#f-command")).to_be_disabled()
    expect(page.locator("#env-rows .reveal").first).to_be_hidden()
    open_page.allow(403)
    status = page.evaluate(
        "() => fetch('/api/settings/mcp-servers/files', {method: 'DELETE'}).then(r => r.status)"
    )
    assert status == 403
    reveal = page.evaluate(
        "() => fetch('/api/settings/mcp-servers/files',"
        " {headers: {'X-Expose-Secrets': 'plaintext'}}).then(r => r.status)"
    )
    assert reveal == 403


def test_the_language_model_goes_through_the_legacy_patch(
    server: ServerProcess, home: Path, open_page: PageOpener
) -> None:
    page = logged_in(open_page, server)
    page.fill("#llm-model", "gpt-page")
    page.fill("#llm-base-url", "https://llm.example/v1")
    page.fill("#llm-api-key", LLM_KEY)
    page.click("text=Save model settings")
    expect(page.locator("#status")).to_have_text("Saved the model settings")
    expect(page.locator("#llm-api-key")).to_have_value(MASK)
    page.fill("#llm-model", "gpt-page-2")
    page.click("text=Save model settings")
    expect(page.locator("#status")).to_have_text("Saved the model settings")
    llm = read_settings(home)["agent_settings"]["llm"]
    key = (home / "secret.key").read_text().split()[0]
    assert llm["model"] == "gpt-page-2"
    assert Fernet(key).decrypt(llm["api_key"].encode()).decode() == LLM_KEY
    assert LLM_KEY not in page.content()


def test_every_control_has_a_name_and_the_page_fits_375_px_in_dark_mode(
    server: ServerProcess, browser: Any, open_page: PageOpener
) -> None:
    put(server, "files", {"command": "npx", "env": {"TOKEN": CANARY}})
    context = browser.new_context(viewport={"width": 375, "height": 800}, color_scheme="dark")
    try:
        page = open_page(context=context)
        page.goto(printed_page_url(server))
        expect(page.locator("#app")).to_be_visible()
        page.click("li.server[data-name=files] .edit")
        unnamed = page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea, button')]
                .filter((el) => el.offsetParent !== null)
                .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                    && !el.getAttribute('aria-labelledby') && !el.textContent.trim())
                .map((el) => el.id || el.outerHTML)"""
        )
        assert unnamed == []
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
        background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(13, 17, 23)"
        screenshot(page, "mobile-dark")
    finally:
        context.close()


def test_the_page_cookie_is_refused_from_any_other_origin(
    home: Path, start_server: Callable[..., ServerProcess]
) -> None:
    server = start_server(home, "--allowed-origins", "https://ide.example", env=cli_env())
    page = httpx.get(server.url + "/")
    for header, value in (
        ("content-security-policy", "default-src 'self'"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ):
        assert value in page.headers[header]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    key = server.api_key
    login = httpx.post(server.url + "/session", json={"key": key})
    assert login.status_code == 204
    cookie = login.cookies[f"agent_server_session_{server.port}"]
    jar = {f"agent_server_session_{server.port}": cookie}
    api = server.url + "/api/settings"
    assert httpx.get(api, cookies=jar).status_code == 200
    own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    assert httpx.get(api, cookies=jar, headers=own).status_code == 200
    # An origin the server lets call it with a key still gets nothing from the page's cookie.
    listed = {"Origin": "https://ide.example", "Sec-Fetch-Site": "cross-site"}
    assert httpx.get(api, cookies=jar, headers=listed).status_code == 401
    assert httpx.get(api, headers={**listed, "X-Session-API-Key": key or ""}).status_code == 200
    forged = {f"agent_server_session_{server.port}": cookie[:-4] + "AAAA"}
    assert httpx.get(api, cookies=forged).status_code == 401
    other_port = {"agent_server_session_1": cookie}
    assert httpx.get(api, cookies=other_port).status_code == 401
    logout = httpx.delete(server.url + "/session", cookies=jar)
    assert "Max-Age=0" in logout.headers["set-cookie"]


def test_import_a_cursor_config_after_a_dry_run_and_export_it_for_vs_code(
    server: ServerProcess, home: Path, open_page: PageOpener
) -> None:
    put(server, "files", {"command": "npx", "args": ["files"], "env": {"TOKEN": CANARY}})
    before = settings_bytes(home)
    page = logged_in(open_page, server)
    sample = (ROOT / "tests" / "formats" / "cursor.mcp.json").read_text()
    page.fill("#import-content", sample)
    page.select_option("#import-format", "cursor")
    page.click("#import-preview")
    expect(page.locator("#import-caption")).to_contain_text("nothing written yet")
    lines = page.locator("#import-lines tbody")
    expect(lines).to_contain_text("server-name")
    expect(lines).to_contain_text("needs API_KEY")
    assert settings_bytes(home) == before  # the dry run wrote nothing

    page.click("#import-apply")
    expect(page.locator("#import-caption")).to_contain_text("Imported from a cursor file")
    expect(page.locator("li.server[data-name=remote-server]")).to_be_visible()
    stored = read_settings(home)["agent_settings"]["mcp_config"]["mcpServers"]
    assert {"server-name", "project-tools", "remote-server"} <= set(stored)

    page.select_option("#export-format", "vscode")
    with page.expect_download() as download:
        page.click("#export-link")
    exported = json.loads(Path(download.value.path()).read_text())
    # Enabled servers only: the imported ones wait, disabled, for their references' values.
    assert set(exported["servers"]) == {"files"}
    assert CANARY not in json.dumps(exported)


def test_install_from_a_registry_with_a_secret_input(
    server: ServerProcess, home: Path, open_page: PageOpener, fake_registry: FakeRegistry
) -> None:
    with server.client() as api:
        registry = {"url": fake_registry.url("main"), "title": "Fake"}
        assert api.put("/api/settings/mcp-registries/fake", json=registry).status_code == 201
    page = logged_in(open_page, server)
    page.select_option("#registry-id", "fake")
    page.fill("#registry-text", "files")
    page.click("#registry-search button")
    page.click("[aria-label='Details of io.example/npm-files']")
    expect(page.locator("#install-title")).to_have_text("Files (npm)")
    expect(page.locator("#install-config")).to_contain_text("@example/files-mcp@1.2.0")
    secret = page.locator("[data-input=FILES_TOKEN]")
    expect(secret).to_have_attribute("type", "password")

    open_page.allow(422)
    page.click("#install-form button[type=submit]")  # the required inputs are missing
    expect(page.locator("#install-form")).to_contain_text("root")
    assert "npm-files" not in json.dumps(read_settings(home)["agent_settings"])

    page.fill("[data-input=root]", "/srv/files")
    secret.fill(CANARY)
    page.click("#install-form button[type=submit]")
    expect(page.locator("#status")).to_have_text("Installed npm-files")
    expect(page.locator("li.server[data-name=npm-files]")).to_be_visible()
    expect(page.locator("li.server[data-name=npm-files] .source")).to_have_text("registry fake")
    assert stored_plaintext(home, "npm-files", "FILES_TOKEN") == CANARY
    assert CANARY not in page.content()


def test_an_admin_reveals_one_secret_only_when_asking(
    server: ServerProcess, open_page: PageOpener
) -> None:
    put(server, "files", {"command": "npx", "env": {"TOKEN": CANARY, "OTHER": "canary-other"}})
    page = logged_in(open_page, server)
    page.click("li.server[data-name=files] .edit")
    assert CANARY not in page.content()
    expect(page.locator("#env-key-0")).to_have_value("TOKEN")
    page.locator("#env-rows .pair").nth(0).locator(".reveal").click()
    expect(page.locator("#env-value-0")).to_have_value(CANARY)
    expect(page.locator("#env-value-1")).to_have_value(MASK)  # only the field asked for
