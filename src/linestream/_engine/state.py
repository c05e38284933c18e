"""The lifecycle of one stream, as an explicit state machine (the way h11 writes HTTP/1.1's down).

A stream is in one ``Phase`` at a time:

```python
BEFORE_START --start()--> STREAMING --end(reason)--> ENDING --ended()--> ENDED
     \\________________________end(reason)__________/
```

Before the start, nothing was sent: an error is still a real HTTP status. Once the response head went out, items
flow. The first cause to end the stream (an ``EndReason``) moves it to ``ENDING``; a later cause replaces it only
if it takes precedence (a client that is gone cannot be sent anything, whatever else happened). Once the
generator is closed, ``ENDINGS`` says what the client sees: one table from (reason, started, what the plan can
frame) to the ``Ending`` (the frame sent last, whether the response ends cleanly, is left incomplete or is
aborted, what is raised and what is logged). The stream, its item sources, its outbox and its receive watcher
consult one ``StreamState`` instead of keeping flags of their own.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import logging

__all__ = ["ENDINGS", "EndReason", "Ending", "Phase", "StreamState", "ending_for", "outcome"]


class Phase(enum.Enum):
    BEFORE_START = "before start"
    STREAMING = "streaming"
    ENDING = "ending"
    ENDED = "ended"


class EndReason(enum.Enum):
    """Why a stream ends, in increasing precedence: a later cause replaces an earlier one only if it ranks
    higher (``rank``). Nothing can be sent to a client that left or stopped reading, whatever else happened; a
    shutdown or an expiry stops a generator, which may fail as it is closed."""

    COMPLETE = "complete"
    FAILED = "failed"
    EXPIRED = "credentials expired"
    LIFETIME = "max stream duration"
    SHUTDOWN = "shutdown"
    CLIENT_GONE = "client disconnected"
    SEND_TIMEOUT = "send timeout"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {reason: rank for rank, reason in enumerate(EndReason)}


class Frame(enum.Enum):
    """The frame an ending sends before the end of the response, if the plan has it."""

    END = "end record"
    ERROR = "error record"
    SHUTDOWN = "shutdown frame"


class Raise(enum.Enum):
    """What an ending raises (to the exception handlers before the start, to the server after it)."""

    ERROR = "the error itself"
    UNAVAILABLE = "503: the server is shutting down"
    EXPIRED = "401: the credentials expired"
    ABORTED = "StreamAborted: the response is aborted, the client sees a truncated stream"


@dataclasses.dataclass(frozen=True, slots=True)
class Ending:
    """What the client sees at the end of a stream. ``frame``: sent last (``None``: none); ``finish``: the final
    empty body is sent, a clean end (else the response is left incomplete, which the server ends by closing the
    connection: the client sees a truncated stream); ``raises``: what is raised; ``log``: the level and message
    logged (``%(label)s`` and ``%(count)d`` are the route and the items sent)."""

    frame: Frame | None = None
    finish: bool = False
    raises: Raise | None = None
    log: tuple[int, str] | None = None


_NOTHING = Ending()
_ENDED = Ending(frame=Frame.END, finish=True)
_ERROR_RECORD = Ending(
    frame=Frame.ERROR,
    finish=True,
    log=(logging.ERROR, "Stream %(label)s failed after %(count)d item(s); ending it with an error record."),
)
_ABORTED = Ending(
    raises=Raise.ABORTED, log=(logging.ERROR, "Stream %(label)s aborted after %(count)d item(s): %(error)r")
)
_COME_BACK = Ending(frame=Frame.SHUTDOWN, finish=True)
_TIMED_OUT = Ending(
    log=(
        logging.WARNING,
        "Stream %(label)s closed: the client stopped reading (a send blocked for %(timeout)s s, send_timeout) "
        "after %(count)d item(s).",
    )
)


def _ended_from_outside(
    reason: EndReason, before_start: Raise, why: str
) -> tuple[tuple[EndReason, bool | None, bool | None, bool | None, Ending], ...]:
    """The rules of a stream ended on a deadline (its credentials, its lifetime): ``before_start`` raised before
    the start; after it, "come back" where the format can say it (SSE), else its error record, else aborted."""
    log = (logging.INFO, f"Stream %(label)s ended after %(count)d item(s): {why}.")
    aborted = Ending(raises=Raise.ABORTED, log=log)
    return (
        (reason, False, None, None, Ending(raises=before_start)),
        (reason, True, True, None, _COME_BACK),
        (reason, True, False, True, Ending(frame=Frame.ERROR, finish=True)),
        (reason, True, False, False, aborted),
    )


#: The rules the table is made of: (reason, started, resumable, records) -> ending, ``None`` matching any value.
#: ``resumable``: the plan has a shutdown frame (SSE asks the client to come back); ``records``: it has an error
#: record (``stream_errors="record"``). Rules are tried in order; the first that matches gives the cell.
_RULES: tuple[tuple[EndReason, bool | None, bool | None, bool | None, Ending], ...] = (
    (EndReason.COMPLETE, None, None, None, _ENDED),
    (EndReason.FAILED, False, None, None, Ending(raises=Raise.ERROR)),
    (EndReason.FAILED, True, None, True, _ERROR_RECORD),
    (EndReason.FAILED, True, None, False, _ABORTED),
    (EndReason.CLIENT_GONE, None, None, None, _NOTHING),
    (EndReason.SEND_TIMEOUT, None, None, None, _TIMED_OUT),
    (EndReason.SHUTDOWN, False, None, None, Ending(raises=Raise.UNAVAILABLE)),
    (EndReason.SHUTDOWN, True, True, None, _COME_BACK),
    (EndReason.SHUTDOWN, True, False, None, _NOTHING),
    *_ended_from_outside(EndReason.LIFETIME, Raise.UNAVAILABLE, "it reached max_stream_duration"),
    *_ended_from_outside(EndReason.EXPIRED, Raise.EXPIRED, "its credentials expired"),
)


def _build() -> dict[tuple[EndReason, bool, bool, bool], Ending]:
    table: dict[tuple[EndReason, bool, bool, bool], Ending] = {}
    flags = (False, True)
    for reason, started, resumable, records in itertools.product(EndReason, flags, flags, flags):
        table[(reason, started, resumable, records)] = next(
            ending
            for rule_reason, *conditions, ending in _RULES
            if rule_reason is reason
            and all(c is None or c is v for c, v in zip(conditions, (started, resumable, records), strict=True))
        )
    return table


#: Every cell: (reason, started, resumable, records) -> ``Ending``.
ENDINGS = _build()


def ending_for(reason: EndReason, started: bool, *, resumable: bool, records: bool) -> Ending:
    """The cell of ``ENDINGS`` for a stream that ends for ``reason``."""
    return ENDINGS[(reason, started, resumable, records)]


_OUTCOMES = {
    EndReason.COMPLETE: "complete",
    EndReason.CLIENT_GONE: "disconnected",
    EndReason.SHUTDOWN: "shutdown",
    EndReason.EXPIRED: "expired",
    EndReason.LIFETIME: "lifetime",
    EndReason.SEND_TIMEOUT: "send timeout",
}


def outcome(state: StreamState) -> str:
    """How a stream ended, in the words of its telemetry (``linestream.telemetry.OUTCOMES``)."""
    if state.reason is EndReason.FAILED:
        return "truncated" if state.started else "error before start"
    return _OUTCOMES.get(state.reason, "shutdown") if state.reason is not None else "shutdown"


class StreamState:
    """The phase of one stream and why it ends, shared by the parts that serve it (see the module docstring).
    ``started``: the response head was sent (it stays true once the stream is ending)."""

    __slots__ = ("phase", "reason", "started")

    def __init__(self) -> None:
        self.phase = Phase.BEFORE_START
        self.reason: EndReason | None = None
        self.started = False

    def start(self) -> None:
        """The response head is being sent: ``BEFORE_START`` -> ``STREAMING``."""
        assert self.phase is Phase.BEFORE_START, f"a stream starts once, not in the phase {self.phase}"
        self.phase = Phase.STREAMING
        self.started = True

    def end(self, reason: EndReason) -> bool:
        """A cause to end the stream (-> ``ENDING``): it becomes the reason if it is the first, or ranks higher
        than the one known; ``True`` then (the caller stops the stream)."""
        current = self.reason
        if self.phase is not Phase.ENDED:
            self.phase = Phase.ENDING
        if current is None or reason.rank > current.rank:
            self.reason = reason
            return True
        return False

    @property
    def ending(self) -> bool:
        """Whether a cause to end the stream is known (``ENDING`` or ``ENDED``)."""
        return self.reason is not None

    @property
    def client_gone(self) -> bool:
        """Whether nothing more can reach the client (it disconnected, or stopped reading)."""
        return self.reason is EndReason.CLIENT_GONE or self.reason is EndReason.SEND_TIMEOUT

    def ending_with(self, *, resumable: bool, records: bool) -> Ending:
        """The ending of this stream (its reason must be known), for a plan that can or cannot frame these."""
        assert self.reason is not None, "a stream's ending is asked for once it is ending"
        return ending_for(self.reason, self.started, resumable=resumable, records=records)

    def ended(self) -> None:
        """The ending is done: ``ENDING`` -> ``ENDED``."""
        self.phase = Phase.ENDED
