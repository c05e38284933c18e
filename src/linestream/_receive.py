"""The request's ``receive``, shared by the endpoint and the task that watches for the client's disconnect."""

from __future__ import annotations

from collections.abc import Callable

import anyio
from starlette.types import Message, Receive

__all__ = ["ReceiveChannel"]


class ReceiveChannel:
    """The request's ``receive``, shared by the endpoint and a task watching for the client's disconnect.

    While a stream runs, one task reads ``receive()`` to notice ``http.disconnect`` at once; request body
    messages it reads on the way are kept (one at a time, so memory stays bounded) for the endpoint, which
    reads them through this object.
    """

    __slots__ = ("_arrived", "_consumed", "_pending", "_receive", "_watching", "disconnected")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._pending: Message | None = None
        self._watching = False
        self._arrived: anyio.Event | None = None
        self._consumed: anyio.Event | None = None
        self.disconnected = False

    async def __call__(self) -> Message:
        if not self._watching:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
            return message
        while self._pending is None:
            if self.disconnected:
                return {"type": "http.disconnect"}
            arrived = self._arrived = anyio.Event()
            await arrived.wait()
        message, self._pending = self._pending, None
        if self._consumed is not None:
            self._consumed.set()
        return message

    async def watch(self, on_disconnect: Callable[[], None]) -> None:
        """Read ``receive()`` until the client disconnects, then call ``on_disconnect``."""
        self._watching = True
        if self.disconnected:
            on_disconnect()
            return
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                if self._arrived is not None:
                    self._arrived.set()
                on_disconnect()
                return
            self._pending = message
            if self._arrived is not None:
                self._arrived.set()
            if message.get("more_body", False):
                # Bounded memory: wait until the endpoint took this part of the body before reading more.
                # (The last part is kept without waiting, so a request nobody reads still sees the disconnect.)
                consumed = self._consumed = anyio.Event()
                await consumed.wait()
