"""The settings document: defaults, JSON Merge Patch, validation, and how a write makes a new one.

Documents are plain JSON values in their stored form (secrets as tokens). A write builds a new
document from the old one and shares every subtree it did not touch, so validation and secret
resolution only look at what changed: writing one server costs the same in a document of ten or
ten thousand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from agent_server.errors import InvalidSettings, field_error
from agent_server.secrets import Loc, SecretCipher, SecretResolver
from agent_server.security.binding import llm_destination
from agent_server.stored_servers import same_config
from sdk.models import (
    SERVER_NAME_RULE,
    ACPAgentSettings,
    OpenHandsAgentSettings,
    RemoteServerConfig,
    StdioServerConfig,
    is_valid_server_name,
)

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 has no registries; its first write makes it version 2
OFFICIAL_REGISTRY = {
    "url": "https://registry.modelcontextprotocol.io",
    "title": "Official MCP Registry",
}
AGENT_KINDS = ("openhands", "acp")
_REMOTE_TRANSPORTS = ("http", "streamable-http", "sse")

Document = dict[str, Any]


def default_agent_settings(kind: str = "openhands") -> dict[str, Any]:
    if kind == "acp":
        return {"agent_kind": "acp", "acp_server": "", "acp_model": None}
    return {
        "agent_kind": "openhands",
        "llm": {"model": None, "api_key": None, "base_url": None},
        "mcp_config": {"mcpServers": {}},
    }


def default_document() -> Document:
    return {
        "schema_version": SCHEMA_VERSION,
        "agent_settings": default_agent_settings(),
        "misc_settings": {},
        "mcp_registries": default_registries(),
    }


def default_registries() -> dict[str, Any]:
    """What a document without registries starts with: the official MCP Registry."""
    return {"official": dict(OFFICIAL_REGISTRY)}


def registries(document: Document) -> dict[str, Any]:
    """The stored registries by id."""
    found: dict[str, Any] = document["mcp_registries"]
    return found


def with_registry(document: Document, registry_id: str, config: dict[str, Any] | None) -> Document:
    """The document with one registry set (or removed, for None); the rest shared as it was."""
    found = dict(registries(document))
    if config is None:
        found.pop(registry_id, None)
    else:
        found[registry_id] = config
    return {**document, "mcp_registries": found}


def agent_kind(agent: dict[str, Any]) -> str:
    kind = agent.get("agent_kind", "openhands")
    return kind if isinstance(kind, str) else "openhands"


def mcp_servers(document: Document) -> dict[str, Any]:
    """The stored MCP servers by name; empty when the agent kind has none."""
    return agent_servers(document["agent_settings"])


def agent_servers(agent: dict[str, Any]) -> dict[str, Any]:
    """The MCP servers of agent settings by name; empty when the agent kind has none."""
    if agent_kind(agent) != "openhands":
        return {}
    servers = (agent.get("mcp_config") or {}).get("mcpServers")
    return servers if isinstance(servers, Mapping) else {}  # type: ignore[return-value]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch that returns `target` itself for every subtree it leaves alone."""
    if not isinstance(patch, dict):
        return patch
    base = target if isinstance(target, Mapping) else {}
    result = dict(base)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(base.get(key), value)
    unchanged = isinstance(target, Mapping) and len(result) == len(target)
    if unchanged and all(result[k] is target.get(k, _MISSING) for k in result):
        return target
    return result


_MISSING = object()


# --- validation ---------------------------------------------------------------------------------


def pydantic_field_errors(exc: PydanticValidationError, prefix: Loc) -> list[dict[str, Any]]:
    """Field errors without the `input` pydantic would echo: it may be a secret."""
    return [field_error((*prefix, *err["loc"]), err["msg"], err["type"]) for err in exc.errors()]


def _check_model(model: type[BaseModel], value: Any, prefix: Loc) -> list[dict[str, Any]]:
    try:
        model.model_validate(value)
    except PydanticValidationError as exc:
        return pydantic_field_errors(exc, prefix)
    return []


def server_transport_kind(config: dict[str, Any]) -> str:
    """ "stdio" or "remote", as fastmcp would read the entry."""
    if "command" in config or config.get("transport") == "stdio" or config.get("type") == "stdio":
        return "stdio"
    return "remote"


