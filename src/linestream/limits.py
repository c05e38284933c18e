"""Stream limits that hold across workers and hosts: ``max_streams`` and ``max_streams_per_client`` counted in
Redis (``LineStream(shared_stream_limits=RedisStreamLimits(url))``), not per process.

```python
app = LineStream(
    max_streams=10_000,
    max_streams_per_client=5,
    shared_stream_limits=RedisStreamLimits("redis://127.0.0.1:6379/0"),
)
```

Each slot is a member of a sorted set in Redis (one for all streams, one per client), scored by the moment its
lease ends; a slot is taken by one Lua script (drop the expired, count, add) so two workers never both take the
last one. The worker that holds a slot renews its lease every ``lease / 3`` seconds; the slots of a worker
that dies (SIGKILL, a lost host) come back within ``lease`` seconds (10 by default). Redis's own clock decides
expiry, so the hosts' clocks need not agree. The answers stay those of one worker: 503 with ``Retry-After``
when every worker's streams are ``max_streams``, 429 when the client's are ``max_streams_per_client``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any

import anyio
import anyio.abc

from linestream._redis_client import redis_client
from linestream._shared_limits import LimitReached, SharedStreamLimits

__all__ = ["LimitReached", "RedisStreamLimits", "SharedStreamLimits"]

logger = logging.getLogger("linestream")

# KEYS: the set of all slots, the client's (or the same key again: not counted per client).
# ARGV: the slot's member, its lease in ms, max_streams (-1: none), max_streams_per_client (-1: none).
_TAKE = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local until_ms = ms + tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
local all = redis.call('ZCARD', KEYS[1])
if tonumber(ARGV[3]) >= 0 and all >= tonumber(ARGV[3]) then return {1, all} end
if KEYS[2] ~= KEYS[1] then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ms)
  local held = redis.call('ZCARD', KEYS[2])
  if tonumber(ARGV[4]) >= 0 and held >= tonumber(ARGV[4]) then return {2, held} end
  redis.call('ZADD', KEYS[2], until_ms, ARGV[1])
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) * 2)
end
redis.call('ZADD', KEYS[1], until_ms, ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return {0, all + 1}
"""
# KEYS: pairs of (set, member) flattened as sets; ARGV: the lease in ms, then the members, one per key.
_RENEW = """
local now = redis.call('TIME')
local until_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ARGV[1])
for index, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', until_ms, ARGV[index + 1])
  redis.call('PEXPIRE', key, tonumber(ARGV[1]) * 2)
end
return #KEYS
"""


class RedisStreamLimits(SharedStreamLimits):
    """Stream limits counted in the Redis at ``url`` by every worker that shares it (see the module docstring).
    ``prefix`` names its keys (apps that share a Redis but not their limits use different ones)."""

    def __init__(self, url: str, *, lease: float = 10.0, prefix: str = "linestream:streams") -> None:
        if lease <= 0:
            raise ValueError(f"RedisStreamLimits: lease must be a positive number of seconds, not {lease!r}")
        self.url = url
        self.lease = lease
        self.prefix = prefix
        self._redis: Any = None
        self._take: Any = None
        self._renew: Any = None
        #: The slots this worker holds: token -> the sets its member is in.
        self._held: dict[str, tuple[str, ...]] = {}
        self._worker = secrets.token_hex(8)
        self._renewals: anyio.abc.TaskGroup | None = None

    def _client_key(self, client: str) -> str:
        return f"{self.prefix}:client:{hashlib.sha256(client.encode()).hexdigest()[:32]}"

    async def __aenter__(self) -> RedisStreamLimits:
        self._redis = redis_client(self.url, socket_timeout=10.0, backend="RedisStreamLimits")
        self._take = self._redis.register_script(_TAKE)
        self._renew = self._redis.register_script(_RENEW)
        await self._redis.ping()  # the app does not start without its limits
        self._renewals = anyio.create_task_group()
        await self._renewals.__aenter__()
        self._renewals.start_soon(self._renew_forever)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._renewals is not None:
            self._renewals.cancel_scope.cancel()
            await self._renewals.__aexit__(None, None, None)
            self._renewals = None
        if self._held:
            with anyio.CancelScope(shield=True):
                for token in list(self._held):
                    await self.release(token)
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def take(self, client: str | None, max_streams: int | None, max_per_client: int | None) -> Any:
        if self._redis is None:
            raise RuntimeError("RedisStreamLimits is used outside the app's lifespan (serve the app with uvicorn)")
        token = f"{self._worker}:{secrets.token_hex(8)}"
        everyone = f"{self.prefix}:all"
        sets = (everyone,) if client is None or max_per_client is None else (everyone, self._client_key(client))
        refused, held = await self._take(
            keys=[everyone, sets[-1]],
            args=[token, int(self.lease * 1000), -1 if max_streams is None else max_streams,
                  -1 if max_per_client is None else max_per_client],
        )  # fmt: skip
        if refused:
            raise LimitReached("streams" if refused == 1 else "client", int(held))
        self._held[token] = sets
        return token

    async def release(self, token: Any) -> None:
        sets = self._held.pop(token, None)
        if sets is None or self._redis is None:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in sets:
                pipe.zrem(key, token)
            await pipe.execute()

    async def _renew_forever(self) -> None:
        while True:
            await anyio.sleep(self.lease / 3)
            held = list(self._held.items())
            if not held:
                continue
            keys = [key for _, sets in held for key in sets]
            members = [token for token, sets in held for _ in sets]
            try:
                await self._renew(keys=keys, args=[int(self.lease * 1000), *members])
            except Exception as exc:  # noqa: BLE001 - Redis away: retried at the next renewal, before the lease ends
                logger.warning("RedisStreamLimits could not renew the leases of %d stream(s): %r", len(held), exc)
