"""Which client wrote a config file, from the fields and references that set the formats apart.

Checked from the most distinctive to the least: YAML text or a list of servers (Continue),
`servers` or `inputs` (VS Code), `serverUrl` (Windsurf), Cline's own fields, Cursor's
references, Claude Code's `type` or `${VAR}`; a plain `mcpServers` file is Claude Desktop's.
"""

from __future__ import annotations

import json
import re
from typing import Any

_CLINE_FIELDS = ("autoApprove", "transportType")
_CURSOR_REFERENCE = re.compile(r"\$\{(env:|userHome\}|workspaceFolder)")
_CLAUDE_CODE_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}")


def detect_format(content: Any) -> str:
    if isinstance(content, str):
        return "continue"
    if not isinstance(content, dict):
        return "claude-desktop"
    if isinstance(content.get("mcpServers"), list):
        return "continue"
    if "mcpServers" not in content and ("servers" in content or "inputs" in content):
        return "vscode"
    servers = content.get("mcpServers")
    entries = (
        [e for e in servers.values() if isinstance(e, dict)] if isinstance(servers, dict) else []
    )
    if any("serverUrl" in e for e in entries):
        return "windsurf"
    if any(
        any(f in e for f in _CLINE_FIELDS) or e.get("type") == "streamableHttp" for e in entries
    ):
        return "cline"
    text = json.dumps(entries)
    if _CURSOR_REFERENCE.search(text):
        return "cursor"
    if any("type" in e for e in entries) or _CLAUDE_CODE_REFERENCE.search(text):
        return "claude-code"
    return "claude-desktop"
