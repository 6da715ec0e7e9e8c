"""The agent-server command: serve, keygen, rotate-key, retire-keys."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import ipaddress
import logging.config
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent_server import mcp_commands, store_commands
from agent_server.config import (
    ENV_PREVIOUS_KEYS,
    ENV_SECRET_KEY,
    KEY_FILE,
    Config,
    load_etag_key_of,
    load_keys,
    split_list,
    write_key_file,
)
from agent_server.errors import ConfigError, SecretUnavailable, StoreUnavailable
from agent_server.heap import built_for_life
from agent_server.http_protocol import NAME as HTTP_PROTOCOL
from agent_server.migrations import seal_url_queries
from agent_server.secrets import (
    SecretCipher,
    document_secret_values,
    generate_key,
    map_document_secrets,
)
from agent_server.security.guard import host_name
from agent_server.security.home import prepare_home
from agent_server.stores import Store, open_store
from agent_server.web.login import issue_login_code

EXIT_REFUSED = 2
STORE_HELP = (
    "where the settings live: file: (settings.json in the home, the default), file:DIR, or "
    "postgresql://user@host/database (env AGENT_SERVER_STORE)"
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def log_config() -> dict[str, Any]:
    """uvicorn's logging, plus our own loggers on its handler (in every worker process)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["agent_server"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    return config


# How long a stopping server lets running requests finish before it cancels them: a gateway
# listen stream or a long tool call would otherwise keep it from stopping (writes take ms).
SHUTDOWN_GRACE_SECONDS = 5


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from agent_server.app import create_app

    logging.config.dictConfig(log_config())  # start-up messages go where uvicorn's will
    config = Config.from_env()
    overrides: dict[str, Any] = {"bind_host": args.host}
    if args.home:
        overrides["home"] = Path(args.home).expanduser()
    if args.require_preconditions:
        overrides["require_preconditions"] = True
    if args.managed_config:
        overrides["managed_config"] = Path(args.managed_config).expanduser()
    if args.no_auth:
        overrides["no_auth"] = True
    if args.allowed_hosts is not None:
        overrides["allowed_hosts"] = split_list(args.allowed_hosts)
    if args.allowed_origins is not None:
        overrides["allowed_origins"] = split_list(args.allowed_origins)
    if args.max_probes is not None:
        overrides["max_probes"] = args.max_probes
    if args.registry_ttl is not None:
        overrides["registry_ttl"] = args.registry_ttl
    if args.registry_timeout is not None:
        overrides["registry_timeout"] = args.registry_timeout
    if args.mcp_idle_seconds is not None:
        overrides["mcp_idle_seconds"] = args.mcp_idle_seconds
    if args.mcp_timeout is not None:
        overrides["mcp_timeout"] = args.mcp_timeout
    if args.store is not None:
        overrides["store"] = args.store
    config = dataclasses.replace(config, **overrides)
    if config.no_auth and not is_loopback(args.host) and not args.insecure:
        raise ConfigError(
            f"refusing to serve {args.host}, which is not a loopback address, without a "
            "session key (--no-auth): anyone who can reach it could read and change the "
            "settings and run commands through the live checks. Drop --no-auth (a session "
            "key is made in the home), bind 127.0.0.1, or add --insecure to accept the risk."
        )
    with built_for_life():  # refuses here, before any worker starts, when it must not serve
        app = create_app(config)
    if not config.no_auth:
        _print_page_url(config, args.host, args.port)
    common: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_config": log_config(),
        "log_level": args.log_level,
        "http": HTTP_PROTOCOL,
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_SECONDS,
    }
    if args.workers == 1:
        uvicorn.run(app, **common)
    else:
        os.environ.update(config.to_env())
        uvicorn.run(
            "agent_server.app:create_app_from_env", factory=True, workers=args.workers, **common
        )
    return 0


def _print_page_url(config: Config, host: str, port: int) -> None:
    """The settings page's address with a one-time login code, as Jupyter prints its own."""
    code = issue_login_code(config.home)
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host_name(host)
    print(
        f"the settings page: http://{shown}:{port}/?code={code} (the code works once)",
        file=sys.stderr,
        flush=True,
    )


