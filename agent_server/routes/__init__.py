"""The route table, one module per resource, and the OpenAPI operation of every route."""

from starlette.routing import BaseRoute

from agent_server.openapi import Operation
from agent_server.routes import health, mcp_connections, mcp_servers, openapi, settings

_modules = (health, openapi, settings, mcp_servers, mcp_connections)
routes: list[BaseRoute] = [route for module in _modules for route in module.routes]
operations: dict[tuple[str, str], Operation] = {
    key: op for module in _modules for key, op in module.operations.items()
}
