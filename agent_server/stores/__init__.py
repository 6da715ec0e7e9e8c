"""Where the settings document lives: today one file in the home."""

from agent_server.stores.file import SettingsStore

__all__ = ["SettingsStore"]
