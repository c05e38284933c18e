"""Pydantic's validation errors as linestream reports them: located (``["query", "n"]``), JSON-safe, and bounded.

A hostile request can make one validation fail with as many errors as its body has values, and echo whatever
it sent: the errors reported are at most ``limit`` (the others are counted), each echoed ``input`` is a scalar
of at most ``MAX_ECHO`` characters, and past ``MAX_MATERIALIZED`` errors none is turned into a Python dict at
all (that alone costs about 3 µs and 600 bytes per error).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pydantic
import pydantic_core

from linestream._errors import short as _short

__all__ = ["MAX_ECHO", "MAX_MATERIALIZED", "echo", "located_errors"]

#: Characters of a value echoed back to the client in an error.
MAX_ECHO = 100
#: Errors of one validation beyond which they are counted, not listed.
MAX_MATERIALIZED = 50_000

_SCALARS = (str, bytes, int, float, bool, type(None))


def echo(value: Any) -> Any:
    """``value`` as it may be echoed in a problem: a scalar, long text cut to ``MAX_ECHO`` characters."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return _short(value, MAX_ECHO)
    return value


def located_errors(
    exc: pydantic.ValidationError, prefix: Sequence[str | int], limit: int, *, fastapi: bool = False
) -> tuple[list[dict[str, Any]], int]:
    """At most ``limit`` of ``exc``'s errors, located under ``prefix``, and how many more there are. ``fastapi``:
    as FastAPI reports them (each with its ``input``, ``None`` for a parameter that is missing, and its raw
    ``ctx``), except that an input of more than ``MAX_FASTAPI_ECHO`` bytes of JSON is not echoed."""
    count = exc.error_count()
    if count > MAX_MATERIALIZED:
        summary = {
            "loc": list(prefix),
            "msg": f"{count} validation errors: too many to list",
            "type": "too_many_errors",
        }
        return [summary], count - 1
    errors = exc.errors(include_url=False)
    if fastapi:
        sizes: dict[int, int] = {}
        return [_as_fastapi(error, prefix, sizes) for error in errors[:limit]], max(0, count - limit)
    return [_located(error, prefix) for error in errors[:limit]], max(0, count - limit)


#: Bytes of JSON beyond which an error's input is not echoed, even in FastAPI's reports (a body with a hundred
#: missing fields would otherwise be echoed a hundred times).
MAX_FASTAPI_ECHO = 16 * 1024


def _as_fastapi(error: Mapping[str, Any], prefix: Sequence[str | int], sizes: dict[int, int]) -> dict[str, Any]:
    loc = [*prefix, *error["loc"]]
    value = error.get("input")
    if error["type"] == "missing" and len(loc) == 2:
        value = None  # a parameter that is missing: FastAPI reports no input
    elif not isinstance(value, _SCALARS) or (isinstance(value, (str, bytes)) and len(value) > MAX_FASTAPI_ECHO):
        size = sizes.get(id(value))
        if size is None:
            size = sizes[id(value)] = len(pydantic_core.to_json(value, fallback=str))
        if size > MAX_FASTAPI_ECHO:
            value = None
    located = {"type": error["type"], "loc": loc, "msg": error["msg"], "input": value}
    if error.get("ctx"):
        located["ctx"] = dict(error["ctx"])
    return located


def _located(error: Mapping[str, Any], prefix: Sequence[str | int]) -> dict[str, Any]:
    located = {"loc": [*prefix, *error["loc"]], "msg": error["msg"], "type": error["type"]}
    if "input" in error and isinstance(error["input"], _SCALARS):
        located["input"] = echo(error["input"])
    if error.get("ctx"):
        located["ctx"] = {key: _jsonable(value) for key, value in error["ctx"].items()}
    return located


def _jsonable(value: Any) -> Any:
    return echo(value) if isinstance(value, _SCALARS) else echo(str(value))
