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
    exc: pydantic.ValidationError, prefix: Sequence[str | int], limit: int
) -> tuple[list[dict[str, Any]], int]:
    """At most ``limit`` of ``exc``'s errors, located under ``prefix``, and how many more there are."""
    count = exc.error_count()
    if count > MAX_MATERIALIZED:
        summary = {
            "loc": list(prefix),
            "msg": f"{count} validation errors: too many to list",
            "type": "too_many_errors",
        }
        return [summary], count - 1
    errors = exc.errors(include_url=False)
    return [_located(error, prefix) for error in errors[:limit]], max(0, count - limit)


def _located(error: Mapping[str, Any], prefix: Sequence[str | int]) -> dict[str, Any]:
    located = {"loc": [*prefix, *error["loc"]], "msg": error["msg"], "type": error["type"]}
    if "input" in error and isinstance(error["input"], _SCALARS):
        located["input"] = echo(error["input"])
    if error.get("ctx"):
        located["ctx"] = {key: _jsonable(value) for key, value in error["ctx"].items()}
    return located


def _jsonable(value: Any) -> Any:
    return echo(value) if isinstance(value, _SCALARS) else echo(str(value))
