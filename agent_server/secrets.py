"""Secrets: the Fernet cipher, where secrets sit in a document, and how each expose mode shows them.

Secret values are stored in place, each as its own Fernet token. Decryptions a reader or a write
asks for are cached by token: an unchanged value keeps its token byte for byte across writes and
processes, so each process decrypts such a token once. The ETags, which hash every server's
plaintext, decrypt without caching (but for a server just written): they are remembered
themselves, and caching their plaintexts too held every secret of a large document in memory a
second time (3.4 MiB at 10,000 servers) for nobody to read.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from agent_server.errors import InvalidSettings, SecretUnavailable, field_error
from agent_server.security.binding import server_destination
from sdk.models import EXPOSE_MODES, MASK, ExposeMode

log = logging.getLogger(__name__)

Loc = tuple[str | int, ...]
SecretFn = Callable[[Loc, str], str]

# Every Fernet token starts with the version byte 0x80 and a timestamp: "gAAAAA" in base64.
_TOKEN_PREFIX = "gAAAAA"
_DECRYPT_CACHE_LIMIT = 200_000
_DECRYPT_CACHE_BYTES = 64 * 1024 * 1024
_CONTROL_CHARACTERS = ("\r", "\n", "\0")
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


class SecretCipher:
    """Encrypts with the current key, decrypts with the current or any previous key."""

    def __init__(self, current: str, previous: tuple[str, ...] = ()) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in (current, *previous)])
        # Fernet's signing key is the first half of each key (the spec's layout); each HMAC is
        # keyed once here and copied per token, which halves the cost of checking one.
        self._signers = [
            hmac.new(base64.urlsafe_b64decode(k)[:16], digestmod="sha256")
            for k in (current, *previous)
        ]
        self._current = Fernet(current)
        self._plaintexts: dict[str, str] = {}
        self._cached_bytes = 0

    def encrypt(self, plaintext: str) -> str:
        token = self._fernet.encrypt(plaintext.encode()).decode()
        self._remember(token, plaintext)
        return token

    def decrypt(self, token: str, remember: bool = True) -> str:
        """The plaintext of a stored token; SecretUnavailable when no configured key opens it.

        `remember=False` neither caches the plaintext nor drops a cached one.
        """
        plaintext = self._plaintexts.get(token)
        if plaintext is None:
            plaintext = self.open(token, remember)
            if plaintext is None:
                raise SecretUnavailable(
                    "a stored secret cannot be decrypted with the configured keys; "
                    "set AGENT_SERVER_SECRET_KEY (or AGENT_SERVER_PREVIOUS_SECRET_KEYS) "
                    "to the key it was written with"
                )
        return plaintext

    def open(self, value: str, remember: bool = True) -> str | None:
        """The plaintext if `value` is a token one of our keys opens, else None."""
        cached = self._plaintexts.get(value)
        if cached is not None:
            return cached
        if not value.startswith(_TOKEN_PREFIX):
            return None
        try:
            plaintext = self._fernet.decrypt(value.encode()).decode()
        except (InvalidToken, UnicodeDecodeError, ValueError):
            return None
        if remember:
            self._remember(value, plaintext)
        return plaintext

    def signed_by_ours(self, token: str) -> bool:
        """Whether one of our keys made `token`: its HMAC checks, without decrypting it.

        What start-up needs to know (a key is missing or wrong) at a fraction of a decryption's
        cost; a token whose HMAC checks under a key decrypts under it, as Fernet signs
        everything it encrypts.
        """
        if not token.startswith(_TOKEN_PREFIX):
            return False
        try:  # urlsafe_b64decode's own work, without its checks and copies in Python
            data = binascii.a2b_base64(token.encode("ascii").translate(_URLSAFE_TO_STANDARD))
        except ValueError:
            return False
        if len(data) < 57 or data[0] != 0x80:  # version, timestamp, IV, a block, HMAC
            return False
        body, signature = data[:-32], data[-32:]
        for signer in self._signers:
            keyed = signer.copy()
            keyed.update(body)
            if hmac.compare_digest(keyed.digest(), signature):
                return True
        return False

    def is_current(self, token: str) -> bool:
        """Whether the current key alone opens `token` (no previous key is needed for it)."""
        try:
            self._current.decrypt(token.encode())
        except (InvalidToken, ValueError):
            return False
        return True

    def forget(self, token: str) -> None:
        """Drop a token a write replaced: its plaintext need not stay in memory."""
        plaintext = self._plaintexts.pop(token, None)
        if plaintext is not None:
            self._cached_bytes -= len(token) + len(plaintext)

    def _remember(self, token: str, plaintext: str) -> None:
        """Cache a decryption, bounded by entries and by bytes: the oldest go first."""
        if token in self._plaintexts:
            return
        size = len(token) + len(plaintext)
        while self._plaintexts and (
            len(self._plaintexts) >= _DECRYPT_CACHE_LIMIT
            or self._cached_bytes + size > _DECRYPT_CACHE_BYTES
        ):
            self.forget(next(iter(self._plaintexts)))
        if size <= _DECRYPT_CACHE_BYTES:
            self._plaintexts[token] = plaintext
            self._cached_bytes += size


def is_valid_key(key: str) -> bool:
    try:
        Fernet(key)
    except (ValueError, TypeError):
        return False
    return True


def generate_key() -> str:
    return Fernet.generate_key().decode()


def parse_expose_mode(header: str | None) -> ExposeMode:
    """The X-Expose-Secrets mode; ValueError with the valid values for anything else."""
    if header is None:
        return "redacted"
    value = header.strip().lower()
    for mode in EXPOSE_MODES:
        if value == mode:
            return mode
    raise ValueError(
        "X-Expose-Secrets must be one of: " + ", ".join(EXPOSE_MODES) + " (absent means redacted)"
    )


# --- where secrets live -------------------------------------------------------------------------


# A header or `auth` holding this is left to the caller of each request (MCP-HEADERS): nothing
# is stored for it, so it is not a secret slot (lightspeed-stack's keyword).
CLIENT = "client"


def is_secret_auth(value: Any) -> bool:
    return isinstance(value, str) and value not in ("oauth", CLIENT)


def _is_secret_value(section: str, value: Any) -> bool:
    return isinstance(value, str) and not (section == "headers" and value == CLIENT)


def server_secret_slots(server: Any) -> Iterator[tuple[Loc, str]]:
    """(loc inside the server, value) of every secret in one MCP server config."""
    found: list[tuple[Loc, str]] = []

    def collect(loc: Loc, value: str) -> str:
        found.append((loc, value))
        return value

    if isinstance(server, dict):
        map_server_secrets(server, collect)
    return iter(found)


def map_server_secrets(server: dict[str, Any], fn: SecretFn, prefix: Loc = ()) -> dict[str, Any]:
    """A copy of `server` with every secret value replaced by fn(loc, value).

    A URL's query string is a secret (tokens ride in it): the slot `url` holds the part after
    `?`, and the rest of the URL stays readable.
    """
    out = dict(server)
    url = server.get("url")
    if isinstance(url, str):
        base, sep, query = url.partition("?")
        if sep and query:
            out["url"] = f"{base}?{fn((*prefix, 'url'), query)}"
    for section in ("env", "headers"):
        values = server.get(section)
        if isinstance(values, dict):
            out[section] = {
                key: fn((*prefix, section, key), value)
                if _is_secret_value(section, value)
                else value
                for key, value in values.items()
            }
    if is_secret_auth(server.get("auth")):
        out["auth"] = fn((*prefix, "auth"), server["auth"])
    return out


def map_agent_secrets(agent: dict[str, Any], fn: SecretFn) -> dict[str, Any]:
    """A copy of agent settings with every secret value (llm key, MCP server secrets) mapped."""
    out = dict(agent)
    llm = agent.get("llm")
    if isinstance(llm, dict) and isinstance(llm.get("api_key"), str):
        out["llm"] = {**llm, "api_key": fn(("llm", "api_key"), llm["api_key"])}
    mcp = agent.get("mcp_config")
    servers = mcp.get("mcpServers") if isinstance(mcp, dict) else None
    if isinstance(mcp, dict) and isinstance(servers, Mapping):
        out["mcp_config"] = {
            **mcp,
            "mcpServers": {
                name: map_listed_server(name, server, fn) for name, server in servers.items()
            },
        }
    return out


def map_listed_server(name: str, server: Any, fn: SecretFn) -> Any:
    """One entry of agent settings' MCP servers with every secret mapped, as
    map_agent_secrets maps it (locs from "mcp_config"; a value that is not an object as is)."""
    if not isinstance(server, dict):
        return server
    return map_server_secrets(server, fn, ("mcp_config", "mcpServers", name))


def map_document_secrets(document: dict[str, Any], fn: SecretFn) -> dict[str, Any]:
    """A copy of a document with every secret mapped: agent settings and registries' headers.

    Locs start with the section: ("agent_settings", ...) or ("mcp_registries", id, ...).
    """
    agent = map_agent_secrets(
        document["agent_settings"], lambda loc, value: fn(("agent_settings", *loc), value)
    )
    registries = {
        rid: map_server_secrets(registry, fn, ("mcp_registries", rid))
        for rid, registry in document["mcp_registries"].items()
    }
    return {**document, "agent_settings": agent, "mcp_registries": registries}


def document_secret_values(document: dict[str, Any]) -> Iterator[tuple[Loc, str]]:
    """(loc, value) of every secret in a document."""
    found: list[tuple[Loc, str]] = []

    def collect(loc: Loc, value: str) -> str:
        found.append((loc, value))
        return value

    map_document_secrets(document, collect)
    return iter(found)


# --- views and writes ---------------------------------------------------------------------------


def view_fn(mode: ExposeMode, cipher: SecretCipher) -> SecretFn:
    """How a stored token reads in one expose mode."""
    if mode == "encrypted":
        return lambda _loc, token: token
    if mode == "plaintext":
        return lambda _loc, token: cipher.decrypt(token)
    return lambda _loc, _token: MASK


def log_plaintext_served(what: str) -> None:
    log.warning("served %s with secrets in plaintext (X-Expose-Secrets: plaintext)", what)


def mask_without_secret(loc: Loc) -> dict[str, Any]:
    """The field error of a mask where no secret is stored to keep."""
    return field_error(
        loc,
        f"'{MASK}' keeps the stored secret, but no secret is stored here; send the value itself",
        "secret_missing",
    )


def looks_like_token(value: str) -> bool:
    """Whether `value` has the shape of a Fernet token, whatever key made it."""
    if not value.startswith(_TOKEN_PREFIX):
        return False
    try:
        raw = base64.urlsafe_b64decode(value.encode())
    except (ValueError, binascii.Error):
        return False
    return len(raw) >= 57 and (len(raw) - 57) % 16 == 0


class SecretResolver:
    """Turns incoming secret values into stored tokens, reusing every unchanged token.

    An incoming value keeps the stored secret (the mask, or the token stored in that very slot)
    or is a new plaintext. Keeping is allowed only while the destination is unchanged
    (`bound`); a token from anywhere else is refused, and so is a plaintext with CR, LF or NUL.
    Only a plaintext that differs from the stored one is encrypted.
    """

    def __init__(self, cipher: SecretCipher) -> None:
        self.cipher = cipher
        self.errors: list[dict[str, Any]] = []

    def kept(self, loc: Loc, incoming: str, stored: str | None, bound: bool) -> str | None:
        """The stored token when `incoming` keeps it; None for a plaintext (errors recorded)."""
        keeps = incoming == MASK or (stored is not None and incoming == stored)
        if keeps:
            if stored is None:
                self.errors.append(mask_without_secret(loc))
            elif not bound:
                self.errors.append(
                    field_error(
                        loc,
                        "the destination changed (the URL's scheme, host or port, or the "
                        "command, args or cwd): give this secret again in plaintext, or remove it",
                        "secret_rebind",
                    )
                )
            return stored
        if looks_like_token(incoming):
            self.errors.append(
                field_error(
                    loc,
                    "an encrypted token is accepted only in the slot it was read from, "
                    "unchanged; send the secret in plaintext",
                    "secret_token_elsewhere",
                )
            )
        elif any(c in incoming for c in _CONTROL_CHARACTERS):
            self.errors.append(
                field_error(
                    loc, "a secret cannot hold CR, LF or NUL characters", "secret_control_character"
                )
            )
        return None

    def resolve(self, loc: Loc, incoming: str, stored: str | None, bound: bool = True) -> str:
        kept = self.kept(loc, incoming, stored, bound)
        if kept is not None:
            return kept
        if stored is not None and self.cipher.decrypt(stored) == incoming:
            return stored
        if stored is not None:
            self.cipher.forget(stored)
        return self.cipher.encrypt(incoming)

    def server(self, new: dict[str, Any], old: Any, prefix: Loc) -> dict[str, Any]:
        stored = dict(server_secret_slots(old))
        bound = server_destination(new) == server_destination(old)
        return map_server_secrets(
            new,
            lambda loc, value: self.resolve(loc, value, stored.get(loc[len(prefix) :]), bound),
            prefix,
        )


def plaintext_candidate(
    candidate: dict[str, Any], stored: dict[str, Any] | None, cipher: SecretCipher
) -> dict[str, Any]:
    """A candidate config in plaintext, for a connection only (never stored).

    The write rules apply: a mask (or the slot's own token) takes the stored server's secret
    only while the destination is the stored one; errors name every field.
    """
    resolver = SecretResolver(cipher)
    stored_slots = dict(server_secret_slots(stored))
    bound = stored is not None and server_destination(candidate) == server_destination(stored)

    def fill(loc: Loc, value: str) -> str:
        kept = resolver.kept(loc, value, stored_slots.get(loc[1:]), bound)
        return value if kept is None else cipher.decrypt(kept)

    config = map_server_secrets(candidate, fill, ("config",))
    if resolver.errors:
        raise InvalidSettings(resolver.errors)
    return config
