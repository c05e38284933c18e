"""The request's ``receive``, shared by the endpoint and the task that watches for the client's disconnect.

Only one task ever awaits the server's ``receive()`` at a time (two concurrent callers would each get a share of
the body, and one of them an empty "end of body" that ends a streamed body early): the endpoint, until the
stream starts watching; from then on the watcher, which waits for an endpoint's read in progress to return
before it takes over. The watcher keeps reading whatever the endpoint does, so a disconnect is always seen:

- body parts the endpoint may still read (it streams the body, or holds the ``Request``) are queued for it, at
  most ``MAX_UNREAD`` bytes: past that the watcher waits until the endpoint takes some (backpressure, so
  memory stays bounded); a disconnect is still seen as soon as the client closes while the queue has room;
- body parts nothing can read (the endpoint declared no way to read the body) are dropped as they arrive.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

import anyio
from starlette.types import Message, Receive

from linestream._engine.state import EndReason, StreamState

__all__ = ["MAX_UNREAD", "ReceiveChannel"]

#: Bytes of request body the watcher queues for an endpoint that has not read them yet.
MAX_UNREAD = 64 * 1024


class ReceiveChannel:
    """The request's ``receive`` for the endpoint, watched for the client's disconnect (see the module doc)."""

    __slots__ = (
        "_arrived",
        "_keep_body",
        "_queue",
        "_queued",
        "_reading",
        "_receive",
        "_room",
        "_watching",
        "state",
    )

    def __init__(self, receive: Receive, *, keep_body: bool = True) -> None:
        self._receive = receive
        #: Whether the endpoint may read body parts that arrive while the stream runs (else they are dropped).
        self._keep_body = keep_body
        self._watching = False
        #: The state of the request's stream (if it streams): a disconnect ends it (``CLIENT_GONE``).
        self.state = StreamState()
        # Made when first needed: an idle stream holds as few objects as possible.
        self._queue: collections.deque[Message] | None = None
        self._queued = 0
        self._reading: anyio.Event | None = None
        self._arrived: anyio.Event | None = None
        self._room: anyio.Event | None = None

    async def __call__(self) -> Message:
        if not self._watching:
            reading = self._reading = anyio.Event()
            try:
                message = await self._receive()
            finally:
                self._reading = None
                reading.set()
            if message["type"] == "http.disconnect":
                self.state.end(EndReason.CLIENT_GONE)
            return message
        while not self._queue:
            if self.disconnected:
                return {"type": "http.disconnect"}
            arrived = self._arrived = anyio.Event()
            await arrived.wait()
        message = self._queue.popleft()
        self._queued -= len(message.get("body", b""))
        if self._room is not None:
            self._room.set()
        return message

    @property
    def disconnected(self) -> bool:
        """Whether the client disconnected (``http.disconnect`` arrived)."""
        return self.state.reason is EndReason.CLIENT_GONE

    async def watch(self, on_disconnect: Callable[[], None]) -> None:
        """Read ``receive()`` until the client disconnects, then call ``on_disconnect``."""
        self._watching = True
        if self._reading is not None:
            await self._reading.wait()  # the endpoint's read in progress returns first: never two readers
        while not self.disconnected:
            while self._keep_body and self._queued > MAX_UNREAD:
                room = self._room = anyio.Event()
                await room.wait()
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.state.end(EndReason.CLIENT_GONE)
            elif self._keep_body:
                if self._queue is None:
                    self._queue = collections.deque()
                self._queue.append(message)
                self._queued += len(message.get("body", b""))
            if self._arrived is not None:
                self._arrived.set()
        on_disconnect()
