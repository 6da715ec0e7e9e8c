"""A stdio "MCP server" that prints its secret env value and exits with 3 at once.

usage: stdio_crash.py [--stdout] [MARKER_PATH]

It prints `MCP_TEST_SECRET`'s value to stderr, or with --stdout as a (non-MCP) line on stdout,
as a careless server would. With a marker path it first creates that file, so a test can tell
whether it was ever started. It imports nothing heavy: it starts and dies fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

args = sys.argv[1:]
to_stdout = "--stdout" in args
paths = [arg for arg in args if arg != "--stdout"]
if paths:
    Path(paths[0]).write_text("started\n")
secret = os.environ.get("MCP_TEST_SECRET")
print(
    f"fatal: cannot start with MCP_TEST_SECRET={secret}",
    file=sys.stdout if to_stdout else sys.stderr,
)
sys.exit(3)
