"""What one server process needs to know, read from the environment (the CLI's flags set it).

The CLI writes its flags into the environment before uvicorn starts, so every worker process
builds the same Config with `Config.from_env()` and the flags win over what was set before.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agent_server.durable import create_file_once, write_private_file
from agent_server.errors import ConfigError
from agent_server.secrets import SecretCipher, generate_key, is_valid_key
from agent_server.security.home import prepare_home
from agent_server.security.session_keys import (
    SESSION_KEY_FILE,
    KeyScope,
    generate_session_key,
    parse_session_keys,
    read_session_key,
)

DEFAULT_HOME = "~/.agent_server"
KEY_FILE = "secret.key"

ENV_HOME = "AGENT_SERVER_HOME"
ENV_SECRET_KEY = "AGENT_SERVER_SECRET_KEY"
ENV_PREVIOUS_KEYS = "AGENT_SERVER_PREVIOUS_SECRET_KEYS"
ENV_SESSION_API_KEYS = "AGENT_SERVER_SESSION_API_KEYS"
ENV_REQUIRE_PRECONDITIONS = "AGENT_SERVER_REQUIRE_PRECONDITIONS"
ENV_MANAGED_CONFIG = "AGENT_SERVER_MANAGED_CONFIG"
ENV_NO_AUTH = "AGENT_SERVER_NO_AUTH"
ENV_ALLOWED_HOSTS = "AGENT_SERVER_ALLOWED_HOSTS"
ENV_ALLOWED_ORIGINS = "AGENT_SERVER_ALLOWED_ORIGINS"
ENV_BIND_HOST = "AGENT_SERVER_BIND_HOST"  # set by `serve` for its worker processes
ENV_MAX_PROBES = "AGENT_SERVER_MAX_PROBES"
DEFAULT_MAX_PROBES = 8
ENV_REGISTRY_TTL = "AGENT_SERVER_REGISTRY_TTL"
ENV_REGISTRY_TIMEOUT = "AGENT_SERVER_REGISTRY_TIMEOUT"
DEFAULT_REGISTRY_TTL = 300.0
DEFAULT_REGISTRY_TIMEOUT = 10.0
ENV_MCP_IDLE_SECONDS = "AGENT_SERVER_MCP_IDLE_SECONDS"
DEFAULT_MCP_IDLE_SECONDS = 300.0
ENV_MCP_TIMEOUT = "AGENT_SERVER_MCP_TIMEOUT"
DEFAULT_MCP_TIMEOUT = 15.0
ENV_STORE = "AGENT_SERVER_STORE"
ENV_SECRET_KEY_FILE = "AGENT_SERVER_SECRET_KEY_FILE"
ENV_ETAG_KEY = "AGENT_SERVER_ETAG_KEY"
ENV_ETAG_KEY_FILE = "AGENT_SERVER_ETAG_KEY_FILE"


def split_list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _count(value: str | None, default: int) -> int:
    if not (value or "").strip():
        return default
    try:
        return int(value or "")
    except ValueError:
        return 0  # refused with the same message as any other count below 1


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value and value.strip() else None


def _seconds(value: str | None, default: float) -> float:
    if not (value or "").strip():
        return default
    try:
        return float(value or "")
    except ValueError:
        return -1.0  # refused by check_registry_times / check_gateway_times with their rule


@dataclass(frozen=True)
class Config:
    home: Path
    secret_key: str | None = None
    previous_secret_keys: tuple[str, ...] = ()
    session_api_keys: tuple[str, ...] = ()
    require_preconditions: bool = False
    managed_config: Path | None = None
    no_auth: bool = False
    bind_host: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    max_probes: int = DEFAULT_MAX_PROBES
    registry_ttl: float = DEFAULT_REGISTRY_TTL
    registry_timeout: float = DEFAULT_REGISTRY_TIMEOUT
    mcp_idle_seconds: float = DEFAULT_MCP_IDLE_SECONDS
    mcp_timeout: float = DEFAULT_MCP_TIMEOUT
    store: str | None = None  # None or file:... for settings.json, postgresql://... for PostgreSQL
    secret_key_file: Path | None = None
    etag_key: str | None = None
    etag_key_file: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Config:
        managed = env.get(ENV_MANAGED_CONFIG)
        return cls(
            home=Path(env.get(ENV_HOME) or DEFAULT_HOME).expanduser(),
            secret_key=env.get(ENV_SECRET_KEY) or None,
            previous_secret_keys=split_list(env.get(ENV_PREVIOUS_KEYS)),
            session_api_keys=split_list(env.get(ENV_SESSION_API_KEYS)),
            require_preconditions=_flag(env.get(ENV_REQUIRE_PRECONDITIONS)),
            managed_config=Path(managed).expanduser() if managed else None,
            no_auth=_flag(env.get(ENV_NO_AUTH)),
            bind_host=env.get(ENV_BIND_HOST) or None,
            allowed_hosts=split_list(env.get(ENV_ALLOWED_HOSTS)),
            allowed_origins=split_list(env.get(ENV_ALLOWED_ORIGINS)),
            max_probes=_count(env.get(ENV_MAX_PROBES), DEFAULT_MAX_PROBES),
            registry_ttl=_seconds(env.get(ENV_REGISTRY_TTL), DEFAULT_REGISTRY_TTL),
            registry_timeout=_seconds(env.get(ENV_REGISTRY_TIMEOUT), DEFAULT_REGISTRY_TIMEOUT),
            mcp_idle_seconds=_seconds(env.get(ENV_MCP_IDLE_SECONDS), DEFAULT_MCP_IDLE_SECONDS),
            mcp_timeout=_seconds(env.get(ENV_MCP_TIMEOUT), DEFAULT_MCP_TIMEOUT),
            store=env.get(ENV_STORE) or None,
            secret_key_file=_path(env.get(ENV_SECRET_KEY_FILE)),
            etag_key=env.get(ENV_ETAG_KEY) or None,
            etag_key_file=_path(env.get(ENV_ETAG_KEY_FILE)),
        )

    def to_env(self) -> dict[str, str]:
        """The environment that makes `from_env` rebuild this config (in a worker process)."""
        env = {
            ENV_HOME: str(self.home),
            ENV_PREVIOUS_KEYS: ",".join(self.previous_secret_keys),
            ENV_SESSION_API_KEYS: ",".join(self.session_api_keys),
            ENV_REQUIRE_PRECONDITIONS: "1" if self.require_preconditions else "0",
            ENV_MANAGED_CONFIG: str(self.managed_config or ""),
            ENV_NO_AUTH: "1" if self.no_auth else "0",
            ENV_BIND_HOST: self.bind_host or "",
            ENV_ALLOWED_HOSTS: ",".join(self.allowed_hosts),
            ENV_ALLOWED_ORIGINS: ",".join(self.allowed_origins),
            ENV_MAX_PROBES: str(self.max_probes),
            ENV_REGISTRY_TTL: repr(self.registry_ttl),
            ENV_REGISTRY_TIMEOUT: repr(self.registry_timeout),
            ENV_MCP_IDLE_SECONDS: repr(self.mcp_idle_seconds),
            ENV_MCP_TIMEOUT: repr(self.mcp_timeout),
            ENV_STORE: self.store or "",
            ENV_SECRET_KEY_FILE: str(self.secret_key_file or ""),
            ENV_ETAG_KEY_FILE: str(self.etag_key_file or ""),
        }
        if self.secret_key:
            env[ENV_SECRET_KEY] = self.secret_key
        if self.etag_key:
            env[ENV_ETAG_KEY] = self.etag_key
        return env

    @property
    def shared_store(self) -> bool:
        """Whether the store is a database other replicas share: keys then never come from the
        home, which is one replica's own."""
        from agent_server.stores.urls import store_kind

        return store_kind(self.store) == "postgresql"


