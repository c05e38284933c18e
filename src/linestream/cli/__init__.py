"""The ``linestream`` command line (also ``python -m linestream``). See ``docs/cli.md``."""

from __future__ import annotations

from linestream.cli._main import cli, main

__all__ = ["cli", "main"]
