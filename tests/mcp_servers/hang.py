"""Servers that never answer, for timeouts.

usage: hang.py                      stdio: reads its input, never answers, exits when it ends.
       hang.py --stubborn PID_FILE  stdio: starts a grandchild (its pid goes to PID_FILE), then
                                    ignores the end of its input and never answers: only a
                                    signal to its process group ends the two.
       hang.py --port N             HTTP: accepts TCP connections on 127.0.0.1:N, never answers.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path


async def _hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await reader.read(65536):
        pass
    writer.close()


async def _serve(port: int) -> None:
    server = await asyncio.start_server(_hold, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def _stubborn(pid_file: Path) -> None:
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    pid_file.write_text(f"{grandchild.pid}\n")
    while True:
        time.sleep(60)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--port":
        asyncio.run(_serve(int(sys.argv[2])))
    elif len(sys.argv) == 3 and sys.argv[1] == "--stubborn":
        _stubborn(Path(sys.argv[2]))
    else:
        while sys.stdin.buffer.read(65536):
            pass
