"""`agent-server mcp import` and `mcp export`: other clients' config files from a terminal.

`import --from CLIENT` reads that client's config from its usual place under $HOME (and says
which file it read). A dry run, like an import, prints one line per server. An export written
with the mask where the client has no reference syntax lists the fields to fill in.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent_server.formats import FORMAT_NAMES, FORMATS
from agent_server.terminal import UsageError, table
from sdk import Conflict, ImportLine, ImportResponse, SettingsClient, ValidationFailed
from sdk.models import MASK

ON_CONFLICT = ("fail", "skip", "replace", "rename")


def add_actions(action: Callable[[str, str], argparse.ArgumentParser]) -> None:
    imp = action("import", "import a client's MCP config file (Claude Desktop, Cursor, ...)")
    source = imp.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", help="the config file (- for stdin)")
    source.add_argument(
        "--from",
        dest="from_client",
        choices=FORMAT_NAMES,
        help="read that client's config from its usual place under $HOME",
    )
    imp.add_argument("--format", choices=FORMAT_NAMES, help="the client (default: detected)")
    imp.add_argument("--on-conflict", choices=ON_CONFLICT, default="fail")
    imp.add_argument("--dry-run", action="store_true", help="print the plan; write nothing")
    imp.add_argument(
        "--set",
        dest="values",
        action="append",
        default=[],
        metavar="VAR[=VALUE]",
        help="a value for a reference in the file (${VAR}, ${env:VAR}, ${input:VAR}, ...); "
        "VAR alone takes it from this environment, keeping secrets off the command line",
    )
    exp = action("export", "write the servers as a client's MCP config file")
    exp.add_argument("--format", choices=FORMAT_NAMES, required=True)
    exp.add_argument("--servers", help="comma-separated names (default: every enabled server)")
    exp.add_argument(
        "--via-gateway", action="store_true", help="one entry pointing the client at this server"
    )
    exp.add_argument(
        "--plaintext",
        action="store_true",
        help="secrets in plaintext (needs an admin key) instead of the client's references",
    )
    exp.add_argument("-o", "--output", help="write the file here (mode 0600) instead of stdout")


def usual_path(client: str, home: Path) -> Path:
    """The first of the client's usual config files that exists under `home`."""
    candidates = [home / relative for relative in FORMATS[client].usual_paths]
    for path in candidates:
        if path.is_file():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise UsageError(f"no {client} config found (looked for {tried})")


def _values(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not name:
            raise UsageError("--set takes VAR=VALUE, or VAR to take it from the environment")
        if not sep:
            if name not in os.environ:
                raise UsageError(f"--set {name}: the environment variable {name} is not set")
            value = os.environ[name]
        values[name] = value
    return values


def _content(text: str, path: str, client: str | None) -> Any:
    """The file as the API takes it: its JSON value, or its text for YAML."""
    if client is not None and FORMATS[client].is_yaml:
        return text
    try:
        return json.loads(text)
    except ValueError as exc:
        if client is None and path.endswith((".yaml", ".yml")):
            return text
        raise UsageError(f"{path} is not valid JSON: {exc}") from None


def _read(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _print_lines(answer: ImportResponse, as_json: bool) -> None:
    if as_json:
        print(answer.model_dump_json(by_alias=True))
        return
    rows = [["NAME", "ACTION", "AS", "NOTE"]]
    rows += [[line.name, line.action, line.as_ or "", _note(line)] for line in answer.servers]
    verb = "written" if answer.written else "not written"
    print(f"format {answer.format}; {verb}")
    print(table(rows))


def _note(line: ImportLine) -> str:
    if line.needs:
        needed = ", ".join(f"{n.reference} ({'.'.join(map(str, n.loc))})" for n in line.needs)
        return f"disabled until given: {needed}"
    return line.reason or ""


def run_import(client: SettingsClient, args: argparse.Namespace) -> None:
    values = _values(args.values)
    fmt = args.format
    if args.from_client:
        home = Path.home()
        path = usual_path(args.from_client, home)
        print(f"reading {path}", file=sys.stderr)
        fmt = fmt or args.from_client
        # The file is from this machine: its home is the one ${userHome} means.
        values.setdefault("userHome", str(home))
        text, shown = path.read_text(encoding="utf-8"), str(path)
    else:
        text, shown = _read(args.file), args.file
    content = _content(text, shown, fmt)
    try:
        answer = client.mcp.import_config(
            content, format=fmt, on_conflict=args.on_conflict, dry_run=args.dry_run, values=values
        )
    except (Conflict, ValidationFailed) as exc:
        if isinstance(exc.body, dict) and "servers" in exc.body:
            _print_lines(ImportResponse.model_validate(exc.body), args.json)
        raise
    _print_lines(answer, args.json)


def masked_fields(value: Any, path: str = "") -> list[str]:
    """Where an exported file holds the mask: the fields the user fills in."""
    if isinstance(value, dict):
        return [f for k, v in value.items() for f in masked_fields(v, f"{path}.{k}".lstrip("."))]
    if isinstance(value, list):
        return [f for i, v in enumerate(value) for f in masked_fields(v, f"{path}[{i}]")]
    return [path] if isinstance(value, str) and MASK in value else []


def run_export(client: SettingsClient, args: argparse.Namespace) -> None:
    servers = None if args.servers is None else [s for s in args.servers.split(",") if s]
    text = client.mcp.export_config(
        args.format,
        servers=servers,
        via_gateway=args.via_gateway,
        expose="plaintext" if args.plaintext else None,
    )
    if args.output:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if not FORMATS[args.format].is_yaml:
        for field in masked_fields(json.loads(text)):
            print(f"fill in {field}: it reads {MASK}", file=sys.stderr)
