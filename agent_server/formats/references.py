"""References in client config files: `${VAR}`, `${env:NAME}`, `${input:id}`, `${{ secrets.X }}`.

Each client has its own syntax for "fill this in from elsewhere". On import a reference is
filled from the values the user gave (or its own default, as in `${VAR:-default}`); one without
a value is never stored as text in a secret slot: the slot is left out and the server imported
disabled, listing what it needs. On export a secret that is not shown becomes a reference in
the client's syntax, named after the server and the slot.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_server.secrets import Loc, map_server_secrets

_DROP = "\0drop"  # a secret slot whose reference has no value: left out of the stored config


@dataclass(frozen=True)
class Syntax:
    """How one client writes a reference: `pattern` finds them (its first non-empty group among
    `name`, `env` and `builtin` names the value; `default` is a default), `template` writes one."""

    pattern: re.Pattern[str]
    template: str

    def write(self, name: str) -> str:
        return self.template.replace("NAME", name)


def reference_name(match: re.Match[str]) -> str:
    groups = match.groupdict()
    return next(groups[g] for g in ("name", "env", "builtin") if groups.get(g))


@dataclass
class Filled:
    """A config with its references filled, and the ones that had no value (name, loc)."""

    config: dict[str, Any]
    needs: list[tuple[str, Loc]] = field(default_factory=list)


def _substitute(
    text: str, syntax: Syntax, values: Mapping[str, str], loc: Loc, needs: list[tuple[str, Loc]]
) -> tuple[str, bool]:
    """`text` with every reference that has a value (or a default) replaced; whether all had."""
    complete = True

    def replace(match: re.Match[str]) -> str:
        nonlocal complete
        name = reference_name(match)
        if name in values:
            return values[name]
        default = match.groupdict().get("default")
        if default is not None:
            return default
        complete = False
        needs.append((name, loc))
        return match.group(0)

    return syntax.pattern.sub(replace, text), complete


def fill_references(
    config: dict[str, Any], syntax: Syntax | None, values: Mapping[str, str]
) -> Filled:
    """Fill the references of one imported server config.

    Secret slots (env, headers, auth, a URL's query) whose reference has no value are left out;
    other fields (command, args, cwd, the URL's base) keep the reference's text, which is not a
    secret, so the user sees what is missing.
    """
    if syntax is None:
        return Filled(config)
    needs: list[tuple[str, Loc]] = []

    def secret(loc: Loc, value: str) -> str:
        filled, complete = _substitute(value, syntax, values, loc, needs)
        return filled if complete else _DROP

    out = map_server_secrets(config, secret)
    for section in ("env", "headers"):
        if isinstance(out.get(section), dict):
            out[section] = {k: v for k, v in out[section].items() if v != _DROP}
    if out.get("auth") == _DROP:
        del out["auth"]
    url = out.get("url")
    if isinstance(url, str):
        base, sep, query = url.partition("?")
        base, _ = _substitute(base, syntax, values, ("url",), needs)
        out["url"] = base if query == _DROP else base + sep + query
    for key in ("command", "cwd"):
        if isinstance(out.get(key), str):
            out[key], _ = _substitute(out[key], syntax, values, (key,), needs)
    if isinstance(out.get("args"), list):
        out["args"] = [
            _substitute(arg, syntax, values, ("args", i), needs)[0] if isinstance(arg, str) else arg
            for i, arg in enumerate(out["args"])
        ]
    return Filled(out, needs)


def export_name(server: str, loc: Loc, taken: set[str]) -> str:
    """A reference name for one secret slot, unique in one exported file: SERVER_KEY in capitals."""
    slot = "URL_QUERY" if loc == ("url",) else "AUTH" if loc == ("auth",) else str(loc[-1])
    base = re.sub(r"[^A-Z0-9]+", "_", f"{server}_{slot}".upper()).strip("_") or "SECRET"
    if base[0].isdigit():
        base = "_" + base
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name
