"""The documented config file of every client format, in tests/formats, and a value for every
reference they hold: what the import, export, CLI and sdk suites feed in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FORMATS_DIR = Path(__file__).resolve().parent / "formats"
IMPORT = "/api/mcp/import"
SAMPLES = {
    "claude-desktop": "claude_desktop_config.json",
    "claude-code": "claude_code.mcp.json",
    "cursor": "cursor.mcp.json",
    "vscode": "vscode.mcp.json",
    "cline": "cline_mcp_settings.json",
    "windsurf": "windsurf_mcp_config.json",
    "continue": "continue_mcp.yaml",
}
# Every reference of every sample, with a canary value.
VALUES = {
    "API_KEY": "canary-api-key-5d21",
    "DB_PASSWORD": "canary-db-pass-0b7e",
    "MY_SERVICE_TOKEN": "canary-service-9f30",
    "workspaceFolder": "/home/me/project",
    "perplexity-key": "canary-perplexity-44c1",
    "GITHUB_TOKEN": "canary-gh-token-a17f",
    "FIGMA_TOKEN": "canary-figma-2e9b",
    "GITHUB_PERSONAL_ACCESS_TOKEN": "canary-gh-pat-6c03",
    "DOCS_TOKEN": "canary-docs-8d44",
}


def sample(name: str) -> Any:
    text = (FORMATS_DIR / SAMPLES[name]).read_text()
    return text if name == "continue" else json.loads(text)
