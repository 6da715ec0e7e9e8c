"""The home folder and its key files belong to the user who runs the server, or it does not
start; a folder it did not create is never chmod-ed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from support import cli_env, free_port, run_refused


def serve_refused(home: Path) -> str:
    """Start a server on `home` that must refuse; its message."""
    result = run_refused("serve", "--port", str(free_port()), "--home", str(home), env=cli_env())
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def made_by_a_first_start(home: Path, start_server: object) -> None:
    server = start_server(home)  # type: ignore[operator]
    server.stop()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_home_is_private_and_an_existing_one_is_left_as_it_is(
    tmp_path: Path, start_server: object
) -> None:
    home = tmp_path / "a" / "new" / "home"
    home.parent.mkdir(parents=True)  # the server's log goes beside the home
    made_by_a_first_start(home, start_server)
    assert mode(home) == 0o700
    for name in ("secret.key", "etag.key", "session.key"):
        assert mode(home / name) == 0o600, name

    shared = tmp_path / "shared-readable"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    made_by_a_first_start(shared, start_server)
    assert mode(shared) == 0o755  # readable by others is the owner's choice; not changed


@pytest.mark.parametrize("writable", [0o775, 0o757, 0o777])
def test_a_home_others_can_write_refuses_to_start(tmp_path: Path, writable: int) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(writable)
    message = serve_refused(home)
    assert "can be written by other users" in message and f"chmod go-w {home}" in message
    assert mode(home) == writable  # never chmod-ed
    assert os.listdir(home) == []


@pytest.mark.parametrize("name", ["settings.json", "secret.key", "etag.key", "session.key"])
def test_a_file_others_can_write_refuses_to_start(
    tmp_path: Path, start_server: object, name: str
) -> None:
    home = tmp_path / "home"
    made_by_a_first_start(home, start_server)
    path = home / name
    if not path.exists():
        path.write_text('{"schema_version": 1}')
    path.chmod(0o622)
    message = serve_refused(home)
    assert str(path) in message and "chmod go-w" in message
    assert mode(path) == 0o622


def test_a_home_of_another_user_refuses_to_start(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        home = tmp_path / "theirs"
        home.mkdir(mode=0o700)
        os.chown(home, 65534, 65534)
    else:
        home = Path("/usr/share")  # exists, belongs to root, not writable by others
    message = serve_refused(home)
    assert "belongs to another user" in message


@pytest.mark.parametrize("name", ["secret.key", "etag.key", "session.key"])
@pytest.mark.parametrize("broken", ["empty", "dangling symlink"])
def test_an_empty_or_dangling_key_file_is_a_clear_refusal(
    tmp_path: Path, start_server: object, name: str, broken: str
) -> None:
    home = tmp_path / "home"
    made_by_a_first_start(home, start_server)
    path = home / name
    path.unlink()
    if broken == "empty":
        path.write_text("")
        path.chmod(0o600)
    else:
        path.symlink_to(tmp_path / "gone")
    message = serve_refused(home)
    assert str(path) in message
    assert ("is empty" if broken == "empty" else "symbolic link to nothing") in message
    assert path.is_symlink() or path.read_text() == ""  # left as it was
