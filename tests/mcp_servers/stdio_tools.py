"""A stdio MCP server for the tests of live connections (run with sys.executable).

It has the tool `add`, and a tool named `env_<first 16 hex digits of sha256(MCP_TEST_SECRET)>`,
so a test proves the child got that env value in plaintext without the value ever showing up in
the tool list. At start it prints the value to stderr, as a careless server would: the settings
server must not copy a child's stderr into its answers or its log. With MCP_TEST_STARTS set to a
file path, each start appends a line to that file, so a test counts the children started.
"""

from __future__ import annotations

import hashlib
import os
import sys

from fastmcp import FastMCP

SECRET = os.environ.get("MCP_TEST_SECRET", "")

mcp = FastMCP("stdio-tools", version="1.2.3")


@mcp.tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def env_proof() -> str:
    """Names the hash of the MCP_TEST_SECRET this process was given."""
    return "the tool's name is the proof"


mcp.tool(env_proof, name="env_" + hashlib.sha256(SECRET.encode()).hexdigest()[:16])

if __name__ == "__main__":
    if os.environ.get("MCP_TEST_STARTS"):
        with open(os.environ["MCP_TEST_STARTS"], "a") as starts:
            starts.write(f"{os.getpid()}\n")
    print(f"stdio-tools starting, MCP_TEST_SECRET={SECRET}", file=sys.stderr, flush=True)
    mcp.run(show_banner=False)
