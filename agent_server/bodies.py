"""Reading request bodies: bounded, strict JSON objects, or a 4xx that says what to fix."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

MAX_BODY_BYTES = 1024 * 1024
MAX_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def is_json_media_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _check_values(value: Any) -> None:
    """Depth and Unicode checks without recursion, so a deep body cannot exhaust the stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
            strings: Any = item.keys()
        elif isinstance(item, list):
            children, strings = item, ()
        else:
            if isinstance(item, str) and _SURROGATE.search(item):
                raise HTTPException(
                    400, "the body holds a string with an unpaired UTF-16 surrogate"
                )
            if isinstance(item, int) and not -(2**63) <= item < 2**64:
                raise HTTPException(400, "the body holds an integer that does not fit in 64 bits")
            if isinstance(item, float) and not math.isfinite(item):
                raise HTTPException(400, "the body holds a number too large for a double")
            continue
        if depth > MAX_DEPTH:
            raise HTTPException(400, f"the body is nested deeper than {MAX_DEPTH} levels")
        for key in strings:
            if _SURROGATE.search(key):
                raise HTTPException(400, "the body holds a key with an unpaired UTF-16 surrogate")
        stack.extend((child, depth + 1) for child in children)


async def read_json_object(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object: 413 over 1 MiB, 400 when malformed; `optional` reads an empty
    body as {}.

    Its media type was checked before any route ran (agent_server.security.guard: 415).
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, "the body is not valid UTF-8") from None
    if not text.strip():
        if optional:
            return {}
        raise HTTPException(400, "the body is empty; send a JSON object")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise HTTPException(
            400, f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:
        raise HTTPException(400, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise HTTPException(400, f"the body is nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(value, dict):
        raise HTTPException(400, "the body must be a JSON object")
    _check_values(value)
    return value
