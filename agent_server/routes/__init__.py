"""The route table, one module per resource, and the OpenAPI operation of every route.

Each secured operation names the session-key scope it needs; the route is wrapped here so the
check runs before its endpoint, from the same table the OpenAPI document is built from.
"""

from starlette.routing import BaseRoute, Route

from agent_server.openapi import Operation
from agent_server.routes import (
    connectors,
    health,
    mcp_connections,
    mcp_export,
    mcp_gateway,
    mcp_import,
    mcp_installs,
    mcp_registries,
    mcp_servers,
    mcp_tool_calls,
    mcp_tool_pins,
    openapi,
    registry_servers,
    settings,
    web,
)
from agent_server.security.session_keys import ScopeGuard

_modules = (
    health,
    openapi,
    web,
    settings,
    mcp_servers,
    mcp_connections,
    mcp_tool_calls,
    mcp_tool_pins,
    mcp_gateway,
    mcp_import,
    mcp_export,
    mcp_registries,
    registry_servers,
    mcp_installs,
    connectors,
)
routes: list[BaseRoute] = [route for module in _modules for route in module.routes]
operations: dict[tuple[str, str], Operation] = {
    key: op for module in _modules for key, op in module.operations.items()
}

for _route in routes:
    if isinstance(_route, Route):
        _needed = {
            method: op.scope
            for method in _route.methods or ()
            if (op := operations.get((_route.path, method))) is not None and op.secured
        }
        if _needed:
            _route.app = ScopeGuard(_route.app, _needed, _route.path)
