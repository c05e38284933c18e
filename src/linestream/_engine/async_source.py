"""The item source of an ``async def`` generator: one ``async for`` loop framing items into the ``Outbox``.

The loop has no ``await`` of its own per item. It runs under ``WakeBeforeSuspending``, which sees each real
suspension of the generator and wakes the outbox's writer first, so what is buffered goes out while the
generator waits, and nothing ready is held back.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any

import anyio
from starlette.types import Send

from linestream._compile.plan import StreamPlan
from linestream._engine.outbox import Outbox
from linestream._engine.state import EndReason, StreamState
from linestream._engine.tasks import StreamTasks
from linestream._serialization import SerializedItem
from linestream._signal import WakeBeforeSuspending
from linestream.streams.sse import ServerSentEvent

__all__ = ["AsyncItemSource"]

#: The most a stream buffers while a send to its client is still in progress (the client is slower than the
#: generator): what a client that stopped reading costs beyond the server's own write buffer.
BLOCKED_CHUNK = 8 * 1024


class AsyncItemSource:
    """Pulls items from an async generator and frames them, as ``plan`` says, into an ``Outbox``."""

    __slots__ = ("count", "exhausted", "generator", "outbox", "plan", "state")

    def __init__(self, generator: AsyncGenerator[Any, None], plan: StreamPlan) -> None:
        self.generator = generator
        self.plan = plan
        self.count = 0
        self.exhausted = False
        self.state = StreamState()
        self.outbox = Outbox(self.state)

    @property
    def failure(self) -> Exception | None:
        """What failed while sending in the writer task, if anything."""
        return self.outbox.error

    #: The generator runs in the stream's own task, where its items are awaited.
    producer_task = False

    #: The generator is closed by ``aclose()``, in the stream's own task.
    producing = False

    def start(self, spawn: object, state: StreamState) -> None:
        """Nothing runs before ``prefetch()`` for an async generator; the outbox follows the stream's state."""
        self.state = self.outbox.state = state

    async def closed(self) -> None:
        """The generator is closed once ``aclose()`` returned."""

    async def prefetch(self) -> bytes:
        """The head and first frame, or head and tail of an empty stream; errors propagate unchanged."""
        plan = self.plan
        framing = plan.framing
        while True:
            try:
                item = await self.generator.__anext__()
            except StopAsyncIteration:
                self.exhausted = True
                return framing.head + framing.tail
            if item.__class__ is ServerSentEvent or item.__class__ is SerializedItem:
                frame = plan.frame_event(item, True)
                if frame is None:
                    continue
            else:
                frame = framing.prefix + plan.encode(item) + framing.suffix
            self.count = 1
            return framing.head + frame

    async def stream(self, send: Send, tasks: StreamTasks, waiting: Callable[[], None]) -> None:
        """Send every remaining item; return once all were handed to ``send``."""
        if self.exhausted:
            return
        outbox = self.outbox
        outbox.open(send, tasks.start_soon, tasks.cancel, self.plan.keepalive, waiting)
        produced = False
        try:
            await WakeBeforeSuspending(self._produce(outbox), outbox.before_suspend)
            produced = True
        finally:
            # What was produced before an error or the end is still delivered.
            self.state.end(EndReason.COMPLETE if produced else EndReason.FAILED)
            with anyio.CancelScope(shield=True):
                await outbox.finish()
        if outbox.error is not None:
            raise outbox.error

    async def _produce(self, outbox: Outbox) -> None:
        """Frame the remaining items into the outbox: the hot loop, with no ``await`` per item."""
        plan = self.plan
        framing = plan.framing
        prefix = framing.separator + framing.prefix
        suffix = framing.suffix
        encode = plan.encode
        limit = plan.chunk_size
        buffer = outbox.buffer
        frame_event = plan.frame_event
        count = self.count
        # Raw byte streams: a chunk at least as large as a message goes out as it is, never copied.
        passthrough = not prefix and not suffix
        try:
            async for item in self.generator:
                if item.__class__ is ServerSentEvent or item.__class__ is SerializedItem:
                    frame = frame_event(item, False)
                    if frame is None:
                        continue
                    buffer += frame
                else:
                    data = encode(item)
                    if passthrough and len(data) >= limit:
                        count += 1
                        self.count = count
                        await outbox.flush(data)
                        continue
                    if prefix:
                        buffer += prefix
                    buffer += data
                    buffer += suffix
                count += 1
                if len(buffer) >= limit or (outbox.sending and len(buffer) >= BLOCKED_CHUNK):
                    # (A client that does not keep up gets small chunks: its stream holds little while it waits.)
                    self.count = count
                    await outbox.flush()
        finally:
            self.count = count
        buffer += framing.tail

    def cancel(self) -> None:
        """Nothing to signal: cancelling the task group interrupts the generator where it awaits."""

    @property
    def finished(self) -> bool:
        """The generator returned: it has no frame left to close."""
        return getattr(self.generator, "ag_frame", self) is None  # (not a native generator: close it)

    async def aclose(self) -> None:
        await self.generator.aclose()
