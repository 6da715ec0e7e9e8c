"""What the numbers were measured on: machine, filesystem, interpreter, packages, commit."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

PACKAGES = ("uvicorn", "starlette", "httpx", "h11", "httptools", "uvloop", "orjson", "cryptography")
REPO = Path(__file__).resolve().parent.parent


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _filesystem(path: Path) -> dict[str, str]:
    """The mount holding `path`: the longest mount point that is a prefix of it."""
    best: dict[str, str] = {"mountpoint": "?", "fstype": "?", "device": "?"}
    best_len = -1
    resolved = str(path.resolve())
    for part in psutil.disk_partitions(all=True):
        mount = part.mountpoint
        prefix = mount if mount.endswith("/") else mount + "/"
        if (resolved == mount or resolved.startswith(prefix)) and len(mount) > best_len:
            best = {"mountpoint": mount, "fstype": part.fstype, "device": part.device}
            best_len = len(mount)
    return best


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info(work_dir: Path) -> dict[str, Any]:
    status = _git("status", "--porcelain")
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "packages": {name: _version(name) for name in PACKAGES},
        "work_dir_filesystem": _filesystem(work_dir),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
    }
