"""Fan-out benchmark: linestream topics vs Litestar's channels plugin, in-memory and Redis, in one run.

One publisher, 1 / 100 / 1000 subscribers in one process, the same Pydantic item for both:
- throughput: the publisher publishes M messages as fast as it can (letting the loop run every 50); the rate is
  deliveries (M x subscribers) per second until every subscriber received all M;
- latency: messages published every 2 ms carry their publish time; each subscriber decodes each message and
  records publish-to-delivery time (p50/p99 over all deliveries);
- memory: traced Python allocations per idle, started subscriber (1000 of them).

Run by ``bench/run`` after bench.py (``--smoke``: tiny sizes). A redis-server (Debian package) is started on a
free loopback port for the Redis rows and stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import redis
import redis.asyncio
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsStreamBackend
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from linestream.topics import MemoryBackend, RedisBackend, Topic  # noqa: E402

RESULTS = ROOT / "bench" / "results"


class Tick(BaseModel):
    sent_ns: int
    name: str
    price: float
    tags: list[str]


def tick(sent_ns: int = 0) -> Tick:
    return Tick(sent_ns=sent_ns, name="item 7", price=9.59, tags=["tag0", "tag1"])


# -- the two APIs behind one shape: (publish(item), subscribe(ready) -> async iterator of bytes) ------------------
@contextlib.asynccontextmanager
async def linestream_side(redis_url: str | None) -> AsyncIterator[Any]:
    backend = MemoryBackend() if redis_url is None else RedisBackend(redis_url, key_prefix=f"bench:{uuid.uuid4().hex}:")
    async with backend:
        topic = Topic("ticks", Tick, backend=backend, retention=10_000, max_pending=100_000)

        async def publish(item: Tick) -> None:
            await topic.publish(item)

        async def subscribe(ready: anyio.Event) -> AsyncIterator[bytes]:
            subscription = topic.subscribe(await _last_id(topic))
            ready.set()
            async for message in subscription:
                yield message.data

        yield publish, subscribe


async def _last_id(topic: Topic[Tick]) -> str:
    key = await topic.backend.last_key(topic.name)
    return f"{key[0]}-{key[1]}"


@contextlib.asynccontextmanager
async def litestar_side(redis_url: str | None) -> AsyncIterator[Any]:
    if redis_url is None:
        backend: Any = MemoryChannelsBackend(history=10_000)
    else:
        client = redis.asyncio.Redis.from_url(redis_url)
        backend = RedisChannelsStreamBackend(history=10_000, redis=client, key_prefix=f"bench:{uuid.uuid4().hex}")
    # What a Litestar user writes to publish Pydantic models through channels (encoded by msgspec).
    plugin = ChannelsPlugin(
        backend=backend, channels=["ticks"], type_encoders={BaseModel: lambda model: model.model_dump(mode="json")}
    )
    await plugin.__aenter__()

    async def publish(item: Tick) -> None:
        await plugin.wait_published(item, "ticks")

    async def subscribe(ready: anyio.Event) -> AsyncIterator[bytes]:
        subscriber = await plugin.subscribe("ticks")
        ready.set()
        try:
            async for payload in subscriber.iter_events():
                yield payload
        finally:
            await plugin.unsubscribe(subscriber)

    try:
        yield publish, subscribe
    finally:
        # With the Redis streams backend, the plugin's shutdown waits forever for its reader task, which stays
        # "cancelling" in stream_events() (Litestar 2.25 with redis-py 8); it waits idle, so stop waiting.
        with anyio.move_on_after(2):
            await plugin.__aexit__(None, None, None)


SIDES = {"linestream": linestream_side, "litestar": litestar_side}


# -- workloads -------------------------------------------------------------------------------------------------
async def start_subscribers(
    tg: anyio.abc.TaskGroup, count: int, consume: Callable[[anyio.Event], Awaitable[None]]
) -> None:
    """Start ``count`` subscriber tasks, one after the other, each once the previous one has subscribed."""
    for _ in range(count):
        ready = anyio.Event()
        tg.start_soon(consume, ready)
        await ready.wait()


async def throughput(side: Any, subscribers: int, messages: int) -> float:
    publish, subscribe = side
    done = 0
    finished = anyio.Event()

    async def consume(ready: anyio.Event) -> None:
        nonlocal done
        received = 0
        async with contextlib.aclosing(subscribe(ready)) as events:
            async for _ in events:
                received += 1
                if received == messages:
                    break
        done += 1
        if done == subscribers:
            finished.set()

    async with anyio.create_task_group() as tg:
        await start_subscribers(tg, subscribers, consume)
        await anyio.sleep(0.2)
        item = tick()
        start = time.perf_counter()
        for index in range(messages):
            await publish(item)
            if index % 50 == 49:
                await anyio.lowlevel.checkpoint()
        with anyio.fail_after(300):
            await finished.wait()
        elapsed = time.perf_counter() - start
    return subscribers * messages / elapsed


async def latency(side: Any, subscribers: int, messages: int) -> list[float]:
    publish, subscribe = side
    delays: list[float] = []

    async def consume(ready: anyio.Event) -> None:
        received = 0
        async with contextlib.aclosing(subscribe(ready)) as events:
            async for payload in events:
                now = time.perf_counter_ns()
                delays.append((now - Tick.model_validate_json(payload).sent_ns) / 1e6)
                received += 1
                if received == messages:
                    break

    async with anyio.create_task_group() as tg:
        await start_subscribers(tg, subscribers, consume)
        await anyio.sleep(0.2)
        for _ in range(messages):
            await publish(tick(time.perf_counter_ns()))
            await anyio.sleep(0.002)
    return delays


async def memory_per_subscriber(side: Any, subscribers: int) -> float:
    """Traced bytes per started, idle subscriber."""
    _, subscribe = side
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    async with anyio.create_task_group() as tg:

        async def hold(ready: anyio.Event) -> None:
            async with contextlib.aclosing(subscribe(ready)) as events:
                async for _ in events:
                    pass  # nothing is published

        await start_subscribers(tg, subscribers, hold)
        await anyio.sleep(0.5)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - before
        tg.cancel_scope.cancel()
    tracemalloc.stop()
    return used / subscribers


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


# -- redis-server ----------------------------------------------------------------------------------------------
@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("bench/topics.py: redis-server is required (apt-get install redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as directory:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process = subprocess.Popen([*command, "--dir", directory], stdout=subprocess.DEVNULL)
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(10)


# -- run -------------------------------------------------------------------------------------------------------
async def run(redis_url: str, smoke: bool) -> dict[str, Any]:
    fanouts = [1, 100] if smoke else [1, 100, 1000]
    results: dict[str, Any] = {}
    for backend_name, url in (("memory", None), ("redis", redis_url)):
        for fanout in fanouts:
            messages = (200 if smoke else 20_000) // max(1, fanout // 10) if fanout > 1 else (500 if smoke else 50_000)
            late = 20 if smoke else (200 if fanout < 1000 else 100)
            for framework, make in SIDES.items():
                key = f"{backend_name}/{fanout}/{framework}"
                print(f"  {key}...", flush=True)
                async with make(url) as side:
                    rate = await throughput(side, fanout, messages)
                async with make(url) as side:
                    delays = await latency(side, fanout, late)
                results[key] = {
                    "backend": backend_name,
                    "subscribers": fanout,
                    "framework": framework,
                    "messages": messages,
                    "deliveries_per_s": rate,
                    "p50_ms": statistics.median(delays),
                    "p99_ms": percentile(delays, 0.99),
                }
        for framework, make in SIDES.items():
            async with make(url) as side:
                results[f"{backend_name}/memory/{framework}"] = await memory_per_subscriber(
                    side, 100 if smoke else 1000
                )
    return results


def report(data: dict[str, Any]) -> str:
    results = data["results"]
    lines = [
        f"# Topics fan-out: linestream vs Litestar channels ({data['date']})",
        "",
        f"{data['machine']}; Python {data['python']}; {data['versions']}.",
        "",
        "| backend | subscribers | linestream deliveries/s | Litestar deliveries/s | ratio | linestream p50 / p99 ms "
        "| Litestar p50 / p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, row in results.items():
        if not key.endswith("/linestream") or "/memory/" in key:
            continue
        other = results[key.replace("/linestream", "/litestar")]
        lines.append(
            f"| {row['backend']} | {row['subscribers']} | {row['deliveries_per_s']:,.0f} | "
            f"{other['deliveries_per_s']:,.0f} | {row['deliveries_per_s'] / other['deliveries_per_s']:.2f}x | "
            f"{row['p50_ms']:.2f} / {row['p99_ms']:.2f} | {other['p50_ms']:.2f} / {other['p99_ms']:.2f} |"
        )
    lines += [
        "",
        "| backend | linestream KiB per idle subscriber | Litestar KiB per idle subscriber |",
        "|---|---:|---:|",
    ]
    for backend in ("memory", "redis"):
        ours, theirs = results[f"{backend}/memory/linestream"], results[f"{backend}/memory/litestar"]
        lines.append(f"| {backend} | {ours / 1024:.2f} | {theirs / 1024:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to prove the benchmark runs")
    args = parser.parse_args()
    with redis_server() as url:
        redis_version = redis.Redis.from_url(url).info()["redis_version"]
        results = anyio.run(run, url, args.smoke)
    data = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores",
        "python": platform.python_version(),
        "versions": f"linestream {version('linestream')}, Litestar {version('litestar')}, redis-py {version('redis')}, "
        f"Redis {redis_version}",
        "results": results,
    }
    text = report(data)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    name = "topics-smoke" if args.smoke else "topics"
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(text)


if __name__ == "__main__":
    main()
