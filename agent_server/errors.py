"""Exceptions the service raises below the HTTP layer; app.py maps each to a status code.

The store and the document code never know HTTP: they raise these, and the app turns them into
`{"detail": ...}` responses. None of them ever carries a secret value.
"""

from __future__ import annotations

from typing import Any


class ConfigError(Exception):
    """The server cannot start as configured; the message says what to change."""


class StoreUnavailable(Exception):
    """settings.json cannot be read or is not a settings document (503); it is never overwritten."""


class SecretUnavailable(Exception):
    """A stored secret cannot be decrypted with the configured keys (503)."""


class InvalidSettings(Exception):
    """A write would produce an invalid document (422); `errors` name the fields."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = errors


def field_error(
    loc: tuple[str | int, ...] | list[str | int], msg: str, type_: str
) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": type_}
