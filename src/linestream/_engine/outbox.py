"""The outbox: the bytes an async generator's stream produced but has not sent yet, and the writer task that
sends them.

Items that are ready back to back are coalesced into ASGI messages of up to ``chunk_size`` bytes, but nothing
ready is held back: the moment the generator starts waiting for something, what is buffered is handed to the
writer task (``before_suspend``), which sends it while the generator waits. The writer task is started only
the first time the generator suspends, so a stream that never waits needs no second task.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
from anyio.lowlevel import checkpoint
from starlette.types import Send

from linestream._compile.plan import KeepAlive
from linestream._engine.state import StreamState
from linestream._signal import Signal

__all__ = ["Outbox"]


class Outbox:
    """The bytes produced but not yet sent, shared by the producer and the writer task.

    Producer and writer run in one thread and only switch at ``await``, so the buffer needs no lock: the writer
    takes it only while the producer is suspended. The writer ends once the stream's ``state`` says it is ending
    (the producer finished, or failed) and it sent what was buffered.
    """

    __slots__ = (
        "_space",
        "_wakeup",
        "buffer",
        "done",
        "error",
        "large",
        "send",
        "sending",
        "start_writer",
        "state",
    )

    def __init__(self, state: StreamState) -> None:
        self.state = state
        self.send: Send | None = None
        #: Starts the writer task; ``None`` once started (or once it is known not to be needed).
        self.start_writer: Callable[[], None] | None = None
        #: True while a send is in progress (by the writer or the producer): sends never overlap.
        self.sending = False
        self.buffer = bytearray()
        #: A chunk too large to be worth copying into the buffer; sent as is, right after the buffer.
        self.large: bytes | None = None
        self.error: Exception | None = None
        # Events are made when first needed: an idle stream holds as few objects as possible.
        self.done: Signal | None = None
        self._wakeup: Signal | None = None
        self._space: Signal | None = None

    async def wait_for_space(self) -> None:
        """Backpressure: hand the full buffer to the (running) writer and wait until it took it."""
        space = self._space = Signal()
        assert self._wakeup is not None
        self._wakeup.set()
        await space.wait()

    async def flush(self, large: bytes | None = None) -> None:
        """Send the buffer, then ``large`` (sent as is, never copied), from the producer at an item boundary.

        The producer sends itself when the writer is idle (no task switch on the hot path), else hands over to
        the writer and waits until it took the data (backpressure). Either way it then lets other tasks run, so
        that a generator that never awaits cannot starve the event loop.
        """
        self.large = large
        if self.sending or self.send is None:
            await self.wait_for_space()
            return
        self.sending = True
        try:
            for chunk in self._take():
                await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            self.sending = False
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

    async def finish(self) -> None:
        """Send what is left (the stream is ending): through the writer if it runs (and wait until it has), else
        directly."""
        assert self.state.ending, "the producer says why it stopped before the outbox finishes"
        if self.start_writer is not None or self.done is None:
            # The generator never suspended: no writer was needed, the producer sends the rest itself.
            self.start_writer = None
            if self.send is not None:
                for chunk in self._take():
                    await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
            return
        assert self._wakeup is not None
        self._wakeup.set()
        await self.done.wait()

    def before_suspend(self) -> None:
        """Called each time the producer is about to wait: start the writer the first time, then wake it if
        there is something to send. (A stream whose generator never suspends never needs a writer task.)"""
        if self.start_writer is not None:
            start, self.start_writer = self.start_writer, None
            self.done = Signal()
            self._wakeup = Signal()
            start()
        if self.buffer and self._wakeup is not None:
            self._wakeup.set()

    async def write_all(self, send: Send, on_error: Callable[[], None], keepalive: KeepAlive | None) -> None:
        """The writer task: send whatever is buffered each time the producer wakes it (or a keep-alive after
        ``keepalive[0]`` seconds of silence)."""
        buffer = self.buffer
        assert self._wakeup is not None
        assert self.done is not None
        try:
            while True:
                wakeup = self._wakeup
                if keepalive is None:
                    await wakeup.wait()
                else:
                    with anyio.move_on_after(keepalive[0]):
                        await wakeup.wait()
                    if not wakeup.is_set():
                        await send({"type": "http.response.body", "body": keepalive[1], "more_body": True})
                        continue
                self._wakeup = Signal()
                while buffer or self.large is not None:
                    # Take the buffer and the large chunk after it together, so that the producer, free again
                    # once `_space` is set, can only add what comes after both.
                    self.sending = True
                    try:
                        for chunk in self._take():
                            await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    finally:
                        self.sending = False
                if self.state.ending:
                    return
        except Exception as exc:  # noqa: BLE001 - any failure of send() ends the stream; serve() reports it
            self.error = exc
            on_error()
        finally:
            self.done.set()
