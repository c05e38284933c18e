"""What a durable stream backend is: the operations of the protocol on one stream, each atomic, and what they
return. ``DurableStreams`` (the router) parses and answers HTTP; a backend stores streams and decides every
rule that needs a stream's state (configuration matching, producer fencing, closure, forks, expiry).
"""

from __future__ import annotations

import abc
import dataclasses

from linestream.durable._protocol import Producer

__all__ = ["Appended", "DurableBackend", "NewStream", "ReadResult", "StreamInfo"]


@dataclasses.dataclass(frozen=True, slots=True)
class NewStream:
    """A ``PUT``'s configuration. ``content_type`` is ``None`` only for a fork that inherits its source's;
    ``expires_at`` keeps the client's text (a ``HEAD`` gives it back) beside its moment."""

    content_type: str | None
    ttl: int | None = None
    expires_at: str | None = None
    expires_at_moment: float | None = None
    closed: bool = False
    forked_from: str | None = None
    fork_offset: str | None = None
    fork_sub_offset: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class StreamInfo:
    """A stream's metadata: what ``HEAD`` answers."""

    content_type: str
    tail: str
    closed: bool
    ttl: int | None = None
    expires_at: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Appended:
    """The outcome of an append or a close: the stream's tail after it, whether it is closed, whether the
    request repeated one already applied (an idempotent producer's retry), and the producer's highest accepted
    sequence number."""

    tail: str
    closed: bool
    duplicate: bool = False
    producer_seq: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ReadResult:
    """The data after an offset: ``pieces`` are the chunks' bytes (in JSON mode, one compact JSON message
    each), ``next_offset`` is where the next read starts, ``up_to_date`` says nothing more was stored then.
    ``chunks`` says where each chunk ends and how many of the pieces are its own, in order."""

    info: StreamInfo
    pieces: list[bytes]
    next_offset: str
    up_to_date: bool
    chunks: list[tuple[str, int]] = dataclasses.field(default_factory=list)

    @property
    def closed_at_end(self) -> bool:
        """Whether this read reaches the end of a closed stream: no data will ever follow."""
        return self.info.closed and self.up_to_date and self.next_offset == self.info.tail


class DurableBackend(abc.ABC):
    """Where durable streams live. Keys are stream paths; each method is atomic for its stream and raises
    ``ProtocolError`` (404 unknown or expired, 410 deleted while forks still read it, 409 conflicts, ...)."""

    @abc.abstractmethod
    async def create(self, key: str, stream: NewStream, body: bytes) -> tuple[StreamInfo, bool]:
        """Create the stream with ``body`` as its first data, or confirm that it exists with this
        configuration; the bool says whether it was created."""

    @abc.abstractmethod
    async def append(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str | None,
        close: bool = False,
        seq: str | None = None,
        producer: Producer | None = None,
    ) -> Appended:
        """Append ``body`` (empty with ``close``: only close), checked against the stream's content type, its
        ``Stream-Seq`` and the producer's epoch and sequence."""

    @abc.abstractmethod
    async def head(self, key: str) -> StreamInfo:
        """The stream's metadata; reading it does not extend a TTL."""

    @abc.abstractmethod
    async def read(self, key: str, offset: str | None, max_bytes: int) -> ReadResult:
        """The data after ``offset`` (``None``: from the start), at least one chunk and about ``max_bytes``."""

    @abc.abstractmethod
    async def wait(self, key: str, offset: str, max_wait: float) -> None:
        """Return once the stream holds data after ``offset``, is closed or deleted, or ``max_wait`` seconds
        passed."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Delete the stream (kept for its forks' reads, and answered 410, while forks remain)."""
