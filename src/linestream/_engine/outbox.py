"""The outbox: the bytes an async generator's stream produced but has not sent yet, and the writer that sends
them while the generator waits.

Items that are ready back to back are coalesced into ASGI messages of up to ``chunk_size`` bytes, but nothing
ready is held back: the moment the generator starts waiting for something, what is buffered is handed to a
writer task (``before_suspend``), which sends it while the generator waits. A writer runs only while there is
something to send and ends once it sent it; keep-alives come from one timer per stream, which starts a writer
for the ping when the stream has been silent for the interval. An idle stream (its generator waiting, nothing
buffered) so holds no task and no cancel scope of its own here: only the timer, when it has keep-alives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
from anyio.lowlevel import checkpoint
from starlette.types import Send

from linestream._compile.plan import KeepAlive
from linestream._engine.state import StreamState
from linestream._signal import Signal

__all__ = ["Outbox"]

#: Starts a task of the stream (``StreamTasks.start_soon``).
StartTask = Callable[[Callable[[], Coroutine[Any, Any, None]]], None]


class Outbox:
    """The bytes produced but not yet sent, shared by the producer and the writer.

    Producer and writer run in one thread and only switch at ``await``, so the buffer needs no lock: the writer
    takes it only while the producer is suspended. ``finish()`` (the stream is ending) waits for a writer that
    still sends, then sends what is left itself.
    """

    __slots__ = (
        "_keepalive",
        "_last_sent",
        "_loop",
        "_on_error",
        "_space",
        "_start_task",
        "_timer",
        "_waiting",
        "_written",
        "buffer",
        "error",
        "large",
        "send",
        "sending",
        "state",
    )

    def __init__(self, state: StreamState) -> None:
        self.state = state
        self.send: Send | None = None
        #: True while a send is in progress (by the writer or the producer): sends never overlap.
        self.sending = False
        self.buffer = bytearray()
        #: A chunk too large to be worth copying into the buffer; sent as is, right after the buffer.
        self.large: bytes | None = None
        self.error: Exception | None = None
        self._start_task: StartTask | None = None
        self._waiting: Callable[[], None] | None = None
        self._on_error: Callable[[], None] | None = None
        self._keepalive: KeepAlive | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_sent = 0.0
        # Made when first needed: an idle stream holds as few objects as possible.
        #: Set when the writer running now has returned; ``None`` while no writer runs.
        self._written: Signal | None = None
        self._space: Signal | None = None

    def open(
        self,
        send: Send,
        start_task: StartTask,
        on_error: Callable[[], None],
        keepalive: KeepAlive | None,
        waiting: Callable[[], None],
    ) -> None:
        """Serve the rest of a stream: ``send`` its bytes, with writers started by ``start_task``; a writer
        whose send fails calls ``on_error`` (which ends the stream); a keep-alive after ``keepalive[0]`` seconds
        of silence; ``waiting()`` the first time the generator waits."""
        self._waiting = waiting
        self.send = send
        self._start_task = start_task
        self._on_error = on_error
        self._keepalive = keepalive

    async def flush(self, large: bytes | None = None) -> None:
        """Send the buffer, then ``large`` (sent as is, never copied), from the producer at an item boundary.

        The producer sends itself when no writer sends (no task switch on the hot path), else hands over to the
        writer and waits until it took the data (backpressure). Either way it then lets other tasks run, so
        that a generator that never awaits cannot starve the event loop.
        """
        self.large = large
        if self.sending or self.send is None:
            space = self._space = Signal()
            self._wake_writer()
            await space.wait()
            return
        self.sending = True
        try:
            for chunk in self._take():
                await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            self.sending = False
        self._sent()
        await checkpoint()

    def _take(self) -> list[bytes]:
        buffer = self.buffer
        chunks = [bytes(buffer)] if buffer else []
        buffer.clear()
        if self.large is not None:
            chunks.append(self.large)
            self.large = None
        if self._space is not None:
            self._space.set()
        return chunks

    def _sent(self) -> None:
        if self._timer is not None:
            assert self._loop is not None
            self._last_sent = self._loop.time()

    async def finish(self) -> None:
        """Send what is left (the stream is ending): once a writer still sending is done, directly."""
        assert self.state.ending, "the producer says why it stopped before the outbox finishes"
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._written is not None:
            self._wake_writer()
            await self._written.wait()
        if self.send is not None and self.error is None:
            for chunk in self._take():
                await self.send({"type": "http.response.body", "body": chunk, "more_body": True})

    def before_suspend(self) -> None:
        """Called each time the producer is about to wait: send what is buffered in a writer (started if none
        runs); the first time, start the keep-alive timer and say the stream waits."""
        if self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            waiting()
        if self._keepalive is not None and self._timer is None and self._loop is None and self.send is not None:
            self._start_timer()
        if self.buffer or self.large is not None:
            self._wake_writer()

    def _wake_writer(self, ping: bytes | None = None) -> None:
        """Start a writer (to send ``ping`` first) unless one runs: it sends whatever the buffer holds before it
        returns."""
        if self._written is not None:
            return
        if self._start_task is None or self.send is None or self.error is not None:
            return
        self._written = Signal()
        self._start_task(lambda: self._write(ping))

    async def _write(self, ping: bytes | None = None) -> None:
        """A writer: send whatever is buffered (or ``ping``), until nothing is left, then end."""
        assert self.send is not None
        written = self._written
        assert written is not None
        send = self.send
        try:
            if ping is not None:
                self.sending = True
                try:
                    await send({"type": "http.response.body", "body": ping, "more_body": True})
                finally:
                    self.sending = False
                self._sent()
            while self.buffer or self.large is not None:
                # Take the buffer and the large chunk after it together, so that the producer, free again once
                # `_space` is set, can only add what comes after both.
                self.sending = True
                try:
                    for chunk in self._take():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                finally:
                    self.sending = False
                self._sent()
        except Exception as exc:  # noqa: BLE001 - any failure of send() ends the stream; serve() reports it
            self.error = exc
            assert self._on_error is not None
            self._on_error()
        finally:
            self._written = None
            written.set()

    # -- keep-alives -------------------------------------------------------------------------------------------
    def _start_timer(self) -> None:
        assert self._keepalive is not None
        try:
            loop = self._loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - not asyncio (trio): a task that sleeps between pings
            assert self._start_task is not None
            self._start_task(self._ping_forever)
            return
        self._last_sent = loop.time()
        self._timer = loop.call_at(self._last_sent + self._keepalive[0], self._on_timer)

    def _on_timer(self) -> None:
        """The keep-alive timer: ping if the stream has been silent for the interval, and re-arm."""
        assert self._loop is not None
        assert self._keepalive is not None
        interval, ping = self._keepalive
        now = self._loop.time()
        if now - self._last_sent >= interval:
            if not self.sending and not self.state.ending:
                self._wake_writer(ping)
            # Pinged now, or a send is in progress (not silence): the next ping is due an interval from now.
            self._last_sent = now
        self._timer = self._loop.call_at(self._last_sent + interval, self._on_timer)

    async def _ping_forever(self) -> None:  # pragma: no cover - not asyncio (trio)
        assert self._keepalive is not None
        assert self.send is not None
        interval, ping = self._keepalive
        while not self.state.ending:
            await anyio.sleep(interval)
            if not self.sending and self._written is None:
                self.sending = True
                try:
                    await self.send({"type": "http.response.body", "body": ping, "more_body": True})
                except Exception as exc:  # noqa: BLE001 - as in a writer
                    self.error = exc
                    assert self._on_error is not None
                    self._on_error()
                    return
                finally:
                    self.sending = False