def keygen(args: argparse.Namespace) -> int:
    print(generate_key())
    return 0


def _key_config(args: argparse.Namespace) -> Config:
    config = Config.from_env()
    if args.home:
        config = dataclasses.replace(config, home=Path(args.home).expanduser())
    if args.store is not None:
        config = dataclasses.replace(config, store=args.store)
    prepare_home(config.home)
    return config


def _key_file(config: Config) -> Path | None:
    """The key file rotate-key and retire-keys rewrite; None when the key comes from env."""
    if config.secret_key is not None:
        return None
    return config.secret_key_file or config.home / KEY_FILE


def rotate_key(args: argparse.Namespace) -> int:
    config = _key_config(args)
    current, previous = load_keys(config)
    store = open_store(config.store, config.home)
    try:
        return _rotate(args, config, store, current, previous)
    finally:
        store.close()


def _rotate(
    args: argparse.Namespace, config: Config, store: Store, current: str, previous: tuple[str, ...]
) -> int:
    old = SecretCipher(current, previous)
    key_file = _key_file(config)
    new_key = generate_key()
    new = SecretCipher(new_key)
    seal_url_queries(store, old)
    rotated = 0

    def reencrypt(_loc: Any, token: str) -> str:
        nonlocal rotated
        rotated += 1
        return new.encrypt(old.decrypt(token))

    def rotate(document: dict[str, Any]) -> dict[str, Any]:
        nonlocal rotated
        rotated = 0  # a shared store may run the change again on fresher data
        return map_document_secrets(document, reencrypt)

    try:
        # Every token must open before anything is written, the key file included.
        for _loc, token in document_secret_values(store.read()):
            old.decrypt(token)
        if key_file is not None:
            # The key file learns the new key first (keeping the old ones), so a crash between
            # the two writes leaves a file that still opens every stored secret.
            write_key_file(key_file, [new_key, current, *previous])
        store.update(rotate)
        store.forget_history()  # no token under the old key stays beside the document
        if config.shared_store:
            # The database's key check (stores/postgres_schema.py) follows the new key.
            store.check_keys(load_etag_key_of(config), SecretCipher(new_key, (current, *previous)))
    except (StoreUnavailable, SecretUnavailable) as exc:
        raise ConfigError(f"{exc}; nothing was rotated") from None
    print(f"re-encrypted {rotated} secret(s) in {store.where} under a new key", file=sys.stderr)
    if args.retire:
        return _retire(config, store, SecretCipher(new_key), new_key, printed_key=True)
    if key_file is not None:
        print(f"{key_file} now holds the new key first", file=sys.stderr)
    print("set these for the next start:", file=sys.stderr)
    print(f"{ENV_SECRET_KEY}={new_key}")
    print(f"{ENV_PREVIOUS_KEYS}={','.join([current, *previous])}")
    return 0


def retire_keys(args: argparse.Namespace) -> int:
    config = _key_config(args)
    current, previous = load_keys(config)
    store = open_store(config.store, config.home)
    try:
        return _retire(config, store, SecretCipher(current, previous), current, printed_key=False)
    finally:
        store.close()


