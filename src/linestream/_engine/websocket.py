"""A typed WebSocket stream, under the rules of every stream: its lifecycle is a ``StreamState`` (the one of
``_engine/state.py``), and each reason it ends for is one close.

Incoming messages are read by one task, which also sees the client leave; items are sent as text messages,
each within ``send_timeout`` (a client that stops reading ends the stream, its generator and dependencies
released); the stream ends when its credentials expire, and when the server shuts down (it is one of the app's
open streams). ``CLOSES`` says how it ends for each reason: the close code and reason sent (none to a client
that is gone), and the line logged (a client that leaves is no error).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar

import anyio
import anyio.abc
import pydantic
from pydantic_core import PydanticSerializationError
from starlette.exceptions import WebSocketException
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from linestream._bind.validation import located_errors
from linestream._decoding import ItemValidator
from linestream._engine.state import EndReason, StreamState
from linestream.exceptions import HTTPException

__all__ = ["CLOSES", "WebSocketItemStream", "close_reason"]

logger = logging.getLogger("linestream")
T = TypeVar("T")

#: Close codes (RFC 6455 section 7.4.1).
NORMAL, GOING_AWAY, UNSUPPORTED_DATA, INVALID_DATA = 1000, 1001, 1003, 1007
POLICY_VIOLATION, TOO_BIG, INTERNAL_ERROR = 1008, 1009, 1011
#: Incoming messages waiting for a typed stream to take them: past this, the socket is not read (backpressure).
_BUFFERED_MESSAGES = 16

#: How a WebSocket stream ends, for each reason: the close sent (``None``: the client cannot be reached) and the
#: line logged. A failure's own close (its code and reason) is the stream's, see ``WebSocketItemStream``.
CLOSES: dict[EndReason, tuple[tuple[int, str] | None, tuple[int, str] | None]] = {
    EndReason.COMPLETE: ((NORMAL, ""), None),
    EndReason.FAILED: ((INTERNAL_ERROR, "Internal error"), None),
    EndReason.CLIENT_GONE: (None, (logging.INFO, "%s: the client left the WebSocket stream after %d item(s).")),
    EndReason.SEND_TIMEOUT: (
        None,
        (logging.WARNING, "%s: the client stopped reading the WebSocket stream (send_timeout) after %d item(s)."),
    ),
    EndReason.SHUTDOWN: ((GOING_AWAY, "The server is shutting down; reconnect."), None),
    EndReason.EXPIRED: ((POLICY_VIOLATION, "The credentials of this stream expired; reconnect with fresh ones."), None),
}


def close_reason(text: str) -> str:
    """A close reason: at most 123 bytes of UTF-8 (RFC 6455), cut on a character boundary."""
    encoded = text.encode()
    if len(encoded) <= 123:
        return text
    return encoded[:120].decode(errors="ignore") + "..."


class WebSocketItemStream:
    """Serves one typed WebSocket stream (see the module docstring). ``run`` is the endpoint called: an async
    generator of items when ``streams``, else a coroutine that only takes messages."""

    def __init__(
        self,
        websocket: WebSocket,
        *,
        label: str,
        validator: ItemValidator,
        max_message_size: int,
        takes_messages: bool,
        send_timeout: float | None,
        expires_in: float | None,
    ) -> None:
        self.websocket = websocket
        self.label = label
        self.state = StreamState()
        self.incoming = _Incoming[Any](
            websocket, validator, max_message_size, accepted=takes_messages, state=self.state
        )
        self.send_timeout = send_timeout
        self.expires_in = expires_in
        self.count = 0
        self._scope: anyio.CancelScope | None = None
        #: The close of a failure (a ``WebSocketException``, an ``HTTPException``, a refused message).
        self._failed_with: tuple[int, str] | None = None

    def shut_down(self) -> None:
        """End the stream because the server is shutting down (one of the app's open streams)."""
        self._end_because(EndReason.SHUTDOWN)

    def _end_because(self, reason: EndReason) -> None:
        self.state.end(reason)
        if self.state.reason is reason and self._scope is not None:
            self._scope.cancel()

    def messages(self) -> AsyncIterator[Any]:
        """The validated incoming messages, for the endpoint's ``AsyncIterable[Message]`` parameter."""
        return self.incoming.messages()

    async def serve(self, run: Callable[[], Any], encode: Callable[[Any], bytes] | None) -> None:
        """Accept, run the endpoint (sending its items with ``encode``), and close as the ending says."""
        await self.websocket.accept()
        state = self.state
        incoming = self.incoming
        async with incoming.sender, incoming.receiver, anyio.create_task_group() as group:
            self._scope = group.cancel_scope
            if state.ending:
                group.cancel_scope.cancel()  # the server was already shutting down
            group.start_soon(incoming.read, lambda: self._end_because(EndReason.CLIENT_GONE), self._refused)
            if self.expires_in is not None:
                group.start_soon(self._expire_after, self.expires_in)
            try:
                if encode is not None:
                    await self._send_items(run(), encode)
                else:
                    await run()
                state.end(EndReason.COMPLETE)
            except _ClientGone:
                pass
            except WebSocketException as exc:
                self._fail((exc.code, exc.reason or ""))
            except HTTPException as exc:
                self._fail(
                    (POLICY_VIOLATION if exc.status_code < 500 else INTERNAL_ERROR, close_reason(str(exc.detail)))
                )
            except Exception:
                self._fail(None)
                logger.exception("%s: the WebSocket stream failed after %d item(s).", self.label, self.count)
            group.cancel_scope.cancel()
        await self._close()

    def _fail(self, close: tuple[int, str] | None) -> None:
        if close is not None:
            self._failed_with = close
        self.state.end(EndReason.FAILED)

    def _refused(self, close: tuple[int, str]) -> None:
        """An incoming message the stream does not take: it fails with that message's close."""
        self._failed_with = close
        self._end_because(EndReason.FAILED)

    async def _expire_after(self, seconds: float) -> None:
        await anyio.sleep(max(seconds, 0.0))
        self._end_because(EndReason.EXPIRED)

    async def _send_items(self, generator: Any, encode: Callable[[Any], bytes]) -> None:
        try:
            async for item in generator:
                try:
                    text = encode(item).decode()
                except (pydantic.ValidationError, PydanticSerializationError) as exc:
                    raise RuntimeError(
                        f"{self.label}: item {self.count} does not match its declared type: {exc}"
                    ) from exc
                await self._send(text)
                self.count += 1
        finally:
            with anyio.CancelScope(shield=True):
                await generator.aclose()

    async def _send(self, text: str) -> None:
        try:
            if self.send_timeout is None:
                await self.websocket.send_text(text)
                return
            with anyio.fail_after(self.send_timeout):
                await self.websocket.send_text(text)
        except TimeoutError:
            self._end_because(EndReason.SEND_TIMEOUT)
            raise _ClientGone from None
        except (OSError, WebSocketDisconnect, RuntimeError) as exc:
            if isinstance(exc, RuntimeError) and self.websocket.application_state is not WebSocketState.DISCONNECTED:
                raise
            self.state.end(EndReason.CLIENT_GONE)
            raise _ClientGone from exc

    async def _close(self) -> None:
        state = self.state
        reason = state.reason or EndReason.CLIENT_GONE
        close, log = CLOSES[reason]
        if reason is EndReason.FAILED and self._failed_with is not None:
            close = self._failed_with
        if log is not None:
            level, message = log
            logger.log(level, message, self.label, self.count)
        state.ended()
        if (
            close is not None
            and not self.incoming.gone
            and self.websocket.application_state is not WebSocketState.DISCONNECTED
        ):
            with contextlib.suppress(Exception), anyio.move_on_after(self.send_timeout or 5.0):
                await self.websocket.close(*close)


class _ClientGone(Exception):
    """A send failed or timed out: nothing more reaches the client."""


class _Incoming(Generic[T]):
    """Reads a typed stream's socket: validated messages for the endpoint, and the client's leaving."""

    def __init__(
        self, websocket: WebSocket, validator: ItemValidator, limit: int, *, accepted: bool, state: StreamState
    ) -> None:
        self.websocket = websocket
        self.validator = validator
        self.limit = limit
        self.accepted = accepted
        self.state = state
        self.sender, self.receiver = anyio.create_memory_object_stream[Any](_BUFFERED_MESSAGES)
        #: Whether the client has left (nothing more can be sent).
        self.gone = False

    async def read(self, left: Callable[[], None], refused: Callable[[tuple[int, str]], None]) -> None:
        count = 0
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                self.gone = True
                left()  # the generator is closed at once
                return
            count += 1
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            try:
                value = self._validate(count, data)
            except _Refused as refusal:
                refused(refusal.args)
                return
            await self.sender.send(value)

    def _validate(self, count: int, data: str | bytes) -> Any:
        if not self.accepted:
            raise _Refused(UNSUPPORTED_DATA, "This WebSocket only sends: it takes no messages.")
        if len(data) > self.limit:
            raise _Refused(TOO_BIG, f"message {count} is larger than max_line_size={self.limit} bytes")
        try:
            return self.validator.validate(data)
        except pydantic.ValidationError as exc:
            errors, _ = located_errors(exc, (), 1)
            where = ".".join(str(part) for part in errors[0]["loc"])
            raise _Refused(
                INVALID_DATA, close_reason(f"message {count}: {where + ': ' if where else ''}{errors[0]['msg']}")
            ) from None
        except ValueError as exc:
            raise _Refused(INVALID_DATA, close_reason(f"message {count} is not valid JSON: {exc}")) from None

    async def messages(self) -> AsyncIterator[T]:
        async for value in self.receiver:
            yield value


class _Refused(Exception):
    """An incoming message the stream does not take: ``args`` are the close code and reason."""

    args: tuple[int, str]
