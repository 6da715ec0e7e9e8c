"""The MCP gateway: `/mcp` serves the tools of every enabled server under one endpoint.

names: the gateway name of each tool; pool: the upstream connections; tools: the tool set and
the routing of calls; endpoint: the fastmcp server mounted at /mcp and its watcher; catalog: the
body of `GET /api/mcp/tools`.
"""
