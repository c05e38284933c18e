"""Stream limits shared by workers through Redis (tests/test_shared_limits.py): ``REDIS_URL``, ``LIMITS_PREFIX``
and ``LIMITS_LEASE`` (seconds) from the environment; 3 streams at most in all, 2 per client (``X-Client``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Annotated

import anyio

from linestream import Header, LineStream
from linestream.limits import RedisStreamLimits


def client_key(x_client: Annotated[str, Header()] = "anonymous") -> str:
    return x_client


app = LineStream(
    max_streams=3,
    max_streams_per_client=2,
    stream_client_key=client_key,
    shared_stream_limits=RedisStreamLimits(
        os.environ["REDIS_URL"], lease=float(os.environ.get("LIMITS_LEASE", "1")), prefix=os.environ["LIMITS_PREFIX"]
    ),
)


@app.get("/hold")
async def hold() -> AsyncIterator[dict[str, str]]:
    yield {"state": "holding"}
    await anyio.sleep(60)
