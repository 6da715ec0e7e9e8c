"""MCP registries: their configs, the registry API client, install plans and connectors."""