def _retire(
    config: Config, store: Store, cipher: SecretCipher, current: str, printed_key: bool
) -> int:
    """Drop every previous key once no stored token needs one, so a leaked old key opens
    nothing written from now on; refused, with nothing changed, while a token still does."""
    key_file = _key_file(config)
    try:
        with store.locked():
            stale = [
                loc
                for loc, token in document_secret_values(store.read())
                if not cipher.is_current(token)
            ]
            if stale:
                raise ConfigError(
                    f"{len(stale)} secret(s) in {store.where} are still encrypted under a "
                    "previous key: run `agent-server rotate-key` first; no key was retired"
                )
            if key_file is not None:
                write_key_file(key_file, [current])
    except StoreUnavailable as exc:
        raise ConfigError(f"{exc}; no key was retired") from None
    if key_file is not None:
        print(f"{key_file} now holds only the current key", file=sys.stderr)
    if printed_key:
        print("set this for the next start:", file=sys.stderr)
        print(f"{ENV_SECRET_KEY}={current}")
    if config.previous_secret_keys or config.secret_key is not None:
        print(
            f"every secret opens with the current key: leave {ENV_PREVIOUS_KEYS} unset "
            "from the next start on",
            file=sys.stderr,
        )
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="agent-server", description="The agent settings server.")
    commands = root.add_subparsers(dest="command", required=True)

    run = commands.add_parser("serve", help="serve the settings API")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--home", help="the settings folder (env AGENT_SERVER_HOME; ~/.agent_server)")
    run.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    run.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without a session key, on a loopback address only (env AGENT_SERVER_NO_AUTH=1)",
    )
    run.add_argument(
        "--insecure",
        action="store_true",
        help="with --no-auth, allow a non-loopback address",
    )
    run.add_argument(
        "--allowed-hosts",
        help="comma-separated Host names to answer to besides localhost, 127.0.0.1, [::1] and "
        "--host (env AGENT_SERVER_ALLOWED_HOSTS)",
    )
    run.add_argument(
        "--allowed-origins",
        help="comma-separated web origins (scheme://host[:port]) that may call the API from a "
        "browser besides the server's own (env AGENT_SERVER_ALLOWED_ORIGINS)",
    )
    run.add_argument(
        "--require-preconditions",
        action="store_true",
        help="writes to one MCP server need If-Match or If-None-Match "
        "(env AGENT_SERVER_REQUIRE_PRECONDITIONS=1)",
    )
    run.add_argument(
        "--managed-config",
        help="an administrator's MCPConfig JSON file (env AGENT_SERVER_MANAGED_CONFIG)",
    )
    run.add_argument(
        "--max-probes",
        type=int,
        help="MCP connections open at once for live checks, in each worker "
        "(env AGENT_SERVER_MAX_PROBES; default 8)",
    )
    run.add_argument(
        "--registry-ttl",
        type=float,
        help="seconds a registry's answers are cached (env AGENT_SERVER_REGISTRY_TTL; "
        "default 300; 0 turns the cache off)",
    )
    run.add_argument(
        "--registry-timeout",
        type=float,
        help="seconds a registry has to answer, at most 120 (env AGENT_SERVER_REGISTRY_TIMEOUT; "
        "default 10)",
    )
    run.add_argument(
        "--mcp-idle-seconds",
        type=float,
        help="the gateway (/mcp) stops a server's connection (and its stdio child) after this "
        "many idle seconds (env AGENT_SERVER_MCP_IDLE_SECONDS; default 300)",
    )
    run.add_argument(
        "--mcp-timeout",
        type=float,
        help="seconds the gateway (/mcp) gives a server to start and list its tools "
        "(env AGENT_SERVER_MCP_TIMEOUT; default 15)",
    )
    run.add_argument("--store", help=STORE_HELP)
    run.add_argument("--log-level", default="info")
    run.set_defaults(func=serve)

    make_key = commands.add_parser("keygen", help="print a new secret key")
    make_key.set_defaults(func=keygen)

    rotate = commands.add_parser(
        "rotate-key", help="re-encrypt every stored secret under a new key"
    )
    rotate.add_argument("--home", help="the settings folder (env AGENT_SERVER_HOME)")
    rotate.add_argument(
        "--retire",
        action="store_true",
        help="then drop the previous keys from secret.key (see retire-keys)",
    )
    rotate.add_argument("--store", help=STORE_HELP)
    rotate.set_defaults(func=rotate_key)

    retire = commands.add_parser(
        "retire-keys",
        help="drop the previous keys once every stored secret is under the current key",
    )
    retire.add_argument("--home", help="the settings folder (env AGENT_SERVER_HOME)")
    retire.add_argument("--store", help=STORE_HELP)
    retire.set_defaults(func=retire_keys)

    store_commands.add_parser(commands)

    mcp_commands.add_parser(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        print(f"agent-server: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    return result
