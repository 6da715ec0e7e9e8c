"""The config an install or an upgrade stores, with where it came from.

The stored config records its origin as `registry`: {id, server, version}, the way it was
chosen to run (`choose`) and the inputs that went into its command line or URL (`inputs`, never
a secret). Inputs that went into env and headers are read back from there (decrypted) on an
upgrade, so nothing but the stored secret slots ever holds a secret.
"""

from __future__ import annotations

import re
from typing import Any

from agent_server.errors import InvalidSettings, field_error
from agent_server.registries.plans import Choice, Inputs, build, choice_of, preferred
from agent_server.registries.schema import ServerJSON

# Fields an install writes; an upgrade rebuilds them and keeps every other field of the config.
BUILT_FIELDS = ("command", "args", "env", "url", "transport", "headers", "description", "registry")


def installed_config(
    registry_id: str,
    server: ServerJSON,
    choose: dict[str, int] | None,
    given: dict[str, str],
    *,
    upgrading: bool = False,
) -> dict[str, Any]:
    """The config to store; InvalidSettings naming each input (or `choose`) that is wrong.

    An upgrade passes the inputs it recovered: those the new version no longer takes are
    dropped rather than refused.
    """
    choice: Choice | str | None = preferred(server) if choose is None else choice_of(server, choose)
    if choice is None:
        choice = "this server offers no way to run it that can be installed here"
    if isinstance(choice, str):
        raise InvalidSettings([field_error(("choose",), choice, "choose")])
    inputs = Inputs(given=given)
    config = build(server, choice, inputs)
    errors = list(inputs.errors)
    unknown = sorted(set(given) - set(inputs.declared))
    if upgrading:
        given = {key: value for key, value in given.items() if key in inputs.declared}
    else:
        errors += [
            field_error(("inputs", key), "not an input of this way to run the server", "unknown")
            for key in unknown
        ]
    if errors:
        raise InvalidSettings(errors)
    config["registry"] = {
        "id": registry_id,
        "server": server.name,
        "version": server.version,
        "choose": {choice.kind: choice.index},
        "inputs": {
            key: value
            for key, value in sorted(given.items())
            if inputs.places.get(key) in ("argument", "url") and key not in inputs.secret
        },
    }
    return config


def recovered_inputs(plaintext: dict[str, Any]) -> dict[str, str]:
    """The inputs an installed server was given: its recorded ones, its env and headers."""
    recorded = (plaintext.get("registry") or {}).get("inputs")
    found: dict[str, str] = {}
    for section in ("env", "headers"):
        values = plaintext.get(section)
        if isinstance(values, dict):
            found.update((k, v) for k, v in values.items() if isinstance(v, str))
    if isinstance(recorded, dict):
        found.update((k, v) for k, v in recorded.items() if isinstance(v, str))
    return found


def recorded_choice(config: dict[str, Any], server: ServerJSON) -> dict[str, int] | None:
    """The recorded `choose` when the new version still offers it, else None (the default)."""
    choose = (config.get("registry") or {}).get("choose")
    if (
        isinstance(choose, dict)
        and all(isinstance(index, int) for index in choose.values())
        and isinstance(choice_of(server, choose), Choice)
    ):
        return choose
    return None


def upgraded(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The new built config with every other field of the old one kept (enabled, timeout...)."""
    kept = {key: value for key, value in old.items() if key not in BUILT_FIELDS}
    return {**kept, **new}


def _version_key(version: str) -> tuple[Any, ...]:
    release, _, pre = version.partition("+")[0].partition("-")
    numbers = tuple(int(part) if part.isdigit() else -1 for part in re.split(r"\.", release))
    return (numbers, pre == "", pre)


def is_newer(latest: str, installed: str) -> bool:
    """Whether `latest` is a later version than `installed` (semantic versions)."""
    return latest != installed and _version_key(latest) > _version_key(installed)
