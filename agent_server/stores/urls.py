"""Store URLs: which store `--store` names, and how to show one without its password."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from agent_server.errors import ConfigError

POSTGRES_SCHEMES = ("postgresql", "postgres")


def redact_url(url: str) -> str:
    """The URL with its password (and any query, which may hold one) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unparsable URL)"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def store_kind(url: str | None) -> str:
    """ "file" or "postgresql"; ConfigError for anything else."""
    if not url or url == "file:" or url.startswith("file:"):
        return "file"
    scheme = url.split(":", 1)[0].lower()
    if scheme in POSTGRES_SCHEMES and url[len(scheme) :].startswith("://"):
        return "postgresql"
    raise ConfigError(
        f"the store ({redact_url(url)}) is neither file: nor postgresql://...: "
        "set --store / AGENT_SERVER_STORE to file: (the home's settings.json), file:DIR, or "
        "postgresql://user@host/database"
    )


def file_dir(url: str | None, home: Path) -> Path:
    """The folder a file: URL names (file:DIR or file:///DIR); the home for bare file:."""
    if not url or url == "file:":
        return home
    rest = url[len("file:") :]
    if rest.startswith("//"):
        rest = urlsplit(url).path
    return Path(rest).expanduser()
