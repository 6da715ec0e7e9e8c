"""agent-server migrate: copy the settings from one store to another, exactly, and check the copy.

Tokens are copied as they are (no key is needed to copy them, and none is re-encrypted), so every
ETag stays the same wherever the ETag key goes with them: a file target gets it in its etag.key,
a PostgreSQL target records its keyed check (every replica must then be given that key).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import orjson

from agent_server.config import (
    ENV_ETAG_KEY,
    ENV_SECRET_KEY,
    KEY_FILE,
    Config,
    load_etag_key_of,
    load_keys,
    read_key_file,
)
from agent_server.document import Document
from agent_server.durable import write_private_file
from agent_server.errors import ConfigError, StoreUnavailable
from agent_server.json_codec import dumps, dumps_canonical
from agent_server.preconditions import ETAG_KEY_FILE
from agent_server.secrets import SecretCipher, document_secret_values
from agent_server.stores import Store, open_store, store_kind
from agent_server.stores.layout import servers_of
from agent_server.stores.urls import file_dir


def _keys(source: str, target: str) -> tuple[bytes, SecretCipher]:
    """The ETag key and the cipher of the settings being moved: from the environment (or key
    files named there) when set, else from the file side's etag.key and secret.key."""
    config = Config.from_env()
    folders = [file_dir(url, config.home) for url in (source, target) if store_kind(url) == "file"]
    if config.etag_key is None and config.etag_key_file is None:
        found = [folder / ETAG_KEY_FILE for folder in folders if (folder / ETAG_KEY_FILE).exists()]
        if not found:
            raise ConfigError(
                f"migrate needs the ETag key the settings' ETags are made with: set "
                f"{ENV_ETAG_KEY} (or keep it in the file store's {ETAG_KEY_FILE})"
            )
        config = dataclasses.replace(config, etag_key=found[0].read_text().strip())
    if config.secret_key is None and config.secret_key_file is None:
        found = [folder / KEY_FILE for folder in folders if read_key_file(folder)]
        if not found:
            raise ConfigError(
                f"migrate needs the secret key the settings are encrypted with: set "
                f"{ENV_SECRET_KEY} (or keep it in the file store's {KEY_FILE})"
            )
        config = dataclasses.replace(config, secret_key_file=found[0])
    current, previous = load_keys(config)
    return load_etag_key_of(config), SecretCipher(current, previous)


def _fingerprint(document: Document) -> bytes:
    return dumps_canonical(document)


def migrate(source: str, target: str, force: bool) -> dict[str, Any]:
    """Copy `source` to `target` and check the copy; ConfigError with nothing changed when the
    target holds settings (without `force`) or a token does not open."""
    if store_kind(source) == store_kind(target) == "file" and file_dir(source, Path()) == file_dir(
        target, Path()
    ):
        raise ConfigError("the source and the target are the same store")
    etag_key, cipher = _keys(source, target)
    home = Config.from_env().home
    src: Store | None = None
    dst: Store | None = None
    try:
        src = open_store(source, home)
        dst = open_store(target, home)
        document = src.read()
        unopened = [
            loc for loc, token in document_secret_values(document) if cipher.open(token) is None
        ]
        if unopened:
            raise ConfigError(
                f"{len(unopened)} secret(s) in {src.where} do not open with the given keys: set "
                f"{ENV_SECRET_KEY} to the key they were written with; nothing was copied"
            )
        if not force and not dst.is_empty():
            raise ConfigError(
                f"{dst.where} already holds MCP servers or settings: add --force to replace them; "
                "nothing was copied"
            )
        copy = orjson.loads(dumps(document))  # nothing shared with the source store's cache
        dst.update(lambda _current: copy)
        if store_kind(target) == "file":
            folder = file_dir(target, home)
            write_private_file(folder / ETAG_KEY_FILE, (etag_key.hex() + "\n").encode())
        else:
            from agent_server.stores.postgres import PostgresStore

            assert isinstance(dst, PostgresStore)
            dst.record_keys(etag_key, cipher)
    except StoreUnavailable as exc:
        raise ConfigError(f"{exc}; the copy did not complete") from None
    finally:
        for store in (src, dst):
            if store is not None:
                store.close()
    check = open_store(target, home)  # a fresh store: what another replica would read
    try:
        copied = check.read()
    finally:
        check.close()
    if _fingerprint(copied) != _fingerprint(document):
        raise ConfigError(f"the copy in {check.where} differs from the source: run migrate again")
    servers = len(servers_of(document) or {})
    return {"from": src.where, "to": check.where, "servers": servers}


def run(args: argparse.Namespace) -> int:
    summary = migrate(args.source, args.target, args.force)
    print(
        f"copied the settings ({summary['servers']} MCP server(s)) from {summary['from']} to "
        f"{summary['to']} and checked the copy: tokens and ETags are unchanged",
        file=sys.stderr,
    )
    if store_kind(args.target) != "file":
        print(
            f"every replica serving {summary['to']} needs the same keys: {ENV_SECRET_KEY} and "
            f"{ENV_ETAG_KEY} (64 hex digits, as in etag.key), from the environment or the "
            "file store's secret.key and etag.key this copy used",
            file=sys.stderr,
        )
    return 0


def add_parser(commands: Any) -> None:
    move = commands.add_parser(
        "migrate",
        help="copy the settings from one store to another (file:DIR, postgresql://...)",
    )
    move.add_argument("--from", dest="source", required=True, help="the store to copy from")
    move.add_argument("--to", dest="target", required=True, help="the store to copy to")
    move.add_argument(
        "--force",
        action="store_true",
        help="replace whatever the target holds (servers or settings)",
    )
    move.set_defaults(func=run)
