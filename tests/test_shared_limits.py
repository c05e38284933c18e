"""``max_streams`` and ``max_streams_per_client`` counted in Redis (``RedisStreamLimits``) hold across two
uvicorn workers, and the slots of a worker killed with SIGKILL come back within their lease."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import anyio
import httpx
import pytest

from linestream import LineStream
from linestream.limits import RedisStreamLimits
from tests.conftest import ServerProcess, serve_process, wait_for

APP = "tests.apps.limits_app:app"


@pytest.fixture
def workers(redis_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    env = {"REDIS_URL": redis_url, "LIMITS_PREFIX": f"limits-{secrets.token_hex(4)}", "LIMITS_LEASE": "1"}
    with serve_process(APP, env=env) as first, serve_process(APP, env=env) as second:
        yield first, second


@contextlib.contextmanager
def holding(stack: contextlib.ExitStack, server: ServerProcess, client: str) -> Iterator[httpx.Response]:
    """A stream held open (its first item read) until the block ends."""
    http = stack.enter_context(httpx.Client(timeout=10))
    response = stack.enter_context(http.stream("GET", f"{server.url}/hold", headers={"x-client": client}))
    if response.status_code == 200:
        lines = response.iter_lines()
        next(lines)
        stack.callback(lines.close)  # (an iterator let go of closes the connection: held until the stack ends)
    yield response


def open_stream(stack: contextlib.ExitStack, server: ServerProcess, client: str) -> int:
    with holding(stack, server, client) as response:
        return response.status_code


def test_the_limits_hold_across_workers(workers: tuple[ServerProcess, ServerProcess]) -> None:
    first, second = workers
    with contextlib.ExitStack() as stack:
        assert open_stream(stack, first, "a") == 200
        assert open_stream(stack, second, "a") == 200
        with contextlib.ExitStack() as refused:
            response = stack.enter_context(httpx.Client()).get(f"{first.url}/hold", headers={"x-client": "a"})
            assert response.status_code == 429  # the client's two streams are on two workers
            assert "max_streams_per_client" in response.json()["detail"]
            refused.close()
        assert open_stream(stack, second, "b") == 200
        full = httpx.get(f"{first.url}/hold", headers={"x-client": "c"}, timeout=10)
        assert full.status_code == 503  # three streams in all, on two workers
        assert full.headers["retry-after"] == "1"
        assert "every worker" in full.json()["detail"].lower()
    # Once the streams ended, their slots are free again.
    with contextlib.ExitStack() as stack:
        assert [open_stream(stack, worker, "c") for worker in workers] == [200, 200]


def test_a_killed_workers_slots_come_back_within_its_lease(workers: tuple[ServerProcess, ServerProcess]) -> None:
    first, second = workers
    with contextlib.ExitStack() as stack:
        for client in ("a", "b", "c"):
            assert open_stream(stack, first, client) == 200
        first.process.kill()  # SIGKILL: its slots are not given back, only their leases end
        first.process.wait(10)
        assert httpx.get(f"{second.url}/hold", headers={"x-client": "d"}, timeout=10).status_code == 503

        def a_slot_is_free() -> bool:
            with contextlib.ExitStack() as attempt:
                return open_stream(attempt, second, "d") == 200

        waited = wait_for(a_slot_is_free, timeout=10)
    assert waited < 10


def test_limits_outside_the_lifespan_say_how_to_serve_them(redis_url: str) -> None:
    app = LineStream(max_streams=1, shared_stream_limits=RedisStreamLimits(redis_url))
    with pytest.raises(RuntimeError, match="outside the app's lifespan"):
        anyio.run(app.runtime.stream_slots.take_shared, "x")


def test_a_lease_is_positive(redis_url: str) -> None:
    with pytest.raises(ValueError, match="lease must be a positive number"):
        RedisStreamLimits(redis_url, lease=0)
