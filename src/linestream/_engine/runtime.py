"""``AppRuntime``: what the routes of one app share while it serves, handed to each route when it is compiled.

The app's immutable ``Settings``, its open streams (ended together at shutdown), its stream slots, the limiter
of its running ``def`` generator streams (made for each run of the app's lifespan) and its dependency
overrides. Routes never look the app up at request time.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Any, TypeVar

import anyio
import anyio.abc
import anyio.to_thread

from linestream._declare.options import Settings, app_setting
from linestream._engine.shutdown import OpenStreams
from linestream._engine.slots import StreamSlots
from linestream.exceptions import HTTPException

__all__ = ["AppRuntime", "DependencyOverrides", "StreamStats"]

DependencyOverrides = Mapping[Callable[..., Any], Callable[..., Any]]
T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class StreamStats:
    """What an app is streaming right now (``LineStream.stream_stats()``), e.g. for metrics.

    ``open``: streams being served; ``sync_running``: ``def`` generator streams holding a worker thread (at most
    ``max_sync_streams``).
    """

    open: int
    sync_running: int


class AppRuntime:
    """What routes need of the app that serves them (see the module docstring)."""

    __slots__ = (
        "_background",
        "_jobs",
        "_overrides",
        "_sync_limiter",
        "_sync_threads",
        "open_streams",
        "settings",
        "stream_slots",
    )

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else Settings()
        self.open_streams = OpenStreams()
        #: The app's stream limits (``max_streams``, ``max_streams_per_client``) and the slots taken.
        self.stream_slots = StreamSlots(
            self.settings.max_streams, self.settings.max_streams_per_client, self.settings.shared_stream_limits
        )
        self._overrides: dict[Callable[..., Any], Callable[..., Any]] = {}
        self._sync_limiter: anyio.CapacityLimiter | None = None
        self._sync_threads: anyio.CapacityLimiter | None = None
        #: The app's own tasks, for the run of its lifespan: work that outlives the request that began it.
        self._background: anyio.abc.TaskGroup | None = None
        #: The cancel scopes of the tasks that stop when the lifespan ends (durable jobs), rather than finish.
        self._jobs: set[anyio.CancelScope] = set()

    @property
    def dependency_overrides(self) -> dict[Callable[..., Any], Callable[..., Any]]:
        return self._overrides

    @dependency_overrides.setter
    def dependency_overrides(self, overrides: DependencyOverrides | None) -> None:
        # `app.dependency_overrides = {}` (or None) is how tests reset them; keep one dict the app's users see.
        self._overrides = dict(overrides or {})

    def _limiters(self) -> tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]:
        if self._sync_limiter is None or self._sync_threads is None:
            self._sync_limiter = anyio.CapacityLimiter(self.settings.max_sync_streams)
            self._sync_threads = anyio.CapacityLimiter(self.settings.max_sync_streams)
        return self._sync_limiter, self._sync_threads

    async def run_blocking(self, function: Callable[[], T]) -> T:
        """Run ``function`` (a ``def`` generator's producer, or a ``def`` path operation reading a streamed body:
        code that blocks on the network) in one of the app's ``max_sync_streams`` worker threads, not in anyio's
        default pool, which ordinary ``def`` endpoints and dependencies share. When no slot frees within
        ``sync_stream_wait`` seconds, raise a 503 with Retry-After."""
        slots, threads = self._limiters()
        wait = self.settings.sync_stream_wait
        with anyio.move_on_after(wait) as scope:
            await slots.acquire()
        if scope.cancelled_caught:
            raise HTTPException(
                503,
                f"All {self.settings.max_sync_streams} worker threads for streams are busy; retry in a moment "
                f"({app_setting('max_sync_streams')}, and sync_stream_wait for how long a stream waits for one).",
                headers={"retry-after": "1"},
            )
        try:
            # `threads` never makes anyone wait (the slots gate it); it keeps these threads out of anyio's pool.
            return await anyio.to_thread.run_sync(function, limiter=threads)
        finally:
            slots.release()

    @property
    def sync_streams_running(self) -> int:
        """How many ``def`` streams (and ``def`` uploads) hold a worker thread right now."""
        return 0 if self._sync_limiter is None else int(self._sync_limiter.borrowed_tokens)

    @property
    def has_tasks(self) -> bool:
        """Whether the app runs its lifespan, and so has a task group of its own (``spawn``)."""
        return self._background is not None

    def spawn(self, function: Callable[[], Coroutine[Any, Any, None]], *, stop_at_shutdown: bool = False) -> bool:
        """Run ``function`` as a task of the app rather than of the request that asks (a ``def`` generator's
        thread, which may outlive its response; the teardown of a request's dependencies once that generator
        closed; a durable job); ``False`` when the app runs no lifespan, so it has no tasks of its own (the
        caller waits then). The lifespan's end waits for the task, or cancels it (``stop_at_shutdown``: work
        that may last longer than a shutdown should). ``function`` must not raise: what fails is logged there."""
        if self._background is None:
            return False
        if not stop_at_shutdown:
            self._background.start_soon(function)
            return True
        scope = anyio.CancelScope()
        jobs = self._jobs
        jobs.add(scope)

        async def run() -> None:
            try:
                with scope:
                    await function()
            finally:
                jobs.discard(scope)

        self._background.start_soon(run)
        return True

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """One run of the app (its lifespan): fresh limiters bound to this run's event loop, and a task group for
        the app's own tasks (waited for when the lifespan ends, or cancelled: see ``spawn``)."""
        self._sync_limiter = self._sync_threads = None
        self._limiters()
        shared = self.settings.shared_stream_limits
        try:
            async with shared or contextlib.nullcontext(), anyio.create_task_group() as background:
                self._background = background
                try:
                    yield
                finally:
                    for scope in list(self._jobs):
                        scope.cancel()
        finally:
            self._background = None
            self._sync_limiter = self._sync_threads = None
