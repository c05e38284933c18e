"""The root of linestream's exception tree and what its errors share (``exceptions`` documents the tree): a
leaf, so that the client-side errors (``exceptions``) and the server's HTTP errors (``_http_errors``) both
build on it without importing each other."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["LineStreamError", "short", "summarise"]


class LineStreamError(Exception):
    """Base class of every exception linestream raises."""


LineStreamError.__module__ = "linestream.exceptions"


def short(text: str, limit: int = 100) -> str:
    """``text`` as it may be echoed back in an error: cut to ``limit`` characters."""
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


def summarise(errors: Sequence[Mapping[str, Any]], omitted: int = 0, shown: int = 5) -> str:
    parts = []
    for error in errors[:shown]:
        loc = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{loc}: {error.get('msg', 'invalid')}" if loc else str(error.get("msg", "invalid")))
    count = len(errors) + omitted
    if count > len(parts):
        parts.append(f"and {count - len(parts)} more")
    head = f"{count} validation error" + ("s" if count != 1 else "")
    return f"{head}: " + "; ".join(parts)
