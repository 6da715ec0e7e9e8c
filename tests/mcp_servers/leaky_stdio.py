"""A stdio "MCP server" that quotes its MCP_TEST_SECRET in everything it writes.

It prints the secret to stderr, prints non-MCP lines quoting it to stdout, and answers every
request with a JSON-RPC error quoting it: whole, cut short, JSON-escaped and repr-quoted (as a
careless server would). It exits when its input ends. It imports nothing heavy.
"""

from __future__ import annotations

import json
import os
import sys

SECRET = os.environ.get("MCP_TEST_SECRET", "")
FORMS = (
    f"whole {SECRET} | cut {SECRET[: len(SECRET) // 2]} | json {json.dumps(SECRET)} "
    f"| repr {SECRET!r}"
)

print(f"starting with {FORMS}", file=sys.stderr, flush=True)
print(f"not MCP: {FORMS}", flush=True)
print(json.dumps({"jsonrpc": "2.0", "method": FORMS}), flush=True)
for line in sys.stdin:
    try:
        request = json.loads(line)
    except ValueError:
        continue
    if "id" in request:
        error = {"code": -32050, "message": f"bad secret: {FORMS}", "data": FORMS}
        print(json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": error}), flush=True)
