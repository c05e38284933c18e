"""Topic backends under test: the in-memory one, and Redis Streams on a real redis-server started here."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from linestream.topics import MemoryBackend, RedisBackend, TopicBackend


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[TopicBackend]:
    """Each backend, started; Redis keys get a prefix of their own so tests never see each other's topics."""
    made: TopicBackend
    if request.param == "memory":
        made = MemoryBackend()
    else:
        made = RedisBackend(request.getfixturevalue("redis_url"), key_prefix=f"test:{uuid.uuid4().hex}:")
    async with made:
        yield made