def _check_secret_maps(
    config: dict[str, Any], prefix: Loc, sections: tuple[str, ...]
) -> list[dict[str, Any]]:
    """env and headers hold secrets on every kind of server, so their values must be strings."""
    errors = []
    for section in sections:
        values = config.get(section)
        if values is None:
            continue
        if not isinstance(values, dict):
            errors.append(
                field_error((*prefix, section), "must be an object of strings", "dict_type")
            )
            continue
        errors.extend(
            field_error((*prefix, section, key), "must be a string", "string_type")
            for key, value in values.items()
            if not isinstance(value, str)
        )
    return errors


def validate_server(config: Any, prefix: Loc = ()) -> list[dict[str, Any]]:
    """Errors that keep `config` from being a valid fastmcp server entry."""
    if not isinstance(config, dict):
        return [field_error(prefix, "a server config must be a JSON object", "type_error")]
    if "command" in config and "url" in config:
        return [
            field_error(
                (*prefix, "url"),
                "a server has either command (stdio) or url (remote), not both",
                "ambiguous_transport",
            )
        ]
    if "command" not in config and "url" not in config:
        return [
            field_error(
                prefix,
                "a server needs command (a stdio server) or url (a remote server)",
                "missing",
            )
        ]
    if server_transport_kind(config) == "stdio":
        return _check_model(StdioServerConfig, config, prefix) + _check_secret_maps(
            config, prefix, ("headers",)
        )
    errors = _check_model(RemoteServerConfig, config, prefix)
    errors += _check_secret_maps(config, prefix, ("env",))
    url = config.get("url")
    if isinstance(url, str):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors.append(
                field_error(
                    (*prefix, "url"),
                    "url must be an http:// or https:// URL with a host",
                    "url_scheme",
                )
            )
        elif "@" in parts.netloc:
            errors.append(
                field_error(
                    (*prefix, "url"),
                    "a URL cannot carry credentials (user:password@host): give them as headers "
                    "or auth, where they are stored encrypted",
                    "url_credentials",
                )
            )
    headers = config.get("headers")
    if config.get("auth") is not None and isinstance(headers, dict):
        for header in headers:
            if isinstance(header, str) and header.lower() == "authorization":
                errors.append(
                    field_error(
                        (*prefix, "headers", header),
                        "give credentials either as auth or as an Authorization header, not both",
                        "auth_conflict",
                    )
                )
    return errors


def validate_agent_settings(agent: Any, old: Any) -> list[dict[str, Any]]:
    """Errors of merged agent settings; servers identical to the stored ones are not re-checked."""
    prefix: Loc = ("agent_settings",)
    if not isinstance(agent, dict):
        return [field_error(prefix, "agent_settings must be a JSON object", "type_error")]
    kind = agent.get("agent_kind", "openhands")
    if kind not in AGENT_KINDS:
        return [
            field_error(
                (*prefix, "agent_kind"),
                "agent_kind must be one of: " + ", ".join(AGENT_KINDS),
                "literal_error",
            )
        ]
    if kind == "acp":
        return _check_model(ACPAgentSettings, agent, prefix)
    mcp = agent.get("mcp_config")
    servers = mcp.get("mcpServers") if isinstance(mcp, dict) else None
    checked = agent
    if isinstance(servers, Mapping) and not isinstance(servers, dict):
        # Servers a store reads from its encoding were each checked when written; the model
        # takes only a dict, and the changed ones are checked one by one below.
        checked = {**agent, "mcp_config": {**mcp, "mcpServers": {}}}  # type: ignore[dict-item]
    errors = _check_model(OpenHandsAgentSettings, checked, prefix)
    if not isinstance(servers, Mapping):
        return errors
    old_servers = agent_servers(old) if isinstance(old, dict) else {}
    if servers is old_servers:
        return errors
    for name, server in servers.items():
        loc: Loc = (*prefix, "mcp_config", "mcpServers", name)
        if not is_valid_server_name(name):
            errors.append(field_error(loc, SERVER_NAME_RULE, "server_name"))
        if not same_config(server, old_servers.get(name)):
            errors.extend(e for e in validate_server(server, loc) if e not in errors)
    return errors


# --- writes -------------------------------------------------------------------------------------


