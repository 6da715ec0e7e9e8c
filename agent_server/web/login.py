"""One-time login codes: the URL printed at start logs a browser in once, in any worker.

The code lives in `<home>/login.code` (0600). Redeeming it renames the file away first, so of
several workers or tabs racing with the same code exactly one wins, and a code never works
twice.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from agent_server.durable import write_private_file

LOGIN_CODE_FILE = "login.code"


def issue_login_code(home: Path) -> str:
    """A new code for this start; any earlier one stops working."""
    code = secrets.token_urlsafe(24)
    write_private_file(home / LOGIN_CODE_FILE, (code + "\n").encode())
    return code


def redeem_login_code(home: Path, given: str) -> bool:
    """Whether `given` is the current code; it is used up either way it matched."""
    path = home / LOGIN_CODE_FILE
    try:
        stored = path.read_text().strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return False
    if not stored or not hmac.compare_digest(stored.encode(), given.encode()):
        return False
    claimed = path.with_name(f".{LOGIN_CODE_FILE}.{secrets.token_hex(8)}")
    try:
        os.rename(path, claimed)
    except FileNotFoundError:
        return False  # another request redeemed it first
    try:
        return hmac.compare_digest(claimed.read_text().strip().encode(), given.encode())
    finally:
        claimed.unlink(missing_ok=True)