def check_max_probes(config: Config) -> None:
    if config.max_probes < 1:
        raise ConfigError(
            f"the probe limit ({ENV_MAX_PROBES} or --max-probes) is a whole number of "
            "MCP connections, at least 1"
        )


def check_registry_times(config: Config) -> None:
    if not config.registry_ttl >= 0:
        raise ConfigError(
            f"the registry cache time ({ENV_REGISTRY_TTL} or --registry-ttl) is a number of "
            "seconds, 0 or more (0 turns the cache off)"
        )
    if not 0 < config.registry_timeout <= 120:
        raise ConfigError(
            f"the registry timeout ({ENV_REGISTRY_TIMEOUT} or --registry-timeout) is a number "
            "of seconds above 0 and at most 120"
        )


def check_gateway_times(config: Config) -> None:
    for value, what in (
        (
            config.mcp_idle_seconds,
            f"the gateway's idle time ({ENV_MCP_IDLE_SECONDS} or --mcp-idle-seconds)",
        ),
        (config.mcp_timeout, f"the gateway's timeout ({ENV_MCP_TIMEOUT} or --mcp-timeout)"),
    ):
        if not value > 0:
            raise ConfigError(f"{what} is a number of seconds above 0")


def read_key_file(home: Path) -> list[str]:
    """Keys in `<home>/secret.key`: the current one first, then previous ones."""
    try:
        text = (home / KEY_FILE).read_text()
    except FileNotFoundError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


def write_key_file(path: Path, keys: list[str]) -> None:
    """A key file in secret.key's form: the keys one a line, the current one first."""
    write_private_file(path, ("\n".join(keys) + "\n").encode())


