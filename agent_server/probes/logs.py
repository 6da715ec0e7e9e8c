"""While a probe runs, log records of loggers outside agent_server are withheld.

mcp, fastmcp and httpx log what a server sent them (a stdio child's stray stdout, a response
body, in tracebacks too), and that text can hold the secrets the server was given: whole, cut
short, quoted or escaped, forms that searching for the secret cannot find. Each such record
keeps its logger name and level; its text, arguments, exception and stack are replaced.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# True in a probe's context. The tasks a fastmcp client starts inherit it, so what they log
# (even after the probe has returned) is withheld too.
_IN_PROBE: ContextVar[bool] = ContextVar("in_probe", default=False)
_OWN = "agent_server"
_base_record_factory = logging.getLogRecordFactory()


def _withholding_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_record_factory(*args, **kwargs)
    if _IN_PROBE.get() and record.name != _OWN and not record.name.startswith(_OWN + "."):
        record.msg = (
            f"{record.name} logged during an MCP probe; its text is withheld "
            "(it can quote what the server sent)"
        )
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
    return record


@contextmanager
def withheld_logs() -> Iterator[None]:
    """Withhold other loggers' records made inside (and in tasks started inside)."""
    if logging.getLogRecordFactory() is not _withholding_record_factory:
        logging.setLogRecordFactory(_withholding_record_factory)
    token = _IN_PROBE.set(True)
    try:
        yield
    finally:
        _IN_PROBE.reset(token)
