"""The home folder and its key files: private to the user who runs the server, or no start.

Another local user who can write the home, or any of its files, could swap a key or the
settings under us; a folder we did not create is never chmod-ed, because it may be shared on
purpose: the server says what to fix and does not start.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from agent_server.errors import ConfigError

PRIVATE_FILES = ("settings.json", "secret.key", "etag.key", "session.key")
KEY_FILES = ("secret.key", "etag.key", "session.key")


def prepare_home(home: Path) -> None:
    """Create the home as 0700, or check the existing one and the files the server keeps there."""
    try:
        home.parent.mkdir(parents=True, exist_ok=True)
        home.mkdir(mode=0o700)
    except FileExistsError:
        check_private(home, "the home folder")
        if not home.is_dir():
            raise ConfigError(f"the home {home} is not a folder; choose another --home") from None
    else:
        os.chmod(home, 0o700)  # mkdir's mode is cut by the umask
    for name in PRIVATE_FILES:
        path = home / name
        if os.path.lexists(path):
            check_private(path, name)
            if name in KEY_FILES:
                check_key_file(path)


def check_private(path: Path, what: str) -> None:
    """ConfigError unless `path` exists, is owned by this user and is not group/other-writable."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(
            f"{what} {path} is a symbolic link to nothing: point it at the real file or remove it"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read ({exc.strerror})") from None
    if st.st_uid != os.geteuid():
        raise ConfigError(
            f"{what} {path} belongs to another user (uid {st.st_uid}): the server keeps its "
            "secrets only in a home that belongs to the user running it; choose another --home "
            "or change the owner"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"{what} {path} can be written by other users (mode {stat.S_IMODE(st.st_mode):o}); "
            f"make it private with: chmod go-w {path}"
        )


def check_key_file(path: Path) -> None:
    """A key file the server would read must hold something: an empty one is a lost key."""
    if os.stat(path).st_size == 0:
        raise ConfigError(
            f"{path} is empty: restore it from a backup, or remove it to have a new key made "
            "(anything encrypted or signed with the lost key will no longer open or match)"
        )
