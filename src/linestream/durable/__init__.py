"""Durable streams: streams that outlive their connection, on the open Durable Streams protocol.

``DurableStreams`` is the protocol's server as a router an app includes at a prefix; a backend stores the
streams: ``MemoryBackend`` (the default, one process) or ``RedisBackend`` (every worker and host that
shares a Redis). See docs/durable-streams.md.
"""

from linestream._durable_log import current_job
from linestream.durable._base import Appended, DurableBackend, NewStream, ReadResult, StreamInfo
from linestream.durable._memory import MemoryBackend
from linestream.durable._protocol import Producer, ProtocolError
from linestream.durable._redis import RedisBackend
from linestream.durable._router import DurableStreams

__all__ = [
    "Appended",
    "DurableBackend",
    "DurableStreams",
    "MemoryBackend",
    "NewStream",
    "Producer",
    "ProtocolError",
    "ReadResult",
    "RedisBackend",
    "StreamInfo",
    "current_job",
]
