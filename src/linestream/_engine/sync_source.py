"""The item source of a plain ``def`` generator: one worker thread per stream fills a bounded buffer.

The thread encodes items into a locked buffer that the event loop drains in batches; it only wakes the loop when
the loop is waiting for data, so a fast generator costs no thread hop per item, and the loop stays free while
the generator blocks. The thread checks for cancellation after every item, so a disconnected client's generator
is closed (in its own thread) at its next ``yield``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from starlette.types import Send

from linestream._compile.plan import KeepAlive, StreamPlan
from linestream._engine.state import StreamState
from linestream._serialization import SerializedItem
from linestream.streams.sse import ServerSentEvent

__all__ = ["RunInThread", "Spawn", "SyncItemSource"]

#: Runs a blocking function in a worker thread, once one is free (``AppRuntime.run_blocking``).
RunInThread = Callable[[Callable[[], None]], Awaitable[None]]
#: Starts a task (a task group's ``start_soon``, or ``AppRuntime.spawn``).
Spawn = Callable[[Callable[[], Coroutine[Any, Any, None]]], object]


class SyncItemSource:
    """Runs a plain generator in one worker thread that encodes items into a bounded, locked buffer.

    The event loop drains the buffer in batches; the thread only wakes the loop when the loop is waiting for
    data, so a fast generator costs no thread hop per item. The thread checks for cancellation after every
    item (the stream's state is ending), so a disconnected client's generator is closed (in its own thread) at its
    next ``yield``.
    """

    __slots__ = (
        "_buffer",
        "_closed",
        "_condition",
        "_done",
        "_error",
        "_exhausted",
        "_waiter",
        "_wake",
        "count",
        "generator",
        "plan",
        "run_in_thread",
        "state",
    )

    def __init__(self, generator: Iterator[Any], plan: StreamPlan, run_in_thread: RunInThread) -> None:
        self.generator = generator
        self.plan = plan
        #: Runs the producer in a worker thread of the app's pool for blocking code (may refuse: 503).
        self.run_in_thread = run_in_thread
        self.count = 0
        self._condition = threading.Condition()
        self._buffer = bytearray()
        self._done = False
        self._error: BaseException | None = None
        self.state = StreamState()
        self._waiter: anyio.Event | None = None
        self._exhausted = False

    # -- worker thread -------------------------------------------------------------------------------------
    def _produce(self) -> None:
        plan = self.plan
        framing = plan.framing
        encode = plan.encode
        limit = plan.chunk_size
        condition = self._condition
        buffer = self._buffer
        frame_event = plan.frame_event
        prefix = framing.prefix
        later_prefix = framing.separator + prefix
        suffix = framing.suffix
        state = self.state
        count = 0
        try:
            for item in self.generator:
                if item.__class__ is ServerSentEvent or item.__class__ is SerializedItem:
                    frame = frame_event(item, count == 0)
                    if frame is None:
                        continue
                    head, data, tail = b"", frame, b""
                else:
                    head = prefix if count == 0 else later_prefix
                    data = encode(item)
                    tail = suffix
                with condition:
                    if head:
                        buffer += head
                    buffer += data
                    if tail:
                        buffer += tail
                    count += 1
                    self.count = count
                    waiter = self._waiter
                    self._waiter = None
                if waiter is not None:
                    # Wake the loop without waiting for it: items produced meanwhile join the same batch.
                    self._wake(waiter.set)
                # Only this thread grows the buffer, so reading its length without the lock is safe.
                if len(buffer) >= limit:
                    with condition:
                        while len(buffer) >= limit and not state.ending:
                            condition.wait()
                if state.ending:
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the event loop, which re-raises it
            self._error = exc
        finally:
            try:
                close = getattr(self.generator, "close", None)
                if close is not None:
                    close()
            except BaseException as exc:  # noqa: BLE001
                self._error = self._error or exc
            with condition:
                self._done = True
                waiter, self._waiter = self._waiter, None
            if waiter is not None:
                self._wake(waiter.set)

    # -- event loop ----------------------------------------------------------------------------------------
    @property
    def failure(self) -> Exception | None:
        """Failures of a ``def`` generator's stream are raised by ``stream()`` itself."""
        return None

    #: The generator runs in a worker thread, which a task waits for.
    producer_task = True

    def start(self, spawn: Spawn | None, state: StreamState) -> None:
        assert spawn is not None, "a def generator's thread runs in a task of its own"
        self.state = state
        self._wake = _thread_safe_scheduler()
        self._closed = anyio.Event()
        spawn(self._run_thread)

    async def _run_thread(self) -> None:
        try:
            await self.run_in_thread(self._produce)
        except Exception as exc:  # noqa: BLE001 - no thread to run in (a 503): the stream fails before its start
            with self._condition:
                self._error = exc
                self._done = True
                waiter, self._waiter = self._waiter, None
            if waiter is not None:
                waiter.set()
        finally:
            self._closed.set()

    @property
    def producing(self) -> bool:
        """Whether the generator's thread still runs (it closes the generator at its next ``yield``)."""
        return not self._closed.is_set()

    async def closed(self) -> None:
        """Wait until the generator is closed and its thread gone."""
        await self._closed.wait()

    def cancel(self) -> None:
        """Wake the thread if it waits for room, to see that the stream is ending: it closes the generator at its
        next ``yield``."""
        with self._condition:
            self._condition.notify_all()

    async def _take(self, keepalive: KeepAlive | None = None) -> bytes | None:
        """Wait for buffered bytes; ``None`` once the generator finished (its error, if any, is raised).
        With ``keepalive``, its bytes are returned after that many seconds without data."""
        while True:
            with self._condition:
                if self._buffer:
                    chunk = bytes(self._buffer)
                    self._buffer.clear()
                    self._condition.notify_all()
                    return chunk
                if self._done:
                    if self._error is not None:
                        raise self._error
                    return None
                waiter = self._waiter = anyio.Event()
            if keepalive is None:
                await waiter.wait()
                continue
            with anyio.move_on_after(keepalive[0]):
                await waiter.wait()
            if not waiter.is_set():
                return keepalive[1]

    async def prefetch(self) -> bytes:
        """The head and first items (or the whole empty stream); errors before them propagate unchanged."""
        framing = self.plan.framing
        chunk = await self._take()
        if chunk is None:
            self._exhausted = True
            return framing.head + framing.tail
        return framing.head + chunk

    async def stream(self, send: Send, task_group: anyio.abc.TaskGroup) -> None:
        if self._exhausted:
            return
        while (chunk := await self._take(self.plan.keepalive)) is not None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        tail = self.plan.framing.tail
        if tail:
            await send({"type": "http.response.body", "body": tail, "more_body": True})

    async def aclose(self) -> None:
        """The thread closes the generator itself (the stream is ending); the task group waits for the thread."""
        self.cancel()


def _thread_safe_scheduler() -> Callable[[Callable[[], object]], None]:
    """A function that schedules a callback on the current event loop from another thread, without waiting."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio (trio): anyio's portal call, which waits for the loop
        token = anyio.lowlevel.current_token()

        def blocking(callback: Callable[[], object]) -> None:
            anyio.from_thread.run_sync(callback, token=token)

        return blocking

    def schedule(callback: Callable[[], object]) -> None:
        loop.call_soon_threadsafe(callback)

    return schedule
