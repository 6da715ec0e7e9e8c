"""`agent-server serve` under cProfile in every thread: `python -m bench.profiled_server OUT ...`.

`python -m cProfile` sees only the main thread, and the server does its writes in anyio's worker
threads. This launcher gives every new thread its own profiler (through threading.setprofile),
runs `agent_server.cli.main(["serve", ...])`, and when the server stops on SIGINT merges all the
profilers into one pstats file at OUT. Used by `python -m bench.profile`; one worker only.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import threading
from types import FrameType
from typing import Any

_profilers: list[cProfile.Profile] = []
_lock = threading.Lock()


def _start_thread_profiler(frame: FrameType, event: str, arg: Any) -> None:
    """The first profile event of a new thread: replace this hook by a real profiler."""
    profiler = cProfile.Profile()
    with _lock:
        _profilers.append(profiler)
    profiler.enable()


def _dump(path: str) -> None:
    merged: pstats.Stats | None = None
    with _lock:
        profilers = list(_profilers)
    for profiler in profilers:
        profiler.disable()
        try:
            stats = pstats.Stats(profiler)
        except TypeError:  # a profiler that never saw a call
            continue
        if merged is None:
            merged = stats
        else:
            merged.add(stats)
    if merged is not None:
        merged.dump_stats(path)


def main() -> int:
    from agent_server.cli import main as serve

    out, args = sys.argv[1], sys.argv[2:]
    threading.setprofile(_start_thread_profiler)
    main_profiler = cProfile.Profile()
    with _lock:
        _profilers.append(main_profiler)
    main_profiler.enable()
    try:
        return serve(["serve", *args])
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it stopped on
        return 0
    finally:
        threading.setprofile(None)
        _dump(out)


if __name__ == "__main__":
    raise SystemExit(main())