def load_keys(config: Config) -> tuple[str, tuple[str, ...]]:
    """(current, previous) keys; with no key configured, those in `<home>/secret.key`."""
    file_previous: tuple[str, ...]
    if config.secret_key is not None:
        current, file_previous = config.secret_key, ()
        if not is_valid_key(current):
            raise ConfigError(
                f"{ENV_SECRET_KEY} is not a valid Fernet key (32 url-safe base64-encoded bytes); "
                "make one with: agent-server keygen"
            )
    elif config.secret_key_file is not None:
        current, file_previous = _keys_from_file(config.secret_key_file, ENV_SECRET_KEY_FILE)
    elif config.shared_store:
        raise ConfigError(
            f"the PostgreSQL store needs the secret key every replica shares: set "
            f"{ENV_SECRET_KEY} (make one with: agent-server keygen) or {ENV_SECRET_KEY_FILE} "
            "to a file that holds it"
        )
    else:
        prepare_home(config.home)
        keys = read_key_file(config.home)
        if not keys:
            _create_key_file(config.home)
            keys = read_key_file(config.home)
        current, file_previous = keys[0], tuple(keys[1:])
        for key in keys:
            if not is_valid_key(key):
                raise ConfigError(
                    f"{config.home / KEY_FILE} holds a line that is not a valid Fernet key; "
                    f"restore the file or set {ENV_SECRET_KEY} "
                    "(make a key with: agent-server keygen)"
                )
    for key in config.previous_secret_keys:
        if not is_valid_key(key):
            raise ConfigError(
                f"{ENV_PREVIOUS_KEYS} holds a value that is not a valid Fernet key; "
                "it takes comma-separated keys made by: agent-server keygen"
            )
    return current, (*config.previous_secret_keys, *file_previous)


def _keys_from_file(path: Path, variable: str) -> tuple[str, tuple[str, ...]]:
    """(current, previous) from a key file in secret.key's form: the current key first."""
    try:
        keys = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise ConfigError(
            f"{variable} names {path}, which cannot be read ({exc.strerror})"
        ) from None
    if not keys or not all(is_valid_key(key) for key in keys):
        raise ConfigError(
            f"{path} ({variable}) must hold Fernet keys, one a line, the current one first "
            "(make one with: agent-server keygen)"
        )
    return keys[0], tuple(keys[1:])


def parse_etag_key(text: str, where: str) -> bytes:
    """An ETag key in etag.key's form: hex, at least 32 bytes."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) < 32:
        raise ConfigError(
            f"{where} is not an ETag key: it takes 64 hex digits, as a home's etag.key holds "
            '(make one with: python3 -c "import secrets; print(secrets.token_hex(32))")'
        )
    return key


def load_etag_key_of(config: Config) -> bytes:
    """The ETag key: from the environment or a key file when given, else the home's etag.key
    (file store only: every replica of a shared store must be given the same key)."""
    from agent_server.preconditions import load_etag_key

    if config.etag_key is not None:
        return parse_etag_key(config.etag_key, ENV_ETAG_KEY)
    if config.etag_key_file is not None:
        try:
            text = config.etag_key_file.read_text()
        except OSError as exc:
            raise ConfigError(
                f"{ENV_ETAG_KEY_FILE} names {config.etag_key_file}, which cannot be read "
                f"({exc.strerror})"
            ) from None
        return parse_etag_key(text, f"{config.etag_key_file} ({ENV_ETAG_KEY_FILE})")
    if config.shared_store:
        raise ConfigError(
            f"the PostgreSQL store needs the ETag key every replica shares: set {ENV_ETAG_KEY} "
            "to 64 hex digits (the form of a home's etag.key; make one with: python3 -c "
            f'"import secrets; print(secrets.token_hex(32))") or {ENV_ETAG_KEY_FILE} to a file '
            "that holds it"
        )
    return load_etag_key(config.home)


def load_cipher(config: Config) -> SecretCipher:
    current, previous = load_keys(config)
    return SecretCipher(current, previous)


def _create_key_file(home: Path) -> None:
    create_file_once(home / KEY_FILE, (generate_key() + "\n").encode())


def load_session_keys(config: Config) -> dict[str, KeyScope] | None:
    """The accepted session keys by key with their scopes; None when serving without keys.

    With no keys configured, `<home>/session.key` holds one generated admin key, made on the
    first start and shared by every worker and later start.
    """
    if config.no_auth:
        return None
    if config.session_api_keys:
        return parse_session_keys(config.session_api_keys)
    path = config.home / SESSION_KEY_FILE
    create_file_once(path, (generate_session_key() + "\n").encode())
    key = read_session_key(path)
    if key is None:
        raise ConfigError(f"{path} holds no session key: remove it to have a new one made")
    return {key: "admin"}
