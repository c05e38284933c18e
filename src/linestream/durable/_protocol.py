"""The Durable Streams protocol's vocabulary, without I/O: header names, offsets, the parsing of every header a
client sends, JSON mode's messages, cursors and entity tags.

Everything a request carries is checked here before a backend sees it; a value that breaks the protocol raises
``ProtocolError`` with the status the protocol names and a detail that says which header and what is accepted.
"""

from __future__ import annotations

import base64
import dataclasses
import math
import random
import re
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pydantic_core

__all__ = [
    "START",
    "ZERO_OFFSET",
    "Producer",
    "ProtocolError",
    "advance",
    "cursor_after",
    "entity_tag",
    "is_json",
    "is_text",
    "is_true",
    "json_messages",
    "media_type",
    "parse_expires_at",
    "parse_offset",
    "parse_producer",
    "parse_sub_offset",
    "parse_ttl",
]

#: The offset before the first byte, as the protocol's clients may send it.
START = "-1"
#: The tail of an empty stream: ``<chunk count>_<byte count>``, each zero-padded to 16 digits so that the
#: protocol's lexicographic order is the order of positions.
ZERO_OFFSET = "0000000000000000_0000000000000000"
_OFFSET = re.compile(r"\d{16}_\d{16}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_MAX_SAFE_INTEGER = 2**53 - 1
_MEDIA_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+")

#: Cursors count intervals of this many seconds from this moment (the protocol's defaults), so that every
#: server of a deployment mints the same cursor in the same interval.
_CURSOR_INTERVAL = 20
_CURSOR_EPOCH = 1728432000  # 2024-10-09T00:00:00Z


class ProtocolError(Exception):
    """A request the protocol refuses: its status, a detail for the problem body, and the headers the protocol
    asks for on that answer (``Stream-Closed`` on an append to a closed stream, ``Producer-Epoch`` on a fenced
    producer...)."""

    def __init__(
        self, status: int, detail: str, headers: Mapping[str, str] | None = None, errors: list[Any] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})
        #: For a 422: where each item fails its type (Pydantic's errors, located in the body).
        self.errors = errors


def advance(offset: str, size: int) -> str:
    """The offset after one more chunk of ``size`` bytes at ``offset``."""
    chunks, position = offset.split("_")
    return f"{int(chunks) + 1:016d}_{int(position) + size:016d}"


def parse_offset(value: str, header: str = "offset") -> str:
    """An offset this server minted, checked for shape only (offsets are compared as strings)."""
    if _OFFSET.fullmatch(value) is None:
        raise ProtocolError(
            400, f"{header} {value[:80]!r} is not an offset of this server: use -1, now, or a Stream-Next-Offset."
        )
    return value


def is_true(value: str | None) -> bool:
    """The protocol's boolean headers are present only when their value is ``true``, in any case."""
    return value is not None and value.lower() == "true"


def media_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` value, lowercased, without parameters; empty when there is none
    or it is not a media type."""
    if not content_type:
        return ""
    essence = content_type.split(";", 1)[0].strip().lower()
    return essence if _MEDIA_TYPE.fullmatch(essence) else ""


def is_json(content_type: str) -> bool:
    return media_type(content_type) == "application/json"


def is_text(content_type: str) -> bool:
    """Whether SSE carries this stream's bytes as text (``text/*`` and JSON) rather than base64."""
    essence = media_type(content_type)
    return essence.startswith("text/") or essence == "application/json"


def parse_ttl(value: str) -> int:
    if _DECIMAL.fullmatch(value) is None:
        raise ProtocolError(
            400,
            f"Stream-TTL {value[:40]!r} is not a number of seconds: a non-negative integer without sign, "
            "leading zeros or decimals.",
        )
    return int(value)


def parse_expires_at(value: str) -> float:
    """An RFC 3339 timestamp, as seconds since the epoch."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ProtocolError(
            400,
            f"Stream-Expires-At {value[:60]!r} is not an RFC 3339 timestamp with a time zone "
            "(e.g. 2030-01-01T00:00:00Z).",
        )
    return moment.timestamp()


def parse_sub_offset(value: str) -> int:
    if _DECIMAL.fullmatch(value) is None:
        raise ProtocolError(400, f"Stream-Fork-Sub-Offset {value[:40]!r} is not a non-negative integer.")
    return int(value)


@dataclasses.dataclass(frozen=True, slots=True)
class Producer:
    """An idempotent producer's headers: who, its epoch, and the sequence number of this request."""

    id: str
    epoch: int
    seq: int


def parse_producer(headers: Mapping[str, str]) -> Producer | None:
    """``Producer-Id``, ``Producer-Epoch`` and ``Producer-Seq``: all three, or none."""
    values = [headers.get(name) for name in ("producer-id", "producer-epoch", "producer-seq")]
    if all(value is None for value in values):
        return None
    producer_id, epoch, seq = values
    if producer_id is None or epoch is None or seq is None:
        raise ProtocolError(400, "Producer-Id, Producer-Epoch and Producer-Seq go together: send all three or none.")
    if not producer_id:
        raise ProtocolError(400, "Producer-Id is empty: name the producer (e.g. a UUID).")
    return Producer(producer_id, _producer_number("Producer-Epoch", epoch), _producer_number("Producer-Seq", seq))


def _producer_number(header: str, value: str) -> int:
    if not value.isdigit() or not value.isascii() or int(value) > _MAX_SAFE_INTEGER:
        raise ProtocolError(400, f"{header} {value[:40]!r} is not an integer between 0 and 2^53-1.")
    return int(value)


def json_messages(body: bytes, *, creating: bool) -> list[bytes]:
    """The messages of a JSON-mode body: the elements of a top-level array (one level is flattened), else the
    one value; each re-serialized compactly. An empty array is no messages when creating a stream and an error
    when appending."""
    try:
        value = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        raise ProtocolError(400, f"The body is not valid JSON: {exc}.") from None
    if isinstance(value, list):
        if not value and not creating:
            raise ProtocolError(400, "The body is an empty JSON array: an append needs at least one message.")
        return [pydantic_core.to_json(element) for element in value]
    return [pydantic_core.to_json(value)]


def cursor_after(client_cursor: str | None) -> str:
    """The ``Stream-Cursor`` of a live answer: the current interval, or (when the client already holds that
    interval or a later one) a cursor past the client's by a random jitter, so that cursors never repeat and a
    cache keyed by them cannot loop."""
    current = math.floor((time.time() - _CURSOR_EPOCH) / _CURSOR_INTERVAL)
    if client_cursor is None or not client_cursor.isdigit() or int(client_cursor) < current:
        return str(current)
    jitter = random.randint(1, 3600)  # a cache key's spread, not a secret
    return str(int(client_cursor) + max(1, math.ceil(jitter / _CURSOR_INTERVAL)))


def entity_tag(key: str, start: str, end: str, *, closed: bool) -> str:
    """The ETag of the bytes between two offsets of a stream; it changes when the stream closes, so that a
    ``304`` never hides the end."""
    name = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
    return f'"{name}:{start}:{end}{":c" if closed else ""}"'
