"""Live connections to MCP servers (probes): list a server's tools, or check its health.

Each probe opens one fastmcp connection, does its one thing and closes it. Probes share one
limit on connections open at once, end every process a stdio server started, and return and
log only text this package writes itself.
"""

from agent_server.probes.cache import ToolCache
from agent_server.probes.connection import list_tools
from agent_server.probes.failures import ProbeFailed
from agent_server.probes.limiter import ProbeLimiter

__all__ = ["ProbeFailed", "ProbeLimiter", "ToolCache", "list_tools"]
