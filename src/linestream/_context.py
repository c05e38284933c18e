"""``AppContext``: what the routes of one app share while it serves, handed to each route when it is mounted.

The app's immutable ``Settings``, its open streams (ended together at shutdown), the limiter of its running
``def`` generator streams (made for each run of the app's lifespan) and its dependency overrides. Routes never
look the app up at request time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import anyio

from linestream._settings import Settings
from linestream._shutdown import OpenStreams

__all__ = ["AppContext", "DependencyOverrides"]

DependencyOverrides = Mapping[Callable[..., Any], Callable[..., Any]]


class AppContext:
    """What routes need of the app that serves them (see the module docstring)."""

    __slots__ = ("_overrides", "_sync_limiter", "open_streams", "settings")

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else Settings()
        self.open_streams = OpenStreams()
        self._overrides: dict[Callable[..., Any], Callable[..., Any]] = {}
        self._sync_limiter: anyio.CapacityLimiter | None = None

    @property
    def dependency_overrides(self) -> dict[Callable[..., Any], Callable[..., Any]]:
        return self._overrides

    @dependency_overrides.setter
    def dependency_overrides(self, overrides: DependencyOverrides | None) -> None:
        # `app.dependency_overrides = {}` (or None) is how tests reset them; keep one dict the app's users see.
        self._overrides = dict(overrides or {})

    def sync_limiter(self) -> anyio.CapacityLimiter:
        """The limiter of concurrently running ``def`` generator streams (``max_sync_streams``) of this run."""
        if self._sync_limiter is None:
            self._sync_limiter = anyio.CapacityLimiter(self.settings.max_sync_streams)
        return self._sync_limiter

    @property
    def sync_streams_running(self) -> int:
        """How many ``def`` generator streams hold a worker thread right now."""
        return 0 if self._sync_limiter is None else int(self._sync_limiter.borrowed_tokens)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """One run of the app (its lifespan): a fresh limiter, bound to this run's event loop."""
        self._sync_limiter = anyio.CapacityLimiter(self.settings.max_sync_streams)
        try:
            yield
        finally:
            self._sync_limiter = None
