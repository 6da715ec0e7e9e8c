"""The seven client formats: each documented sample reads as the expected server entries, is
detected as its own format, and our configs written as each format read back unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from format_samples import SAMPLES, sample

from agent_server.formats import FORMAT_NAMES, FORMATS, FormatError
from agent_server.formats.detect import detect_format
from sdk.models import CLIENT_FORMATS

GITHUB_ARGS = ["-y", "@modelcontextprotocol/server-github"]
EXPECTED: dict[str, dict[str, Any]] = {
    "claude-desktop": {
        "filesystem": {
            "command": "npx",
            "args": [
                "-y",
                "@modelcontextprotocol/server-filesystem",
                "/Users/username/Desktop",
                "/Users/username/Downloads",
            ],
        },
        "github": {
            "command": "npx",
            "args": GITHUB_ARGS,
            "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "canary-desktop-token-7c1e"},
        },
    },
    "claude-code": {
        # The URL is a reference until it is filled, so its type cannot be inferred: kept.
        "api-server": {
            "url": "${API_BASE_URL:-https://api.example.com}/mcp",
            "transport": "http",
            "headers": {"Authorization": "Bearer ${API_KEY}"},
        },
        "asana": {"url": "https://mcp.asana.com/sse"},
        "local-db": {
            "type": "stdio",
            "command": "/path/to/server",
            "args": [],
            "env": {
                "DB_URL": "${DB_URL:-postgres://localhost/dev}",
                "DB_PASSWORD": "${DB_PASSWORD}",
            },
        },
    },
    "cursor": {
        "server-name": {
            "command": "npx",
            "args": ["-y", "mcp-server"],
            "env": {"API_KEY": "${env:API_KEY}"},
        },
        "project-tools": {"command": "python", "args": ["${workspaceFolder}/tools/mcp_server.py"]},
        "remote-server": {
            "url": "http://localhost:3000/mcp",
            "headers": {"API_KEY": "${env:MY_SERVICE_TOKEN}"},
        },
    },
    "vscode": {
        "Perplexity": {
            "type": "stdio",
            "command": "npx",
            "args": ["-y", "server-perplexity-ask"],
            "env": {"PERPLEXITY_API_KEY": "${input:perplexity-key}"},
        },
        "fetch": {
            "type": "stdio",
            "command": "uvx",
            "args": ["mcp-server-fetch"],
            "envFile": "${workspaceFolder}/.env",
        },
        "github": {"url": "https://api.githubcopilot.com/mcp/"},
        "events": {"url": "https://events.example.com/mcp", "transport": "sse"},
    },
    "cline": {
        "local-server": {
            "command": "node",
            "args": ["/path/to/server.js"],
            "env": {"API_KEY": "canary-cline-key-3b8d"},
            "alwaysAllow": ["tool1"],
            "autoApprove": ["tool1", "tool2"],
            "enabled": True,
        },
        # Untyped with a URL is SSE in Cline; 30 s is 30000 ms here.
        "remote-server": {
            "url": "https://your-server-url.com/mcp",
            "transport": "sse",
            "headers": {"Authorization": "Bearer canary-cline-bearer-91aa"},
            "autoApprove": ["tool3"],
            "enabled": False,
            "timeout": 30000,
        },
        "streaming": {"url": "https://stream.example.com/mcp", "autoApprove": []},
        "github.com/modelcontextprotocol/servers/tree/main/src/github": {
            "command": "node",
            "args": ["/path/to/github/dist/index.js"],
            "autoApprove": [],
        },
    },
    "windsurf": {
        "github": {
            "command": "npx",
            "args": GITHUB_ARGS,
            "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${env:GITHUB_TOKEN}"},
        },
        "figma": {
            "url": "https://mcp.figma.example/mcp",
            "headers": {"Authorization": "Bearer ${env:FIGMA_TOKEN}"},
        },
    },
    "continue": {
        "Browser search": {"command": "npx", "args": ["@playwright/mcp@latest"]},
        "GitHub": {
            "command": "npx",
            "args": GITHUB_ARGS,
            "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${{ secrets.GITHUB_PERSONAL_ACCESS_TOKEN }}"},
        },
        "Docs": {
            "url": "https://docs.example.com/mcp",
            "headers": {"Authorization": "Bearer ${{ secrets.DOCS_TOKEN }}"},
        },
    },
}
# Our configs in every shape a client must carry back unchanged.
OURS: list[tuple[str, dict[str, Any]]] = [
    ("plain", {"command": "uvx", "args": ["files-mcp"], "env": {"TOKEN": "t"}}),
    ("typed", {"command": "node", "type": "stdio", "transport": "stdio", "cwd": "/srv"}),
    ("off", {"command": "run", "enabled": False, "description": "Off for now", "timeout": 1500}),
    ("on", {"command": "run", "enabled": True, "keep_alive": False}),
    ("remote", {"url": "https://a.example/mcp", "headers": {"X-Key": "k"}}),
    ("events", {"url": "https://b.example/sse"}),
    ("sse-on-mcp", {"url": "https://c.example/mcp", "transport": "sse", "timeout": 60000}),
    ("named-http", {"url": "https://d.example/mcp", "transport": "http", "auth": "oauth"}),
    ("streamable", {"url": "https://e.example/x", "transport": "streamable-http", "icon": "i"}),
    ("extra", {"url": "https://f.example/mcp?k=v", "x-team": {"owner": "me"}, "enabled": False}),
]


def as_file(name: str, content: Any) -> Any:
    """What the client would read back: the JSON text parsed, or the YAML text itself."""
    return content if FORMATS[name].is_yaml else json.loads(json.dumps(content))


@pytest.mark.parametrize("name", SAMPLES)
def test_the_documented_sample_reads_as_the_expected_entries(name: str) -> None:
    assert dict(FORMATS[name].read(sample(name))) == EXPECTED[name]


@pytest.mark.parametrize("name", SAMPLES)
def test_each_sample_is_detected_as_its_own_format(name: str) -> None:
    assert detect_format(sample(name)) == name


def test_a_plain_mcp_servers_file_is_claude_desktop() -> None:
    assert detect_format({"mcpServers": {"a": {"command": "x"}}}) == "claude-desktop"
    assert detect_format({"mcpServers": {}}) == "claude-desktop"


@pytest.mark.parametrize("name", SAMPLES)
def test_our_configs_written_as_the_format_read_back_unchanged(name: str) -> None:
    client = FORMATS[name]
    written = as_file(name, client.write(OURS, []))
    assert client.read(written) == OURS


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("claude-desktop", ["not", "an", "object"]),
        ("cursor", {"mcpServers": ["a"]}),
        ("vscode", {"servers": {}, "inputs": {"id": "x"}}),
        ("continue", "mcpServers: [unclosed"),
        ("continue", "mcpServers:\n  a: 1\n"),
    ],
)
def test_a_file_that_is_not_of_its_format_is_refused_with_what_is_wrong(
    name: str, content: Any
) -> None:
    with pytest.raises(FormatError) as exc:
        FORMATS[name].read(content)
    assert name in str(exc.value) or "vscode" in str(exc.value)


def test_the_written_files_use_each_clients_own_fields() -> None:
    remote = [("r", {"url": "https://a.example/mcp", "enabled": False, "timeout": 30000})]
    assert FORMATS["windsurf"].write(remote, [])["mcpServers"]["r"] == {
        "serverUrl": "https://a.example/mcp",
        "disabled": True,
        "timeout": 30000,
    }
    assert FORMATS["cline"].write(remote, [])["mcpServers"]["r"] == {
        "url": "https://a.example/mcp",
        "type": "streamableHttp",
        "disabled": True,
        "timeout": 30,
    }
    assert FORMATS["claude-code"].write(remote, [])["mcpServers"]["r"]["type"] == "http"
    vscode = FORMATS["vscode"].write(remote, ["R_KEY"])
    assert vscode["inputs"] == [
        {"type": "promptString", "id": "R_KEY", "description": "R_KEY (secret)", "password": True}
    ]
    assert "servers" in vscode


def test_the_registry_holds_exactly_the_formats_the_wire_models_name() -> None:
    assert FORMAT_NAMES == CLIENT_FORMATS
