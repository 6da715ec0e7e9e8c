"""Finding the session key of a server on this machine, so a client needs no configuration.

The order: the key given to the client, else AGENT_SERVER_API_KEY, else the `session.key` file
in the server's home (the given home, else AGENT_SERVER_HOME, else ~/.agent_server). A key read
from a file is sent only to a loopback address: it is this machine's server's key, and a URL
naming another host must not receive it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

API_KEY_ENV = "AGENT_SERVER_API_KEY"
HOME_ENV = "AGENT_SERVER_HOME"
DEFAULT_HOME = "~/.agent_server"
SESSION_KEY_FILE = "session.key"


def is_loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def find_api_key(
    base_url: str,
    home: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> str | None:
    """The session key a client of `base_url` should send, or None when none is found."""
    key = environ.get(API_KEY_ENV)
    if key:
        return key
    if not is_loopback_url(base_url):
        return None
    folder = Path(home if home is not None else environ.get(HOME_ENV) or DEFAULT_HOME)
    try:
        found = (folder.expanduser() / SESSION_KEY_FILE).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return found or None
