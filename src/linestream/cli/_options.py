"""What the commands' options share: the format names, and ``-H NAME:VALUE`` headers."""

from __future__ import annotations

import click

__all__ = ["FORMAT_NAMES", "header_option"]

FORMAT_NAMES = ["jsonl", "ndjson", "json-seq", "sse", "json"]


def header_option(value: str) -> tuple[str, str]:
    """A ``-H NAME:VALUE`` option as ``(name, value)``; a usage error otherwise."""
    name, colon, content = value.partition(":")
    if not colon or not name.strip():
        raise click.BadParameter(f"expected NAME:VALUE, got {value!r}", param_hint="--header")
    return name.strip(), content.strip()
