"""A Durable Streams server for the protocol's conformance suite and its clients (tests/durable).

``DURABLE_BACKEND`` picks the backend: ``memory`` (the default) or ``redis`` (at ``REDIS_URL``). Reads wait one
second at most, so that the suite's long-poll and SSE tests end quickly.
"""

import os

from starlette.middleware.cors import CORSMiddleware

from linestream import LineStream
from linestream.durable import DurableBackend, DurableStreams, MemoryBackend, RedisBackend


def _backend() -> DurableBackend:
    if os.environ.get("DURABLE_BACKEND") == "redis":
        return RedisBackend(os.environ["REDIS_URL"], key_prefix=os.environ.get("REDIS_PREFIX", "linestream:durable:"))
    return MemoryBackend()


app = LineStream()
app.include_router(DurableStreams(_backend(), long_poll_timeout=1.0, sse_timeout=1.0), prefix="/v1/stream")
app.add_middleware(
    CORSMiddleware,
    allow_origins=["*"],
    allow_methods=["*"],
    allow_headers=["*"],
    expose_headers=list(DurableStreams.exposed_headers),
)
