"""The protocol's SSE read (``live=sse``): ``data`` events with a stream's data and ``control`` events with its
next offset, until the stream closes or the read has lasted ``sse_max_duration``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import time
from typing import Any

import anyio
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from linestream.durable._answers import SECURITY_HEADERS
from linestream.durable._base import DurableBackend, ReadResult
from linestream.durable._protocol import ProtocolError, cursor_after, is_json

__all__ = ["LiveEvents", "LiveSettings", "payload"]

#: How long one send to an SSE reader may take before the read ends (a client that stopped reading).
_SEND_TIMEOUT = 30.0
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclasses.dataclass(frozen=True, slots=True)
class LiveSettings:
    """What an SSE read needs of its router: the backend, how much a read takes, how long it waits."""

    backend: DurableBackend
    max_read_bytes: int
    sse_timeout: float
    sse_max_duration: float


class LiveEvents(Response):
    """An SSE read: ``data`` events with the stream's data, each followed by a ``control`` event with the next
    offset and cursor; at the tail, a ``control`` event every ``sse_timeout`` seconds; the end after the
    control event that says the stream is closed, or after ``sse_max_duration``. A client that leaves ends it
    at once (its ``http.disconnect`` is watched beside the stream)."""

    def __init__(
        self, streams: LiveSettings, key: str, offset: str | None, cursor: str | None, *, base64_data: bool
    ) -> None:
        self.streams, self.key, self.offset, self.cursor, self.base64_data = streams, key, offset, cursor, base64_data
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **SECURITY_HEADERS}
        if base64_data:
            headers["Stream-SSE-Data-Encoding"] = "base64"
        self.status_code = 200
        self.background = None
        self.raw_headers = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        async with anyio.create_task_group() as group:
            group.start_soon(_cancel_on_disconnect, receive, group.cancel_scope)
            try:
                await self._events(send)
                await send({"type": "http.response.body", "body": b""})
            except (OSError, ProtocolError):
                # The client left (the server's send fails) or stopped reading (TimeoutError, an OSError), or the
                # stream was deleted: the read ends.
                pass
            finally:
                group.cancel_scope.cancel()

    async def _events(self, send: Send) -> None:
        streams = self.streams
        backend = streams.backend
        offset = self.offset
        ends_at = time.monotonic() + streams.sse_max_duration
        while True:
            result = await backend.read(self.key, offset, streams.max_read_bytes)
            event = b""
            if result.pieces:
                event = self._data_event(result)
            offset = result.next_offset
            control: dict[str, Any] = {"streamNextOffset": offset}
            closed = result.closed_at_end
            if closed:
                control["streamClosed"] = True
            else:
                control["streamCursor"] = cursor_after(self.cursor)
                if result.up_to_date:
                    control["upToDate"] = True
            event += b"event: control\ndata:" + json.dumps(control, separators=(",", ":")).encode() + b"\n\n"
            with anyio.move_on_after(_SEND_TIMEOUT) as sending:
                await send({"type": "http.response.body", "body": event, "more_body": True})
            if sending.cancelled_caught:  # a client that stopped reading: its read ends rather than hold the server
                raise TimeoutError(f"an SSE read's send took more than {_SEND_TIMEOUT} s")
            if closed:
                return
            left = ends_at - time.monotonic()
            if left <= 0:
                return
            if result.up_to_date:
                await backend.wait(self.key, offset, min(streams.sse_timeout, left))

    def _data_event(self, result: ReadResult) -> bytes:
        if self.base64_data:
            return b"event: data\ndata:" + base64.b64encode(b"".join(result.pieces)) + b"\n\n"
        text = payload(result.pieces, json_mode=is_json(result.info.content_type)).decode("utf-8", "replace")
        # ``data:`` then the line; a line that starts with a space gets one more (a reader strips the first).
        lines = "".join(f"data: {line}\n" if line[:1] == " " else f"data:{line}\n" for line in _LINE_BREAK.split(text))
        return b"event: data\n" + lines.encode() + b"\n"


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return


def payload(pieces: list[bytes], *, json_mode: bool) -> bytes:
    return b"[" + b",".join(pieces) + b"]" if json_mode else b"".join(pieces)
