"""The Redis client the Redis backends use (topics, durable streams): a leaf that imports ``redis`` only when a
Redis backend is made, and connects the same way for both (retries with exponential backoff on connection
errors and timeouts)."""

from __future__ import annotations

from typing import Any

__all__ = ["import_redis", "redis_client"]


def import_redis(backend: str) -> Any:
    """The ``redis`` package, or an ImportError that says how to install it for ``backend``."""
    try:
        import redis.asyncio
        import redis.asyncio.retry
        import redis.backoff
        import redis.exceptions
    except ImportError as exc:  # pragma: no cover - the test environment has redis
        raise ImportError(
            f"{backend} needs the `redis` package: pip install 'linestream[redis]' (or pip install redis)."
        ) from exc
    return redis


def redis_client(url: str, *, socket_timeout: float, backend: str) -> Any:
    """A ``redis.asyncio.Redis`` for ``url``: commands retried (5 times, backing off from 50 ms to 1 s) on
    connection errors and timeouts; ``socket_timeout`` must exceed the longest blocking command."""
    redis = import_redis(backend)
    return redis.asyncio.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=5.0,
        retry=redis.asyncio.retry.Retry(redis.backoff.ExponentialBackoff(cap=1.0, base=0.05), 5),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )
