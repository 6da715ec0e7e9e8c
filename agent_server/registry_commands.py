"""`agent-server mcp registry|search|install|upgrade`: registries from a terminal, through the sdk.

An install on a terminal asks for each required input it is missing (secrets without echo) and
tries once more; in a script the 422 names them and the command exits with its code.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from typing import Any

from agent_server.terminal import UsageError, table
from sdk import SettingsClient, ValidationFailed
from sdk.models import MCPServerResponse

ACTIONS = ("registry", "search", "install", "upgrade")
DEFAULT_REGISTRY = "official"
Action = Callable[..., argparse.ArgumentParser]


def add_actions(action: Action, actions: Any, common: argparse.ArgumentParser) -> None:
    """The registry commands, beside the server commands of `agent-server mcp`."""
    registry = actions.add_parser("registry", help="list, add and remove MCP registries")
    verbs = registry.add_subparsers(dest="verb", required=True)
    verbs.add_parser("list", help="list the registries", parents=[common])
    add = verbs.add_parser("add", help="add a registry (its base URL)", parents=[common])
    add.add_argument("id")
    add.add_argument("registry_url", metavar="URL")
    add.add_argument("--title")
    add.add_argument(
        "--header", action="append", default=[], metavar="NAME=VALUE", help="sent to it (secret)"
    )
    remove = verbs.add_parser("remove", help="remove a registry", parents=[common])
    remove.add_argument("id")

    search = action("search", "search a registry's servers")
    search.add_argument("text")
    install = action("install", "install a registry's server as an MCP server")
    install.add_argument("server", help="the registry's name for it: namespace/name")
    install.add_argument("--as", dest="as_", metavar="NAME", help="our name for it")
    install.add_argument("--version", help="a version (default: the latest)")
    upgrade = action("upgrade", "move a server installed from a registry to its latest version")
    upgrade.add_argument("name")
    upgrade.add_argument("--if-match", help="the ETag you last read")
    for sub in (search, install):
        sub.add_argument(
            "--registry", default=DEFAULT_REGISTRY, help=f"its id (default {DEFAULT_REGISTRY})"
        )
    for sub in (install, upgrade):
        sub.add_argument(
            "--input", action="append", default=[], metavar="K=V", help="an input's value"
        )


def _pairs(values: list[str], what: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} {value!r} is not NAME=VALUE")
        pairs[key] = rest
    return pairs


def act(client: SettingsClient, args: argparse.Namespace, show: Callable[..., None]) -> None:
    """Run one registry command; `show(server, as_json)` prints an MCP server."""
    if args.action == "registry":
        _registry(client, args)
    elif args.action == "search":
        _search(client, args)
    elif args.action == "install":
        show(_install(client, args), args.json)
    else:
        inputs = _pairs(args.input, "--input")
        show(client.registries.upgrade(args.name, inputs=inputs, if_match=args.if_match), args.json)


def _registry(client: SettingsClient, args: argparse.Namespace) -> None:
    registries = client.registries
    if args.verb == "list":
        listing = registries.list()
        if args.json:
            print(listing.model_dump_json())
            return
        rows = [["ID", "SOURCE", "ENABLED", "URL", "TITLE"]]
        rows += [
            [r.id, r.source, "yes" if r.enabled else "no", r.url, r.title or ""]
            for r in listing.registries
        ]
        print(table(rows) if listing.registries else "no registries")
    elif args.verb == "add":
        config: dict[str, Any] = {"url": args.registry_url}
        if args.title:
            config["title"] = args.title
        if args.header:
            config["headers"] = _pairs(args.header, "--header")
        added = registries.put(args.id, config, if_none_match="*")
        print(added.model_dump_json() if args.json else f"added registry {added.id}")
    else:
        registries.delete(args.id)
        print(json.dumps({"deleted": args.id}) if args.json else f"removed registry {args.id}")


def _search(client: SettingsClient, args: argparse.Namespace) -> None:
    page = client.registries.browse(args.registry, search=args.text)
    if args.json:
        print(page.model_dump_json())
        return
    rows = [["NAME", "VERSION", "OFFERS", "INSTALLED AS", "DESCRIPTION"]]
    rows += [
        [
            s.name,
            s.version,
            ",".join([*s.remotes, *s.packages]) or "-",
            s.installed_as or "-",
            s.description,
        ]
        for s in page.servers
    ]
    print(table(rows) if page.servers else f"no servers match {args.text!r}")


def _install(client: SettingsClient, args: argparse.Namespace) -> MCPServerResponse:
    inputs = _pairs(args.input, "--input")

    def attempt() -> MCPServerResponse:
        return client.registries.install(
            args.registry, args.server, version=args.version, as_=args.as_, inputs=inputs
        )

    try:
        return attempt()
    except ValidationFailed as failed:
        missing = [e.loc[1] for e in failed.errors if e.type == "missing" and len(e.loc) == 2]
        if not missing or not sys.stdin.isatty():
            raise
        secret = _secret_inputs(client, args)
        for name in map(str, missing):
            ask = getpass.getpass if name in secret else input
            inputs[name] = ask(f"{name}{' (secret)' if name in secret else ''}: ")
        return attempt()


def _secret_inputs(client: SettingsClient, args: argparse.Namespace) -> set[str]:
    shown = client.registries.show(args.registry, args.server, version=args.version)
    return {i.name for plan in shown.plans for i in plan.inputs if i.is_secret}
