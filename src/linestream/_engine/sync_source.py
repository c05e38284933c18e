"""The item source of a plain ``def`` generator: one worker thread per stream, handing frames to the loop.

The thread encodes each item and appends its frame to a deque, with no lock: a deque's ``append`` and
``popleft`` are atomic, and the two byte counters that bound the hand-off each have one writer (the thread counts
what it produced, the loop what it took). The thread wakes the loop only when the loop waits for data, so a fast
generator costs no thread hop per item; it takes a lock only to wait for room, when the loop is behind by a whole
chunk. The thread checks for cancellation after every item, so a disconnected client's generator is closed (in
its own thread) at its next ``yield``.

Why no wake-up is lost: the loop publishes its waiter, then looks at the deque again; the thread appends, then
looks for a waiter. Whichever goes second sees the other's write (one interpreter lock orders them).
"""

from __future__ import annotations

import asyncio
import collections
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
from linestream._engine.tasks import StreamTasks
from linestream._serialization import SerializedItem
from linestream.streams.sse import ServerSentEvent

__all__ = ["RunInThread", "Spawn", "SyncItemSource"]

#: Runs a blocking function in a worker thread, once one is free (``AppRuntime.run_blocking``).
RunInThread = Callable[[Callable[[], None]], Awaitable[None]]
#: Starts a task (a task group's ``start_soon``, or ``AppRuntime.spawn``).
Spawn = Callable[[Callable[[], Coroutine[Any, Any, None]]], object]


class SyncItemSource:
    """Runs a plain generator in one worker thread that hands encoded frames to the event loop (see the module).

    The loop takes every frame waiting in one batch; the thread only wakes the loop when the loop is waiting for
    data, and waits itself only when a whole chunk is produced and not yet taken. The thread checks for
    cancellation after every item (the stream's state is ending), so a disconnected client's generator is
    closed (in its own thread) at its next ``yield``.
    """

    __slots__ = (
        "_closed",
        "_done",
        "_error",
        "_exhausted",
        "_frames",
        "_produced",
        "_room",
        "_taken",
        "_thread_waits",
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
        self._frames: collections.deque[bytes] = collections.deque()
        self._produced = 0  # bytes appended: written by the thread only
        self._taken = 0  # bytes taken: written by the loop only
        self._room = threading.Condition()  # the thread waits on it for room, the loop notifies it
        self._thread_waits = False
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
        append = self._frames.append
        frame_event = plan.frame_event
        prefix = framing.prefix
        later_prefix = framing.separator + prefix
        suffix = framing.suffix
        state = self.state
        woken: anyio.Event | None = None
        count = 0
        try:
            for item in self.generator:
                if item.__class__ is ServerSentEvent or item.__class__ is SerializedItem:
                    frame = frame_event(item, count == 0)
                    if frame is None:
                        continue
                else:
                    frame = (prefix if count == 0 else later_prefix) + encode(item) + suffix
                append(frame)
                count += 1
                self.count = count
                self._produced += len(frame)
                waiter = self._waiter
                if waiter is not None and waiter is not woken:
                    # Wake the loop without waiting for it: items produced meanwhile join the same batch.
                    woken = waiter
                    self._wake(waiter.set)
                if self._produced - self._taken >= limit:
                    self._wait_for_room(limit)
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
            self._done = True
            waiter = self._waiter
            if waiter is not None:
                self._wake(waiter.set)

    def _wait_for_room(self, limit: int) -> None:
        state = self.state
        with self._room:
            self._thread_waits = True
            while self._produced - self._taken >= limit and not state.ending:
                self._room.wait()
            self._thread_waits = False

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
            self._error = exc
            self._done = True
            waiter = self._waiter
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
        with self._room:
            self._room.notify_all()

    def _take_frames(self) -> bytes | None:
        """Every frame waiting, joined; ``None`` if there is none."""
        frames = self._frames
        if not frames:
            return None
        taken = [frames.popleft() for _ in range(len(frames))]
        chunk = taken[0] if len(taken) == 1 else b"".join(taken)
        self._taken += len(chunk)
        if self._thread_waits:
            with self._room:
                self._room.notify_all()
        return chunk

    async def _take(self, keepalive: KeepAlive | None = None) -> bytes | None:
        """Wait for frames; ``None`` once the generator finished (its error, if any, is raised).
        With ``keepalive``, its bytes are returned after that many seconds without data."""
        while True:
            done = self._done  # read before the frames: a finished thread has appended its last frame
            chunk = self._take_frames()
            if chunk is not None:
                return chunk
            if done:
                if self._error is not None:
                    raise self._error
                return None
            waiter = self._waiter = anyio.Event()
            # Look again now that the waiter is published: a frame appended before the thread could see it.
            if self._frames or self._done:
                self._waiter = None
                continue
            if keepalive is None:
                await waiter.wait()
            else:
                with anyio.move_on_after(keepalive[0]):
                    await waiter.wait()
            self._waiter = None
            if keepalive is not None and not waiter.is_set() and not self._frames and not self._done:
                return keepalive[1]

    async def prefetch(self) -> bytes:
        """The head and first items (or the whole empty stream); errors before them propagate unchanged."""
        framing = self.plan.framing
        chunk = await self._take()
        if chunk is None:
            self._exhausted = True
            return framing.head + framing.tail
        return framing.head + chunk

    async def stream(self, send: Send, tasks: StreamTasks, waiting: Callable[[], None]) -> None:
        if self._exhausted:
            return
        while (chunk := await self._take(self.plan.keepalive)) is not None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        tail = self.plan.framing.tail
        if tail:
            await send({"type": "http.response.body", "body": tail, "more_body": True})

    #: The thread closes the generator: there is always something to wait for.
    finished = False

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
