"""The protocol's rules on a stream's state, shared by every backend: a stream's metadata as one record, and
the decisions an operation makes on it (does a ``PUT`` match, may this append go in, what does a fork
inherit). Pure: a backend loads the record, asks, and stores what it is told, atomically by its own means.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from linestream.durable._base import Appended, NewStream, StreamInfo
from linestream.durable._protocol import ZERO_OFFSET, Producer, ProtocolError, is_json, media_type

__all__ = [
    "AppendPlan",
    "StreamMeta",
    "check_append",
    "fork_meta",
    "new_meta",
    "record_append",
    "same_config",
    "sub_offset_prefix",
]

#: How long an idle producer's epoch and sequence are kept (the protocol recommends 7 days in memory).
PRODUCER_LIFETIME = 7 * 24 * 3600.0
#: A stream keeps the state of this many producers at most; past it, the longest idle is forgotten (it then
#: starts again as a new producer), so that clients naming new producers cannot grow a stream without bound.
MAX_PRODUCERS = 1024


@dataclasses.dataclass(slots=True)
class StreamMeta:
    """Everything about a stream but its data."""

    content_type: str
    config: NewStream
    start: str
    tail: str
    ttl: int | None
    expires_at: str | None
    expires_at_moment: float | None
    touched: float
    source: str | None = None
    closed: bool = False
    closed_by: Producer | None = None
    deleted: bool = False
    forks: int = 0
    size: int = 0
    last_seq: str | None = None
    #: producer id -> [epoch, last accepted seq, last update]
    producers: dict[str, list[float]] = dataclasses.field(default_factory=dict)

    @property
    def json(self) -> bool:
        return is_json(self.content_type)

    def info(self) -> StreamInfo:
        return StreamInfo(self.content_type, self.tail, self.closed, self.ttl, self.expires_at)

    def expired(self, now: float) -> bool:
        if self.expires_at_moment is not None and now >= self.expires_at_moment:
            return True
        return self.ttl is not None and now >= self.touched + self.ttl

    def expires(self) -> float | None:
        """When the stream expires if no one touches it again (``None``: never)."""
        moments = [] if self.expires_at_moment is None else [self.expires_at_moment]
        if self.ttl is not None:
            moments.append(self.touched + self.ttl)
        return min(moments, default=None)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> StreamMeta:
        closed_by = record.pop("closed_by")
        config = record.pop("config")
        return cls(
            **record,
            config=NewStream(**config),
            closed_by=None if closed_by is None else Producer(**closed_by),
        )


def new_meta(stream: NewStream, now: float) -> StreamMeta:
    content_type = stream.content_type or "application/octet-stream"
    return StreamMeta(
        content_type, stream, ZERO_OFFSET, ZERO_OFFSET, stream.ttl, stream.expires_at, stream.expires_at_moment,
        now, closed=stream.closed,
    )  # fmt: skip


def fork_meta(stream: NewStream, source: StreamMeta | None, now: float) -> StreamMeta:
    """A fork's record, from its source's (``None`` when there is no such stream)."""
    assert stream.forked_from is not None
    if source is None or (not source.deleted and source.expired(now)):
        raise ProtocolError(404, f"There is no stream at {stream.forked_from} to fork.")
    if source.deleted:
        raise ProtocolError(409, f"The stream at {stream.forked_from} was deleted: it cannot be forked.")
    if stream.content_type is not None and media_type(stream.content_type) != media_type(source.content_type):
        raise ProtocolError(
            409, f"The fork's Content-Type {stream.content_type} is not its source's ({source.content_type})."
        )
    offset = stream.fork_offset or source.tail
    if offset > source.tail:
        raise ProtocolError(400, f"Stream-Fork-Offset {offset} is past the source's tail ({source.tail}).")
    ttl, expires_at, moment = stream.ttl, stream.expires_at, stream.expires_at_moment
    if ttl is None and expires_at is None:
        ttl, expires_at, moment = source.ttl, source.expires_at, source.expires_at_moment
    return StreamMeta(
        source.content_type, stream, offset, offset, ttl, expires_at, moment, now, source=stream.forked_from,
        closed=stream.closed,
    )  # fmt: skip


def same_config(existing: NewStream, requested: NewStream) -> bool:
    """Whether a ``PUT`` on an existing stream asks for what it is (then it is answered 200, else 409)."""
    existing_type = media_type(existing.content_type) or "application/octet-stream"
    requested_type = media_type(requested.content_type) or "application/octet-stream"
    if existing.forked_from is not None and requested.content_type is None:
        requested_type = existing_type  # a fork's PUT may leave its (inherited) content type out
    return (
        existing_type == requested_type
        and (existing.ttl, existing.expires_at, existing.closed, existing.forked_from, existing.fork_sub_offset)
        == (requested.ttl, requested.expires_at, requested.closed, requested.forked_from, requested.fork_sub_offset)
        and (requested.fork_offset is None or requested.fork_offset == existing.fork_offset)
    )


def sub_offset_prefix(json_mode: bool, next_chunk: tuple[bytes, ...] | None, sub_offset: int) -> tuple[bytes, ...]:
    """What a fork at an offset + ``sub_offset`` inherits of the source's next chunk (``None``: the offset is
    the source's tail): its first messages (JSON mode) or bytes."""
    if next_chunk is None:
        raise ProtocolError(400, f"Stream-Fork-Sub-Offset {sub_offset} is past the source's tail.")
    if json_mode:
        if sub_offset > len(next_chunk):
            raise ProtocolError(
                400, f"Stream-Fork-Sub-Offset {sub_offset} is past the next append ({len(next_chunk)} messages)."
            )
        return next_chunk[:sub_offset]
    data = b"".join(next_chunk)
    if sub_offset > len(data):
        raise ProtocolError(400, f"Stream-Fork-Sub-Offset {sub_offset} is past the next append ({len(data)} bytes).")
    return (data[:sub_offset],)


