"""Registries as named resources: user registries from the document, managed ones from the admin.

A registry's header values are secrets, stored and read like a server's (one Fernet token each),
and kept on a write only while the registry's origin stays the same.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from agent_server.document import Document, pydantic_field_errors, registries, resolve_entry
from agent_server.entries import EntryCatalog, Source, string_or_none
from agent_server.errors import field_error
from agent_server.secrets import Loc, SecretCipher
from sdk.models import RegistryConfig, RegistrySummary

MANAGED_REGISTRY = (
    "registry {name!r} is managed by the administrator's configuration and cannot be changed "
    "through the API"
)
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token


class RegistryCatalog(EntryCatalog):
    kind = "registry"

    def all(self, document: Document) -> dict[str, tuple[Source, dict[str, Any]]]:
        """Every registry by id; a managed registry hides a user registry of the same id."""
        found: dict[str, tuple[Source, dict[str, Any]]] = {
            registry_id: ("user", config) for registry_id, config in registries(document).items()
        }
        found.update((rid, ("managed", config)) for rid, config in self.managed.items())
        return found

    def find(self, document: Document, registry_id: str) -> tuple[Source, dict[str, Any]] | None:
        if registry_id in self.managed:
            return "managed", self.managed[registry_id]
        config = registries(document).get(registry_id)
        return ("user", config) if config is not None else None

    def summary(self, registry_id: str, source: Source, config: dict[str, Any]) -> dict[str, Any]:
        return RegistrySummary(
            id=registry_id,
            source=source,
            url=self.view(config, "redacted")["url"],
            title=string_or_none(config.get("title")),
            enabled=config.get("enabled", True) is not False,
            etag=self.etag(registry_id, config),
        ).model_dump()


def validate_registry(config: Any, prefix: Loc = ()) -> list[dict[str, Any]]:
    """Errors that keep `config` from being a registry: {url, title?, enabled?, headers?}."""
    if not isinstance(config, dict):
        return [field_error(prefix, "a registry config must be a JSON object", "type_error")]
    try:
        RegistryConfig.model_validate(config)
    except ValidationError as exc:
        return pydantic_field_errors(exc, prefix)
    errors = []
    parts = urlsplit(config["url"])
    if parts.scheme not in ("http", "https") or not parts.hostname:
        errors.append(
            field_error(
                (*prefix, "url"), "url must be an http:// or https:// URL with a host", "url_scheme"
            )
        )
    elif parts.query or parts.fragment or "@" in parts.netloc:
        errors.append(
            field_error(
                (*prefix, "url"),
                "a registry URL is its base (https://host[/path]) without a query, fragment or "
                "user:password@: give credentials as headers, where they are stored encrypted",
                "url_credentials",
            )
        )
    errors.extend(
        field_error((*prefix, "headers", name), "not a valid HTTP header name", "header_name")
        for name in config.get("headers") or {}
        if not _HEADER_NAME.fullmatch(name)
    )
    return errors


def resolve_registry(
    config: Any, stored: dict[str, Any] | None, cipher: SecretCipher
) -> dict[str, Any]:
    """A registry config ready to store: validated, its header secrets resolved."""
    return resolve_entry(config, stored, cipher, validate_registry)
