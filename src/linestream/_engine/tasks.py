"""``StreamTasks``: the helper tasks of one open stream (the disconnect watcher, a writer, a pinger, an expiry
timer) and the cancel scope that ends the stream, for a fraction of what an anyio task group costs per stream.

An anyio task group and the tasks it starts cost about 2.3 KiB each on an idle stream (a handle per task with its
own ``asyncio.Event``, a wrapper coroutine, the group's scope and bookkeeping); with tens of thousands of open
streams per worker that is most of what the framework holds. Here a helper is a bare asyncio task, and the
stream's own code runs under one ``anyio.CancelScope``: cancelling the group cancels both. What a group promises
is kept: ``__aexit__`` cancels and waits for every helper still running, and the first helper that fails
cancels the stream, its exception raised from ``__aexit__`` when the body did not raise one of its own. On
other event loops (trio) it is an anyio task group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

__all__ = ["StreamTasks"]


class StreamTasks:
    """A light task group for one stream (see the module docstring): ``start_soon``, ``cancel()`` (the stream's
    own code and every helper; ``cancel_scope.cancel()`` alone reaches only the stream's own code), and
    ``async with`` to wait for the helpers."""

    __slots__ = ("_fallback", "_tasks", "cancel_scope", "error")

    def __init__(self) -> None:
        self.cancel_scope = anyio.CancelScope()
        self._tasks: list[asyncio.Task[None]] = []
        self._fallback: anyio.abc.TaskGroup | None = None
        #: The first exception a helper task raised (it cancelled the stream).
        self.error: BaseException | None = None

    async def __aenter__(self) -> StreamTasks:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - not asyncio (trio): a real task group
            group = self._fallback = anyio.create_task_group()
            await group.__aenter__()
            self.cancel_scope = group.cancel_scope
            return self
        self.cancel_scope.__enter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> bool:
        if self._fallback is not None:  # pragma: no cover - not asyncio (trio)
            return bool(await self._fallback.__aexit__(kind, error, traceback))
        tasks = self._tasks
        if tasks:
            self.cancel_helpers()
            with anyio.CancelScope(shield=True):
                await asyncio.wait(list(tasks))
        swallowed = bool(self.cancel_scope.__exit__(kind, error, traceback))
        if self.error is not None and (error is None or swallowed):
            failure, self.error = self.error, None
            raise failure
        return swallowed

    def start_soon(self, function: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
        """Run ``function(*args)`` as a helper of the stream."""
        if self._fallback is not None:  # pragma: no cover - not asyncio (trio)
            self._fallback.start_soon(function, *args)
            return
        task = asyncio.get_running_loop().create_task(function(*args))
        self._tasks.append(task)
        task.add_done_callback(self._finished)
        if self.cancel_scope.cancel_called:
            asyncio.get_running_loop().call_soon(task.cancel)

    def cancel(self) -> None:
        """Cancel the stream's own code (within the scope) and every helper."""
        self.cancel_scope.cancel()
        self.cancel_helpers()

    def cancel_helpers(self) -> None:
        """Cancel every helper, not the stream's own code (which is ending)."""
        if self._tasks:
            # After the loop's pending callbacks, among them the first step of a helper started just now: as in
            # an anyio task group, a helper is cancelled where it waits, never before it ran (its ``finally``
            # blocks, which say it is done, would never run).
            call_soon = asyncio.get_running_loop().call_soon
            for task in self._tasks:
                call_soon(task.cancel)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.remove(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None and self.error is None:
            self.error = error
            self.cancel()
