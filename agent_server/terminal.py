"""What the command-line actions share: a usage error and a plain-text table."""

from __future__ import annotations


class UsageError(Exception):
    """A bad command line or an unreadable file: exits with the usage code."""


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