def _normalize_agent(agent: dict[str, Any]) -> dict[str, Any]:
    """Fill the keys every stored agent settings object has, keeping what the client gave."""
    if agent.get("agent_kind", "openhands") == "acp":
        return {**default_agent_settings("acp"), **agent}
    llm = agent.get("llm") or {}
    mcp = agent.get("mcp_config") or {}
    return {
        **agent,
        "agent_kind": "openhands",
        "llm": {**default_agent_settings()["llm"], **llm},
        "mcp_config": mcp if "mcpServers" in mcp else {**mcp, "mcpServers": {}},
    }


def _resolve_agent_secrets(
    agent: dict[str, Any], old: dict[str, Any], cipher: SecretCipher
) -> dict[str, Any]:
    resolver = SecretResolver(cipher)
    out = dict(agent)
    llm = agent.get("llm")
    if isinstance(llm, dict) and isinstance(llm.get("api_key"), str):
        old_llm = old.get("llm")
        stored = old_llm.get("api_key") if isinstance(old_llm, dict) else None
        bound = llm_destination(llm) == llm_destination(old_llm)
        loc = ("agent_settings", "llm", "api_key")
        key = resolver.resolve(loc, llm["api_key"], stored, bound)
        out["llm"] = {**llm, "api_key": key}
    servers = agent_servers(agent)
    old_servers = agent_servers(old)
    if servers and servers is not old_servers:
        resolved = {}
        for name, server in servers.items():
            previous = old_servers.get(name)
            if same_config(server, previous):
                resolved[name] = server
            else:
                prefix = ("agent_settings", "mcp_config", "mcpServers", name)
                resolved[name] = resolver.server(server, previous, prefix)
        out["mcp_config"] = {**agent["mcp_config"], "mcpServers": resolved}
    if resolver.errors:
        raise InvalidSettings(resolver.errors)
    return out


def apply_settings_patch(
    document: Document,
    agent_diff: dict[str, Any] | None,
    misc_diff: dict[str, Any] | None,
    cipher: SecretCipher,
) -> Document:
    """The document after a global PATCH; InvalidSettings names every field that is wrong."""
    old_agent = document["agent_settings"]
    agent = old_agent
    if agent_diff is not None:
        # A missing agent_kind keeps the kind; null deletes it, which means the default kind.
        new_kind = agent_diff.get("agent_kind", agent_kind(old_agent))
        if new_kind is None:
            new_kind = "openhands"
        base = old_agent
        if new_kind != agent_kind(old_agent):
            base = default_agent_settings(new_kind if isinstance(new_kind, str) else "openhands")
        agent = merge_patch(base, agent_diff)
        errors = validate_agent_settings(agent, old_agent)
        if errors:
            raise InvalidSettings(errors)
        agent = _resolve_agent_secrets(_normalize_agent(agent), old_agent, cipher)
    misc = document["misc_settings"]
    if misc_diff is not None:
        misc = merge_patch(misc, misc_diff)
    # A diff that restates what is stored (say, a redacted read written back: the mask keeps
    # each secret's token) builds equal objects, not the same ones; equal means no write.
    if agent == old_agent and misc == document["misc_settings"]:
        return document
    return {**document, "agent_settings": agent, "misc_settings": misc}


def without_nulls(config: Any) -> Any:
    """A server config without its top-level nulls: null means "absent" there, as in a merge
    patch, so a client that sends every optional field as null stores only what it set."""
    if not isinstance(config, dict):
        return config
    return {key: value for key, value in config.items() if value is not None}


def resolve_server(
    config: Any, stored: dict[str, Any] | None, cipher: SecretCipher
) -> dict[str, Any]:
    """A server config ready to store: validated, its secrets resolved against the stored ones."""
    return resolve_entry(config, stored, cipher, validate_server)


def resolve_entry(
    config: Any,
    stored: dict[str, Any] | None,
    cipher: SecretCipher,
    validate: Callable[[Any], list[dict[str, Any]]],
) -> dict[str, Any]:
    """An entry's config (a server's, a registry's) ready to store: without its top-level
    nulls, validated, its secrets resolved against the stored ones (InvalidSettings)."""
    config = without_nulls(config)
    errors = validate(config)
    if errors:
        raise InvalidSettings(errors)
    resolver = SecretResolver(cipher)
    resolved = resolver.server(config, stored, ())
    if resolver.errors:
        raise InvalidSettings(resolver.errors)
    return resolved
