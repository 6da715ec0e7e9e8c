"""The curl examples in docs/guide.md run exactly as written against a live server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support import ServerProcess

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide.md"
_BLOCK = re.compile(r"```(bash|text)\n(.*?)```", re.S)


def runnable_blocks() -> list[tuple[str, str | None]]:
    """Each ```bash block, with the ```text block right after it (its expected output) if any."""
    blocks = _BLOCK.findall(GUIDE.read_text())
    pairs: list[tuple[str, str | None]] = []
    for i, (kind, body) in enumerate(blocks):
        if kind == "bash":
            following = blocks[i + 1] if i + 1 < len(blocks) else None
            pairs.append((body, following[1] if following and following[0] == "text" else None))
    return pairs


def test_guide_has_curl_examples_with_expected_output() -> None:
    blocks = runnable_blocks()
    assert len(blocks) >= 6
    assert sum(expected is not None for _, expected in blocks) >= 6


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_examples_run_as_written(
    home: Path, start_server: Callable[..., ServerProcess]
) -> None:
    server = start_server(home)
    marker = "::end-of-block::"
    script = "set -euo pipefail\n" + "".join(
        f"{body}\necho '{marker}'\n" for body, _ in runnable_blocks()
    )
    result = subprocess.run(
        ["bash", "-c", script],
        env={"URL": server.url, "AGENT_SERVER_HOME": str(home), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    outputs = result.stdout.split(marker + "\n")
    for (body, expected), output in zip(runnable_blocks(), outputs, strict=False):
        if expected is not None:
            assert output == expected, f"the block\n{body}\nprinted\n{output}"
