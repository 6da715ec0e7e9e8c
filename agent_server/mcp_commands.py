"""`agent-server mcp ...`: MCP servers from a terminal or a script, through the sdk client.

People get a table; scripts pass --json. Each error class exits with its own code, so a script
can tell a lost race (412) from a typo (422) without reading the message.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import httpx

from agent_server import mcp_file_commands, registry_commands
from agent_server.gateway.names import plain_name
from agent_server.terminal import UsageError, table
from sdk import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    RegistryTimeout,
    RegistryUnavailable,
    SettingsAPIError,
    SettingsClient,
    Unauthorized,
    ValidationFailed,
)
from sdk.models import EXPOSE_MODES, MCPProbeFailed, MCPServerResponse

DEFAULT_URL = "http://127.0.0.1:8000"
EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_TOOL_ERROR = 4
EXIT_NO_ANSWER = 5
EXIT_CODES: list[tuple[type[SettingsAPIError], int]] = [
    (BadRequest, 10),
    (Unauthorized, 11),
    (Forbidden, 12),
    (NotFound, 13),
    (Conflict, 14),
    (PreconditionFailed, 15),
    (ValidationFailed, 16),
    (PreconditionRequired, 17),
    (RegistryUnavailable, 18),
    (RegistryTimeout, 19),
]
EXIT_HELP = "\n".join(
    [
        "exit codes:",
        "  0   done",
        f"  {EXIT_API_ERROR}   any other error answer (5xx, 413, 415, ...)",
        f"  {EXIT_USAGE}   bad command line, or an unreadable FILE",
        f"  {EXIT_UNREACHABLE}   the server cannot be reached",
        f"  {EXIT_TOOL_ERROR}   mcp call: the tool answered with an error result",
        f"  {EXIT_NO_ANSWER}   mcp call: the MCP server could not be reached or did not answer",
        *(f"  {code}  {e.__name__} ({(e.__doc__ or '').split(':')[0]})" for e, code in EXIT_CODES),
    ]
)


def add_parser(commands: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=os.environ.get("AGENT_SERVER_URL", DEFAULT_URL),
        help=f"the server (env AGENT_SERVER_URL; default {DEFAULT_URL})",
    )
    common.add_argument(
        "--api-key",
        help="a session API key (env AGENT_SERVER_API_KEY; else the session.key in the home, "
        "for a loopback --url)",
    )
    common.add_argument(
        "--home",
        help="the server's settings folder, whose session.key is used "
        "(env AGENT_SERVER_HOME; default ~/.agent_server)",
    )
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    mcp = commands.add_parser(
        "mcp",
        help="list and edit MCP servers and registries on a running server; import and export "
        "client configs",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = mcp.add_subparsers(dest="action", required=True)

    def action(name: str, text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = actions.add_parser(
            name,
            help=text,
            parents=[common],
            epilog=EXIT_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        return sub

    action("list", "list the servers")
    get = action("get", "show one server")
    get.add_argument("name")
    get.add_argument("--expose", choices=EXPOSE_MODES, help="how secrets read (default redacted)")
    put = action("put", "create or replace a server from a JSON FILE (- for stdin)")
    patch = action("patch", "merge a JSON Merge Patch FILE (- for stdin) into a server")
    for sub in (put, patch):
        sub.add_argument("name")
        sub.add_argument("file")
    put.add_argument("--create", action="store_true", help="only create (If-None-Match: *)")
    delete = action("delete", "delete a server")
    enable = action("enable", "set enabled: true")
    disable = action("disable", "set enabled: false")
    for sub in (delete, enable, disable):
        sub.add_argument("name")
    for sub in (put, patch, delete, enable, disable):
        sub.add_argument("--if-match", help="the ETag you last read")
    mcp_file_commands.add_actions(action)
    registry_commands.add_actions(action, actions, common)
    call = action("call", "call a tool of a server through the gateway, print its answer")
    call.add_argument("name", help="the MCP server")
    call.add_argument("tool", help="the tool's own name on that server")
    call.add_argument("--args", default="{}", help="the arguments as a JSON object")
    call.add_argument("--timeout", type=float, help="seconds the call may take (default 60)")
    mcp.set_defaults(func=run)


def _read_json(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()  # noqa: SIM115
        return json.loads(text)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"{path} is not valid JSON: {exc}") from None


def _print_server(server: MCPServerResponse, as_json: bool) -> None:
    if as_json:
        print(server.model_dump_json())
        return
    print(f"{server.name}  ({server.source})  etag {server.etag}")
    print(json.dumps(server.config, indent=2, ensure_ascii=False))


def _act(client: SettingsClient, args: argparse.Namespace) -> None:
    servers = client.mcp_servers
    if args.action in registry_commands.ACTIONS:
        registry_commands.act(client, args, _print_server)
    elif args.action == "list":
        listing = servers.list()
        if args.json:
            print(listing.model_dump_json())
            return
        rows = [["NAME", "SOURCE", "KIND", "TRANSPORT", "ENABLED", "DESCRIPTION"]]
        rows += [
            [
                s.name,
                s.source,
                s.transport_kind,
                s.transport or "-",
                "yes" if s.enabled else "no",
                s.description or "",
            ]
            for s in listing.servers
        ]
        print(table(rows) if listing.servers else "no MCP servers")
    elif args.action == "get":
        _print_server(servers.get(args.name, expose=args.expose), args.json)
    elif args.action == "put":
        config = _read_json(args.file)
        if_none_match = "*" if args.create else None
        result = servers.put(args.name, config, if_match=args.if_match, if_none_match=if_none_match)
        _print_server(result, args.json)
    elif args.action == "patch":
        result = servers.patch(args.name, _read_json(args.file), if_match=args.if_match)
        _print_server(result, args.json)
    elif args.action == "import":
        mcp_file_commands.run_import(client, args)
    elif args.action == "export":
        mcp_file_commands.run_export(client, args)
    elif args.action == "delete":
        servers.delete(args.name, if_match=args.if_match)
        print(json.dumps({"deleted": args.name}) if args.json else f"deleted {args.name}")
    else:
        enabled = args.action == "enable"
        result = servers.patch(args.name, {"enabled": enabled}, if_match=args.if_match)
        _print_server(result, args.json)


def _arguments(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--args is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError("--args is a JSON object of the tool's arguments")
    return value


def _call(client: SettingsClient, args: argparse.Namespace) -> int:
    """Call by the plain gateway name; where that is not served (a cut or hashed name), find
    the tool's gateway_name in the catalog."""
    arguments = _arguments(args.args)
    try:
        result = client.mcp.call_tool(
            plain_name(args.name, args.tool), arguments, timeout=args.timeout
        )
    except NotFound:
        listed = client.mcp.tools().tools
        found = next((t for t in listed if (t.server, t.tool) == (args.name, args.tool)), None)
        if found is None:
            raise
        result = client.mcp.call_tool(found.gateway_name, arguments, timeout=args.timeout)
    if args.json:
        print(result.model_dump_json())
    elif isinstance(result, MCPProbeFailed):
        print(f"agent-server: {result.error_kind}: {result.error}", file=sys.stderr)
    else:
        for block in result.content:
            print(block["text"] if block.get("type") == "text" else json.dumps(block))
    if isinstance(result, MCPProbeFailed):
        return EXIT_NO_ANSWER
    return EXIT_TOOL_ERROR if result.is_error else 0


def run(args: argparse.Namespace) -> int:
    code = 0
    try:
        with SettingsClient(args.url, api_key=args.api_key, home=args.home) as client:
            if args.action == "call":
                code = _call(client, args)
            else:
                _act(client, args)
    except UsageError as exc:
        print(f"agent-server: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except httpx.TransportError as exc:
        print(f"agent-server: cannot reach {args.url}: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except SettingsAPIError as exc:
        if args.json:
            print(json.dumps({"status": exc.status_code, "detail": exc.detail}), file=sys.stderr)
        else:
            print(f"agent-server: {exc.status_code}: {_detail_text(exc.detail)}", file=sys.stderr)
        return next((code for error, code in EXIT_CODES if isinstance(exc, error)), EXIT_API_ERROR)
    return code


def _detail_text(detail: Any) -> str:
    if isinstance(detail, list):
        return "; ".join(
            ".".join(str(p) for p in e.get("loc", [])) + ": " + str(e.get("msg", ""))
            for e in detail
            if isinstance(e, dict)
        )
    return str(detail)
