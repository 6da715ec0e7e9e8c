"""A real headless Chromium loads a page from another origin on loopback that attacks the server
the ways a web page can: a fetch with a text body (no preflight), a JSON fetch (preflighted), an
<img> that would start the tool catalog, and a form post. The server runs with --no-auth, so
the browser guard alone stands between the page and a shell command or a stored token."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from support import (
    CHROMIUM_FLAGS,
    Listener,
    ServerProcess,
    chromium_path,
    cli_env,
    free_port,
    settings_bytes,
)

CANARY = "canary-browser-token-5e1b"
BROWSER_FLAGS = ["--headless", *CHROMIUM_FLAGS, "--virtual-time-budget=15000", "--dump-dom"]


def attack_page(target: str, listener: int, marker: Path) -> str:
    shell = {"command": "sh", "args": ["-c", f"touch {marker}"]}
    steal = {
        "name": "github",
        "config": {"url": f"http://127.0.0.1:{listener}/mcp", "auth": "*" * 10},
    }
    return f"""<!doctype html><html><body><iframe name="sink"></iframe>
<form id="form" method="POST" target="sink" enctype="text/plain" action="{target}/api/mcp/test">
<input name='{{"config": {{"command": "sh", "args": ["-c", "touch {marker}.form"]}}, "x": "'
 value='"}}'></form>
<script>
const log = (line) => {{ const p = document.createElement("p"); p.className = "step";
  p.textContent = line; document.body.appendChild(p); }};
async function attempt(label, run) {{
  try {{ const r = await run(); log(label + ": " + (r.type === "opaque" ? "sent" : r.status)); }}
  catch (e) {{ log(label + ": blocked"); }}
}}
(async () => {{
  await attempt("text", () => fetch("{target}/api/mcp/test", {{method: "POST", mode: "no-cors",
    body: JSON.stringify({{config: {shell}}})}}));
  await attempt("steal", () => fetch("{target}/api/mcp/test", {{method: "POST", mode: "no-cors",
    body: JSON.stringify({steal})}}));
  await attempt("json", () => fetch("{target}/api/mcp/test", {{method: "POST",
    headers: {{"Content-Type": "application/json"}}, body: JSON.stringify({{config: {shell}}})}}));
  await attempt("patch", () => fetch("{target}/api/settings", {{method: "PATCH",
    headers: {{"Content-Type": "application/json"}},
    body: JSON.stringify({{misc_settings_diff: {{owned: true}}}})}}));
  await new Promise((done) => {{ const img = new Image(); img.onload = img.onerror = done;
    img.src = "{target}/api/mcp/tools?refresh=1"; document.body.appendChild(img); }});
  log("img: done");
  document.getElementById("form").submit();
  await new Promise((done) => setTimeout(done, 1500));
  log("finished");
}})();
</script></body></html>"""


@pytest.fixture
def page_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """Serves whatever attack.html in tmp_path holds, from its own origin."""
    folder = tmp_path

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = (folder / "attack.html").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1], folder
    httpd.shutdown()


def test_a_page_of_another_origin_cannot_run_a_command_start_a_probe_or_move_a_secret(
    tmp_path: Path, page_server: tuple[int, Path]
) -> None:
    marker = tmp_path / "command-ran"
    home = tmp_path / "home"
    server = ServerProcess(home, "--no-auth", env=cli_env()).wait_ready()
    listener = Listener()
    try:
        with server.client(timeout=30) as api:
            github = {"url": "https://api.example.com/mcp", "auth": CANARY}
            assert api.put("/api/settings/mcp-servers/github", json=github).status_code == 201
            probe = {"command": "sh", "args": ["-c", f"touch {marker}.catalog"]}
            assert api.put("/api/settings/mcp-servers/catalog", json=probe).status_code == 201
        before = settings_bytes(home)
        port, folder = page_server
        (folder / "attack.html").write_text(attack_page(server.url, listener.port, marker))

        result = subprocess.run(
            [
                chromium_path(),
                *BROWSER_FLAGS,
                f"--user-data-dir={tmp_path / 'profile'}",
                f"http://127.0.0.1:{port}/attack.html",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        dom = result.stdout

        # The page ran every step, and its requests reached the server and were refused.
        assert "finished" in dom, result.stderr[-2000:]
        log = server.log()
        assert '"POST /api/mcp/test HTTP/1.1" 403' in log, log
        assert '"GET /api/mcp/tools?refresh=1 HTTP/1.1" 403' in log, log
        assert "200 OK" not in "".join(line for line in log.splitlines() if "/api/mcp" in line)
        # Nothing ran, no probe started, nothing was sent anywhere, the file is as it was.
        for suffix in ("", ".form", ".catalog"):
            assert not Path(f"{marker}{suffix}").exists(), suffix
        assert listener.connections == 0 and listener.received == []
        assert settings_bytes(home) == before
        assert CANARY not in dom and CANARY not in log
        # A rebinding page (its own name resolving to 127.0.0.1) is refused by name.
        rebound = httpx.get(server.url + "/api/settings", headers={"Host": "evil.example"})
        assert rebound.status_code == 421
    finally:
        listener.close()
        server.stop()
