"""The route table: one module per resource."""

from starlette.routing import BaseRoute

from agent_server.routes import health, mcp_servers, settings

routes: list[BaseRoute] = [*health.routes, *settings.routes, *mcp_servers.routes]
