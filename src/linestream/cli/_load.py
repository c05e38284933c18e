"""Find the app a command-line target names: ``path/to/app.py[:name]`` or ``package.module[:name]``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import click

__all__ = ["import_string", "load_app"]


def _split(target: str) -> tuple[str, str | None]:
    location, _, name = target.partition(":")
    return location, name or None


def import_string(target: str, app_dir: str = ".") -> tuple[str, Path]:
    """``module:attribute`` for uvicorn, and the folder to put on ``sys.path`` for it: the file's for
    ``path/to/app.py``, else ``app_dir`` (the current folder, as uvicorn's ``--app-dir`` and ``fastapi run``)."""
    location, name = _split(target)
    if location.endswith(".py") or "/" in location or Path(location).is_file():
        path = Path(location).resolve()
        if not path.is_file():
            raise click.BadParameter(f"no such file: {location}", param_hint="TARGET")
        cwd = Path.cwd().resolve()
        if path.is_relative_to(cwd):
            module = ".".join(path.relative_to(cwd).with_suffix("").parts)
            return f"{module}:{name or 'app'}", cwd
        return f"{path.stem}:{name or 'app'}", path.parent
    return f"{location}:{name or 'app'}", Path(app_dir).resolve()


def load_app(target: str, app_dir: str = ".") -> Any:
    """Import the target and return its app (``app`` unless the target names another attribute)."""
    spec, folder = import_string(target, app_dir)
    module_name, attribute = spec.split(":")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise click.BadParameter(f"cannot import {module_name!r}: {exc}", param_hint="TARGET") from exc
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise click.BadParameter(f"{module_name} has no attribute {attribute!r}", param_hint="TARGET") from None
