"""The agent settings server: one settings document on disk, served over HTTP."""

from agent_server.app import create_app
from agent_server.config import Config

__all__ = ["Config", "create_app"]