@dataclasses.dataclass(frozen=True, slots=True)
class AppendPlan:
    """What to do with an append: answer ``done`` at once (a retry already applied, an idempotent close), or
    store it (then ``producer_state`` is the producer's state to keep)."""

    done: Appended | None = None
    producer_state: list[float] | None = None


def check_append(
    meta: StreamMeta,
    key: str,
    body: bool,
    *,
    content_type: str | None,
    seq: str | None,
    producer: Producer | None,
    now: float,
) -> AppendPlan:
    """The protocol's checks of an append (or close), in its order of precedence: closed, content type,
    producer (epoch, then sequence), ``Stream-Seq``."""
    if meta.closed:
        if producer is not None and producer == meta.closed_by:
            return AppendPlan(Appended(meta.tail, True, duplicate=True, producer_seq=producer.seq))
        if not body and producer is None:
            return AppendPlan(Appended(meta.tail, True))
        raise ProtocolError(
            409, f"The stream at {key} is closed: it takes no more appends.",
            {"Stream-Closed": "true", "Stream-Next-Offset": meta.tail},
        )  # fmt: skip
    if body and media_type(content_type) != media_type(meta.content_type):
        raise ProtocolError(409, f"Content-Type {content_type} does not match the stream's ({meta.content_type}).")
    state = None
    if producer is not None:
        state = _check_producer(meta, producer, now)
        if state is None:
            last = int(meta.producers[producer.id][1])
            return AppendPlan(Appended(meta.tail, meta.closed, duplicate=True, producer_seq=last))
    if seq is not None and meta.last_seq is not None and seq <= meta.last_seq:
        raise ProtocolError(409, f"Stream-Seq {seq!r} is not after the last one ({meta.last_seq!r}).")
    return AppendPlan(producer_state=state)


def record_append(
    meta: StreamMeta, *, close: bool, seq: str | None, producer: Producer | None, plan: AppendPlan, now: float
) -> Appended:
    """Update the record for an append that was stored (its data already counted in ``tail`` and ``size``)."""
    meta.touched = now
    if producer is not None and plan.producer_state is not None:
        meta.producers[producer.id] = plan.producer_state
        if len(meta.producers) > MAX_PRODUCERS:
            del meta.producers[min(meta.producers, key=lambda name: meta.producers[name][2])]
    if seq is not None:
        meta.last_seq = seq
    if close:
        meta.closed = True
        meta.closed_by = producer
    return Appended(meta.tail, meta.closed, producer_seq=None if producer is None else producer.seq)


def _check_producer(meta: StreamMeta, producer: Producer, now: float) -> list[float] | None:
    """The producer's state once this request is accepted, ``None`` for a retry of one already applied; a
    stale epoch, a new epoch not starting at 0 and a gap in the sequence are refused as the protocol says."""
    for name in [name for name, state in meta.producers.items() if now - state[2] > PRODUCER_LIFETIME]:
        del meta.producers[name]
    state = meta.producers.get(producer.id)
    if state is None or producer.epoch > state[0]:
        if producer.seq != 0:
            if state is None:
                raise ProtocolError(
                    409, f"Producer {producer.id} is new here: its first Producer-Seq must be 0.",
                    {"Producer-Expected-Seq": "0", "Producer-Received-Seq": str(producer.seq)},
                )  # fmt: skip
            raise ProtocolError(400, f"Producer-Epoch {producer.epoch} is new: its Producer-Seq must start at 0.")
        return [producer.epoch, 0, now]
    epoch, last_seq = int(state[0]), int(state[1])
    if producer.epoch < epoch:
        raise ProtocolError(
            403, f"Producer-Epoch {producer.epoch} is stale: producer {producer.id} is at epoch {epoch}.",
            {"Producer-Epoch": str(epoch)},
        )  # fmt: skip
    if producer.seq <= last_seq:
        return None
    if producer.seq > last_seq + 1:
        raise ProtocolError(
            409, f"Producer-Seq {producer.seq} skips ahead: producer {producer.id} expected {last_seq + 1}.",
            {"Producer-Expected-Seq": str(last_seq + 1), "Producer-Received-Seq": str(producer.seq)},
        )  # fmt: skip
    return [producer.epoch, producer.seq, now]
