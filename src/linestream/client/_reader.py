"""I/O-free decisions of the clients: when an SSE stream is followed again (``RetryPolicy``, ``Reconnection``).

The bytes of a response become items in ``StreamReader`` (``linestream._decoding``, shared by every reader);
shared by ``Client`` and ``AsyncClient``: both twins only move bytes and sleep.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from linestream._decoding import Event, StreamReader

__all__ = ["Event", "Reconnection", "RetryPolicy", "StreamReader"]


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how often the SSE client reconnects (sending ``Last-Event-ID``).

    It reconnects after a truncated stream or a connection error, and after a clean end if the server sent a
    ``retry`` field on that connection (its way to say "come back", as linestream servers do when they shut
    down). It waits the server's ``retry`` (milliseconds) if it gave one, else ``backoff`` seconds doubled on each
    consecutive failure up to ``max_backoff``; after ``max_attempts`` consecutive attempts that brought no
    event it gives up and raises the last error. ``RetryPolicy(max_attempts=0)`` never reconnects.
    """

    max_attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0


class Reconnection:
    """The reconnect decisions of one SSE ``events()`` call (I/O-free)."""

    def __init__(self, policy: RetryPolicy | None) -> None:
        self.policy = policy or RetryPolicy(max_attempts=0)
        self.failures = 0
        self.last_event_id: str | None = None

    def on_event(self, event: Event[Any]) -> None:
        self.failures = 0
        if event.id is not None:
            self.last_event_id = event.id

    def raise_unless_complete(self, reader: StreamReader | None, error: BaseException | None) -> None:
        """Once reconnecting stopped: raise ``error`` (the last attempt failed), or ``StreamTruncated`` if the server
        asked the client to come back (it shut down) and the policy allows no more attempts."""
        if error is not None:
            raise error
        if reader is not None and reader.reconnect_requested:
            raise reader.incomplete()

    def next_delay(self, reader: StreamReader | None, error: BaseException | None) -> float | None:
        """Seconds to wait before reconnecting, or ``None`` to stop (the caller raises ``error`` if any)."""
        if reader is not None and reader.last_event_id is not None:
            self.last_event_id = reader.last_event_id
        if reader is not None and reader.ended:
            return None  # the end record: the stream is complete, whatever else the server said
        server_retry = reader.retry if reader is not None else None
        if error is None and server_retry is None:
            return None  # a clean end the server did not ask to come back from
        self.failures += 1
        if self.failures > self.policy.max_attempts:
            return None
        if server_retry is not None:
            return server_retry / 1000
        return float(min(self.policy.backoff * 2 ** (self.failures - 1), self.policy.max_backoff))
