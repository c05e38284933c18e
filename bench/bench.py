"""Benchmark linestream against FastAPI, Litestar and Starlette (+orjson), interleaved, in one run.

Run with ``bench/run`` (installs the peers into bench/.venv). ``--smoke`` runs everything tiny and once.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import json
import logging
import os
import platform
import random
import resource
import socket
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import httpx
from pydantic import TypeAdapter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.apps.common import POOL, POOL_NAME, Item  # noqa: E402

FRAMEWORKS = ["linestream", "fastapi", "litestar", "starlette"]
ENDPOINTS = ["typed", "sync", "untyped", "sse"]
RESULTS = ROOT / "bench" / "results"


def load_app(framework: str) -> Any:
    return importlib.import_module(f"bench.apps.{framework}_app").app


# -- checking --------------------------------------------------------------------------------------------------
def parse_items(endpoint: str, body: bytes) -> list[Item]:
    if endpoint == "sse":
        lines = [line[5:].strip() for line in body.split(b"\n") if line.startswith(b"data:")]
    else:
        lines = [line for line in body.split(b"\n") if line.strip()]
    return [Item.model_validate_json(line) for line in lines]


def check(endpoint: str, body: bytes, n: int, framework: str) -> None:
    items = parse_items(endpoint, body)
    expected = [POOL[index & 63] for index in range(n)]
    if items != expected:
        raise AssertionError(f"{framework} /{endpoint}: wrong body ({len(items)} items, expected {n})")


# -- in-process ------------------------------------------------------------------------------------------------
def scope_for(path: str, query: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "server": ("bench", 80),
        "client": ("127.0.0.1", 1),
        "state": {},
    }


async def drive(app: Any, path: str, query: str, keep: bool) -> tuple[float, int, int, bytes]:
    messages = 0
    size = 0
    chunks: list[bytes] = []
    received = False

    complete = anyio.Event()

    async def receive() -> dict[str, Any]:
        # Like uvicorn: the request body, then http.disconnect once the response is complete.
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await complete.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal messages, size
        if message["type"] == "http.response.body":
            if not message.get("more_body", False):
                complete.set()
            body = message.get("body", b"")
            if body:
                messages += 1
                size += len(body)
                if keep:
                    chunks.append(body)

    started = time.perf_counter()
    await app(scope_for(path, query), receive, send)
    return time.perf_counter() - started, messages, size, b"".join(chunks)


def in_process(apps: dict[str, Any], n: int, reps: int) -> dict[str, dict[str, dict[str, Any]]]:
    results: dict[str, dict[str, dict[str, Any]]] = {}

    async def run() -> None:
        for endpoint in ENDPOINTS:
            for framework, app in apps.items():
                _, _, _, body = await drive(app, f"/{endpoint}", "n=1000", keep=True)
                check(endpoint, body, 1000, framework)
        for _ in range(reps):
            for endpoint in ENDPOINTS:
                order = list(apps)
                random.shuffle(order)
                for framework in order:
                    seconds, messages, size, _ = await drive(apps[framework], f"/{endpoint}", f"n={n}", keep=False)
                    entry = results.setdefault(endpoint, {}).setdefault(framework, {"rates": []})
                    entry["rates"].append(n / seconds)
                    entry["messages_per_item"] = messages / n
                    entry["bytes"] = size
        for _ in range(reps):
            order = list(apps)
            random.shuffle(order)
            for framework in order:
                size = 64 * 1024 * 1024 // (4 if n < 10_000 else 1)
                seconds, _, received, _ = await drive(apps[framework], "/bytes", f"size={size}", keep=False)
                assert received == size, (framework, received)
                entry = results.setdefault("bytes", {}).setdefault(framework, {"rates": []})
                entry["rates"].append(size / seconds / 2**20)

    anyio.run(run)
    return results


# -- uploads ----------------------------------------------------------------------------------------------------
UPLOADS = [
    ("linestream", "/upload", "jsonl", "AsyncIterable[Item] parameter"),
    ("fastapi", "/upload-json", "json", "items: list[Item] (whole body)"),
    ("fastapi", "/upload-stream", "jsonl", "request.stream() split by hand"),
]


async def drive_upload(app: Any, path: str, body: bytes, content_type: str) -> tuple[float, bytes]:
    chunk = 64 * 1024
    position = 0
    response = bytearray()

    async def receive() -> dict[str, Any]:
        nonlocal position
        if position > len(body):
            await anyio.sleep_forever()
        piece = body[position : position + chunk]
        position += chunk
        return {"type": "http.request", "body": piece, "more_body": position < len(body)}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            response.extend(message.get("body", b""))

    scope = scope_for(path, "")
    scope["method"] = "POST"
    scope["headers"] = [(b"host", b"bench"), (b"content-type", content_type.encode())]
    started = time.perf_counter()
    await app(scope, receive, send)
    return time.perf_counter() - started, bytes(response)


def uploads(apps: dict[str, Any], n: int, reps: int) -> dict[str, Any]:
    lines = [POOL[index & 63].model_dump_json().encode() for index in range(n)]
    bodies = {"jsonl": b"\n".join(lines) + b"\n", "json": b"[" + b",".join(lines) + b"]"}
    media = {"jsonl": "application/jsonl", "json": "application/json"}
    results: dict[str, Any] = {}

    async def run() -> None:
        for _ in range(reps):
            for framework, path, kind, label in random.sample(UPLOADS, len(UPLOADS)):
                seconds, response = await drive_upload(apps[framework], path, bodies[kind], media[kind])
                assert json.loads(response) == {"count": n}, (path, response[:200])
                entry = results.setdefault(label, {"rates": [], "mb": len(bodies[kind]) / 2**20})
                entry["rates"].append(n / seconds)
        for framework, path, kind, label in UPLOADS:
            tracemalloc.start()
            await drive_upload(apps[framework], path, bodies[kind], media[kind])
            results[label]["peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()

    anyio.run(run)
    return results


# -- network ---------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server(framework: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            f"bench.apps.{framework}_app:app",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--log-level",
            "warning",
            "--no-access-log",
            "--workers",
            "1",
        ],
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/typed?n=1", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"{framework} server did not start") from None
            time.sleep(0.1)
    try:
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def slow_streams(
    port: int, count: int, hold: float, path: str = "/slow", measure: Callable[[], None] | None = None
) -> tuple[int, float]:
    """Open ``count`` slow streams (``path``: ``/slow`` JSON Lines, ``/slow-sse`` SSE), read their items for
    ``hold`` seconds (``measure()`` is called halfway); return (open streams, worst gap)."""
    accept = "text/event-stream" if path.endswith("-sse") else "*/*"
    request = f"GET {path}?n=1000 HTTP/1.1\r\nHost: bench\r\nAccept: {accept}\r\n\r\n".encode()
    worst_gap = 0.0
    opened = 0
    ready = anyio.Event()

    async def connect() -> anyio.abc.SocketStream:
        # A burst of connections can overflow the listen backlog (a reset): retry a few times.
        for attempt in range(5):
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
                await stream.send(request)
                buffer = b""
                while b"}\n" not in buffer and b"}\r\n" not in buffer:  # (Litestar ends SSE lines with CRLF)
                    buffer += await stream.receive()
                return stream
            except (OSError, anyio.BrokenResourceError, anyio.EndOfStream):
                await anyio.sleep(0.2 * (attempt + 1))
        raise RuntimeError("could not open a slow stream in 5 attempts")

    async def one(done: Callable[[], None]) -> None:
        nonlocal worst_gap, opened
        with anyio.move_on_after(hold + 30):
            stream = await connect()
            async with stream:
                opened += 1
                done()
                await ready.wait()
                last = time.monotonic()
                end = last + hold
                while time.monotonic() < end:
                    with anyio.move_on_after(end - time.monotonic()):
                        await stream.receive()
                        now = time.monotonic()
                        worst_gap = max(worst_gap, now - last)
                        last = now
                worst_gap = max(worst_gap, time.monotonic() - last if hold > 3 else 0.0)

    count_done = 0

    def done() -> None:
        nonlocal count_done
        count_done += 1
        if count_done == count:
            ready.set()

    async with anyio.create_task_group() as group:
        for _ in range(count):
            group.start_soon(one, done)
            await anyio.sleep(0.002)
        with anyio.move_on_after(60):
            await ready.wait()
        ready.set()
        if measure is not None:
            await anyio.sleep(hold / 2)
            measure()
    return opened, worst_gap


MEMORY_FRAMEWORKS = [*FRAMEWORKS, "asgi"]


def memory_runs(counts: list[int]) -> list[tuple[int, str, str]]:
    """(streams, path, framework) of a ``--memory`` run; ``BENCH_ONLY="10000 /slow-sse fastapi,..."`` keeps
    those (to measure again what a run could not)."""
    runs = [
        (count, path, framework)
        for count in counts
        for path in ("/slow", "/slow-sse")
        for framework in MEMORY_FRAMEWORKS
    ]
    only = os.environ.get("BENCH_ONLY")
    if only:
        wanted = {tuple(entry.split()) for entry in only.split(",")}
        runs = [run for run in runs if (str(run[0]), run[1], run[2]) in wanted]
    return runs


def memory(counts: list[int], hold: float) -> dict[str, Any]:
    """Server RSS per idle stream (one item a second), JSON Lines and SSE, for each framework and the bare ASGI
    floor (``bench/apps/asgi_app.py``), at each of ``counts`` open streams, measured halfway through ``hold``."""
    results: dict[str, Any] = {}
    runs = memory_runs(counts)
    random.shuffle(runs)
    for count, path, framework in sorted(runs, key=lambda run: (run[0], run[1])):  # frameworks shuffled
        with server(framework) as (url, pid):
            time.sleep(0.5)
            before = rss(pid)
            held: list[int] = []

            def measure(held: list[int] = held, pid: int = pid) -> None:
                held.append(rss(pid))

            opened, gap = anyio.run(slow_streams, int(url.rsplit(":", 1)[1]), count, hold, path, measure)
        per_stream = (held[0] - before) / max(opened, 1) / 1024 if held else float("nan")
        results.setdefault(str(count), {}).setdefault(path, {})[framework] = {
            "streams": opened,
            "rss_per_stream_kib": per_stream,
            "worst_gap_s": gap,
        }
        print(f"{count} {path} {framework}: {opened} streams, {per_stream:.1f} KiB each, gap {gap:.2f} s")
    return results


def memory_report(results: dict[str, Any]) -> str:
    lines = [
        "| streams | format | " + " | ".join(MEMORY_FRAMEWORKS) + " |",
        "|---|---|" + "---|" * len(MEMORY_FRAMEWORKS),
    ]
    for count, formats in results.items():
        for path, by_framework in formats.items():
            cells = []
            for framework in MEMORY_FRAMEWORKS:
                entry = by_framework.get(framework)
                if entry is None:
                    cells.append("–")
                    continue
                note = "" if entry["streams"] == int(count) else f" ({entry['streams']} opened)"
                cells.append(f"{entry['rss_per_stream_kib']:.1f}{note}")
            label = "JSON Lines" if path == "/slow" else "SSE"
            lines.append(f"| {int(count):,} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


async def idle_streams(
    port: int, count: int, hold: float, client_only: bool = False, local_host: str | None = None
) -> dict[str, float]:
    """Open ``count`` idle SSE streams (one event, then keep-alives every 2 s) and hold them ``hold`` seconds
    while another process times ``/quick``: opened, seconds to open them all, worst gap between keep-alives,
    and /quick's median and worst time in ms. ``client_only``: one of several client processes (``--idle-sse
    --workers``): say ``open`` on stdout once all are open, hold them from the line ``go`` on stdin, no probe.
    ``local_host``: the loopback address to connect from (each client its own: one address has ~28,000
    ephemeral ports towards one server port)."""
    opened = 0
    retried = 0
    worst_gap = 0.0
    all_open = anyio.Event()

    async def connect() -> anyio.abc.SocketStream:
        # A burst of connections can overflow the listen backlog (a reset): retry, and count it.
        nonlocal retried
        for attempt in range(8):
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port, local_host=local_host)
                await stream.send(b"GET /idle HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n")
                buffer = b""
                while b"data:" not in buffer:
                    buffer += await stream.receive()
                return stream
            except (OSError, anyio.BrokenResourceError, anyio.EndOfStream):
                retried += 1
                await anyio.sleep(0.2 * (attempt + 1))
        raise RuntimeError("could not open an idle stream in 8 attempts")

    async def one() -> None:
        nonlocal opened, worst_gap
        stream = await connect()
        async with stream:
            opened += 1
            if opened == count:
                all_open.set()
            await all_open.wait()
            last = time.monotonic()
            while True:
                await stream.receive()
                now = time.monotonic()
                worst_gap = max(worst_gap, now - last)
                last = now

    started = time.monotonic()
    async with anyio.create_task_group() as group:
        for index in range(count):
            group.start_soon(one)
            if index % 100 == 99:
                # (Several client processes share the server's accept rate: each opens more slowly.)
                await anyio.sleep(0.25 if client_only else 0.05)
        with anyio.move_on_after(300 if client_only else 120):
            await all_open.wait()
        open_seconds = time.monotonic() - started
        if client_only:
            print(json.dumps({"open": opened, "open_seconds": open_seconds}), flush=True)
            await anyio.to_thread.run_sync(sys.stdin.readline)
            worst_gap = 0.0
            all_open.set()
            await anyio.sleep(hold)
            group.cancel_scope.cancel()
            return {"opened": opened, "retried": retried, "open_seconds": open_seconds, "worst_gap": worst_gap}
        all_open.set()
        probe = (
            "import httpx, json, statistics, sys, time\n"
            f"client = httpx.Client(base_url='http://127.0.0.1:{port}')\n"
            "times = []\n"
            f"end = time.monotonic() + {hold}\n"
            "while time.monotonic() < end:\n"
            "    before = time.perf_counter()\n"
            "    client.get('/quick')\n"
            "    times.append((time.perf_counter() - before) * 1000)\n"
            "    time.sleep(0.1)\n"
            "print(json.dumps([statistics.median(times), max(times)]))\n"
        )
        quick = await anyio.run_process([sys.executable, "-c", probe])
        group.cancel_scope.cancel()
    median_ms, worst_ms = json.loads(quick.stdout)
    return {
        "opened": opened,
        "retried": retried,
        "open_seconds": open_seconds,
        "worst_gap": worst_gap,
        "quick_ms_median": median_ms,
        "quick_ms_max": worst_ms,
    }


def idle_across_workers(count: int, workers: int, clients: int, hold: float) -> dict[str, Any]:
    """``count`` idle SSE streams held by ``workers`` linestream workers (``linestream run --workers``), opened
    by ``clients`` processes (the open-files limit is per process), while this process times ``/quick``."""
    port = free_port()
    command = [sys.executable, "-m", "linestream", "run", "bench.apps.linestream_app:app", "--port", str(port)]
    master = subprocess.Popen(
        [*command, "--workers", str(workers)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/quick", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or master.poll() is not None:
                    raise RuntimeError("the linestream workers did not start") from None
                time.sleep(0.2)
        time.sleep(1)
        children = [int(pid) for pid in Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()]
        before = sum(rss(pid) for pid in children)
        share = [count // clients + (1 if index < count % clients else 0) for index in range(clients)]
        processes = [
            subprocess.Popen(
                [sys.executable, str(Path(__file__)), "--idle-client", f"{port},{number},{hold},127.0.0.{index + 2}"],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for index, number in enumerate(share)
        ]
        opened = [json.loads(process.stdout.readline() or "{}") for process in processes]
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
        times = []
        end = time.monotonic() + hold - 1
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            while time.monotonic() < end:
                started = time.perf_counter()
                client.get("/quick")
                times.append((time.perf_counter() - started) * 1000)
                time.sleep(0.1)
        held = sum(rss(pid) for pid in children)
        results = [json.loads(process.communicate(timeout=hold + 60)[0].splitlines()[-1]) for process in processes]
    finally:
        master.terminate()
        master.wait(30)
    total = sum(result["opened"] for result in results)
    return {
        "streams": total,
        "asked": count,
        "workers": workers,
        "clients": clients,
        "open_seconds": max(entry.get("open_seconds", 0.0) for entry in opened),
        "retried": sum(result["retried"] for result in results),
        "worst_gap": max(result["worst_gap"] for result in results),
        "rss_per_stream_kib": (held - before) / max(total, 1) / 1024,
        "quick_ms_median": statistics.median(times),
        "quick_ms_max": max(times),
    }


def first_item(rounds: int, requests: int) -> dict[str, dict[str, float]]:
    """Time to the first body byte of a one-item stream, JSON Lines and SSE, each framework under uvicorn:
    the median over ``rounds`` (frameworks shuffled each round) of each round's median of ``requests``
    keep-alive requests (after 50 unmeasured ones), in ms."""
    rounds_ms: dict[str, dict[str, list[float]]] = {}
    for _ in range(rounds):
        order = list(FRAMEWORKS)
        random.shuffle(order)
        for framework in order:
            with server(framework) as (url, _pid), httpx.Client(timeout=30) as client:
                for key, path, accept in (("jsonl", "/typed?n=1", "*/*"), ("sse", "/sse?n=1", "text/event-stream")):
                    timings = []
                    for index in range(requests + 50):
                        started = time.perf_counter()
                        with client.stream("GET", url + path, headers={"accept": accept}) as response:
                            chunks = response.iter_raw()
                            next(chunks)
                            if index >= 50:
                                timings.append(time.perf_counter() - started)
                            for _ in chunks:
                                pass
                    rounds_ms.setdefault(framework, {}).setdefault(key, []).append(statistics.median(timings) * 1000)
    return {
        framework: {key: statistics.median(values) for key, values in by_key.items()}
        for framework, by_key in rounds_ms.items()
    }


def network(n: int, reps: int, ttfb_requests: int, streams: int, hold: float) -> dict[str, Any]:
    results: dict[str, Any] = {"throughput": {}, "ttfb_ms": {}, "ttfb_sse_ms": {}, "latency_ms": {}, "concurrency": {}}
    for _ in range(reps):
        order = list(FRAMEWORKS)
        random.shuffle(order)
        for framework in order:
            with server(framework) as (url, _pid), httpx.Client(timeout=120) as client:
                body = client.get(url + "/typed?n=1000").content
                check("typed", body, 1000, framework)
                started = time.perf_counter()
                newlines = 0
                with client.stream("GET", url + f"/typed?n={n}") as response:
                    for chunk in response.iter_raw(1 << 20):
                        newlines += chunk.count(b"\n")
                seconds = time.perf_counter() - started
                assert newlines == n, (framework, newlines)
                results["throughput"].setdefault(framework, []).append(n / seconds)
                for key, path in (("ttfb_ms", "/typed?n=1"), ("ttfb_sse_ms", "/sse?n=1")):
                    timings = []
                    for _ in range(ttfb_requests):
                        started = time.perf_counter()
                        with client.stream("GET", url + path) as response:
                            chunks = response.iter_raw()
                            next(chunks)
                            timings.append(time.perf_counter() - started)
                            for _ in chunks:
                                pass
                    results[key].setdefault(framework, []).append(statistics.median(timings) * 1000)
                delays = []
                with client.stream("GET", url + f"/latency?n={ttfb_requests}") as response:
                    for line in response.iter_lines():
                        if line:
                            delays.append((time.monotonic_ns() - json.loads(line)["t"]) / 1e6)
                results["latency_ms"].setdefault(framework, []).append(statistics.median(delays))
    for framework in FRAMEWORKS:
        with server(framework) as (url, pid):
            port = int(url.rsplit(":", 1)[1])
            time.sleep(0.5)
            before = rss(pid)
            opened, gap = anyio.run(slow_streams, port, streams, hold)
            after = rss(pid)
            results["concurrency"][framework] = {
                "streams": opened,
                "rss_per_stream_kib": (after - before) / max(opened, 1) / 1024,
                "worst_gap_s": gap,
            }
    return results


# -- floor -----------------------------------------------------------------------------------------------------
def floor(n: int) -> dict[str, float]:
    adapter = TypeAdapter(Item)
    validate, serialize = adapter.validator.validate_python, adapter.serializer.to_json
    started = time.perf_counter()
    for index in range(n):
        serialize(validate(POOL[index & 63]))
    per_item = (time.perf_counter() - started) / n
    lists = TypeAdapter(list[Item])
    started = time.perf_counter()
    for _ in range(n // 64):
        lists.serializer.to_json(lists.validator.validate_python(POOL))
    per_list_item = (time.perf_counter() - started) / (n // 64 * 64)

    async def items() -> Any:
        for index in range(n):
            yield POOL[index & 63]

    async def generator_floor() -> float:
        # The least a typed async stream can cost: a bare async generator's items validated, serialized and
        # appended to a buffer flushed every 64 KiB (no framework, no event-loop switch).
        buffer = bytearray()
        started = time.perf_counter()
        async for item in items():
            buffer += serialize(validate(item))
            buffer += b"\n"
            if len(buffer) >= 65536:
                buffer.clear()
        return (time.perf_counter() - started) / n

    per_generator_item = anyio.run(generator_floor)

    async def loop_costs() -> tuple[float, float]:
        count = 20_000
        started = time.perf_counter()
        for _ in range(count):
            await anyio.sleep(0)  # noqa: ASYNC115 - the cost of exactly this call is what is measured
        sleep0 = (time.perf_counter() - started) / count
        started = time.perf_counter()
        for _ in range(2_000):
            await anyio.to_thread.run_sync(int)
        hop = (time.perf_counter() - started) / 2_000
        return sleep0, hop

    sleep0, hop = anyio.run(loop_costs)
    return {
        "validate_serialize_item_us": per_item * 1e6,
        "validate_serialize_in_list_us": per_list_item * 1e6,
        "anyio_sleep0_us": sleep0 * 1e6,
        "thread_hop_us": hop * 1e6,
        "floor_items_per_s": 1 / per_item,
        "async_generator_floor_us": per_generator_item * 1e6,
    }


# -- report ----------------------------------------------------------------------------------------------------
def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def report(data: dict[str, Any]) -> str:
    lines = [
        f"# linestream benchmark — {data['date']}",
        "",
        f"Machine: {data['machine']}. Python {data['python']}. Versions: "
        + ", ".join(f"{name} {value}" for name, value in data["versions"].items())
        + ".",
        f"Mode: {data['mode']} (n={data['n']} items per request, {data['reps']} interleaved repetitions; "
        "median, with [min–max]). Item pool: " + data.get("pool", "light") + ".",
        "",
        "## In-process (ASGI app driven directly), items/s and ratio to FastAPI",
        "",
        "| endpoint | " + " | ".join(FRAMEWORKS) + " | linestream ASGI messages/item |",
        "|---|" + "---|" * (len(FRAMEWORKS) + 1),
    ]
    inproc = data["in_process"]
    for endpoint in [*ENDPOINTS, "bytes"]:
        row = inproc[endpoint]
        base = row["fastapi"]["median"]
        unit = " MB/s" if endpoint == "bytes" else ""
        cells = []
        for framework in FRAMEWORKS:
            cell = row[framework]
            cells.append(
                f"{cell['median']:,.0f}{unit} [{cell['min']:,.0f}–{cell['max']:,.0f}] ×{cell['median'] / base:.2f}"
            )
        per_item = row["linestream"].get("messages_per_item")
        tail = f" {per_item:.4f} |" if per_item is not None else " (64 KiB chunks) |"
        lines.append(f"| {endpoint} | " + " | ".join(cells) + " |" + tail)
    fl = data["floor"]
    typed = inproc["typed"]["linestream"]["median"]
    lines += [
        "",
        f"Floor: pydantic-core validate+serialize {fl['validate_serialize_item_us']:.2f} µs/item "
        f"({fl['floor_items_per_s']:,.0f} items/s), inside a list {fl['validate_serialize_in_list_us']:.2f} µs/item; "
        f"`anyio.sleep(0)` {fl['anyio_sleep0_us']:.1f} µs; one thread hop {fl['thread_hop_us']:.1f} µs. "
        f"linestream typed async runs at {fl['floor_items_per_s'] / typed:.2f}× the floor's time per item. "
        f"Async-generator floor (a bare async generator's items validated, serialized and buffered in 64 KiB): "
        f"{fl['async_generator_floor_us']:.2f} µs/item; linestream typed async at "
        f"{1e6 / typed / fl['async_generator_floor_us']:.2f}× it; `def` generator at "
        f"{inproc['typed']['linestream']['median'] / inproc['sync']['linestream']['median']:.2f}× async's time "
        "per item.",
    ]
    up = data.get("uploads")
    if up:
        base = up["items: list[Item] (whole body)"]["median"]
        lines += [
            "",
            "## Uploads (in-process, a JSON Lines or JSON array body of "
            + ("1,000,000" if data["mode"] == "full" else "2,000")
            + " items in 64 KiB chunks)",
            "",
            "| server side | items/s | MB/s | ratio | peak Python memory, MiB |",
            "|---|---|---|---|---|",
        ]
        count = 1_000_000 if data["mode"] == "full" else 2_000
        for label, cell in up.items():
            rate = cell["median"]
            megabytes_per_second = cell["mb"] * rate / count
            peak = cell["peak_mib"]
            lines.append(f"| {label} | {rate:,.0f} | {megabytes_per_second:,.0f} | ×{rate / base:.2f} | {peak:,.1f} |")
    net = data["network"]
    if net:
        lines += [
            "",
            "## Network (uvicorn, 1 worker, loopback)",
            "",
            "| measure | " + " | ".join(FRAMEWORKS) + " |",
            "|---|" + "---|" * len(FRAMEWORKS),
        ]
        base = net["throughput"]["fastapi"]["median"]
        lines.append(
            "| typed async, items/s (full read) | "
            + " | ".join(
                f"{net['throughput'][f]['median']:,.0f} ×{net['throughput'][f]['median'] / base:.2f}"
                for f in FRAMEWORKS
            )
            + " |"
        )
        for key, what in (("ttfb_ms", "JSON Lines"), ("ttfb_sse_ms", "SSE")):
            lines.append(
                f"| time to first item, {what}, ms (median) | "
                + " | ".join(f"{net[key][f]['median']:.3f}" for f in FRAMEWORKS)
                + " |"
            )
        lines.append(
            "| item yielded after an await to client, ms (median) | "
            + " | ".join(f"{net['latency_ms'][f]['median']:.3f}" for f in FRAMEWORKS)
            + " |"
        )
        lines.append(
            "| open slow streams held | " + " | ".join(str(net["concurrency"][f]["streams"]) for f in FRAMEWORKS) + " |"
        )
        lines.append(
            "| server RSS per open stream, KiB | "
            + " | ".join(f"{net['concurrency'][f]['rss_per_stream_kib']:.1f}" for f in FRAMEWORKS)
            + " |"
        )
        lines.append(
            "| worst gap between items of a 1 item/s stream, s | "
            + " | ".join(f"{net['concurrency'][f]['worst_gap_s']:.2f}" for f in FRAMEWORKS)
            + " |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition (CI)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--no-network", action="store_true")
    parser.add_argument("--idle-sse", type=int, metavar="N", help="only hold N idle SSE streams against linestream")
    parser.add_argument("--workers", type=int, default=1, help="with --idle-sse: linestream workers")
    parser.add_argument("--clients", type=int, default=4, help="with --idle-sse --workers: client processes")
    parser.add_argument("--idle-client", help=argparse.SUPPRESS)
    parser.add_argument(
        "--first-item", type=int, metavar="ROUNDS", help="only time the first item of n=1 streams, ROUNDS rounds"
    )
    parser.add_argument(
        "--memory",
        metavar="COUNTS",
        help="only measure server RSS per idle stream, JSON Lines and SSE, every framework, at COUNTS (1000,10000)",
    )
    parser.add_argument(
        "--streams-only",
        metavar="FRAMEWORK",
        help="only hold --streams slow streams against FRAMEWORK's server (e.g. 10000 against linestream)",
    )
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    most = max([args.idle_sse or 0, *(int(count) for count in (args.memory or "0").split(","))])
    wanted = max(hard, 2 * most + 1024)
    try:  # as root, the hard limit may be raised too (20,000 idle streams need 40,000 descriptors in all)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.smoke:
        args.reps, args.n, args.streams = 1, 2_000, 20
    if args.first_item:
        timings = first_item(args.first_item, 20 if args.smoke else 250)
        for framework in FRAMEWORKS:
            print(
                f"{framework}: first item of a one-item stream, median ms: "
                f"JSON Lines {timings[framework]['jsonl']:.3f}, SSE {timings[framework]['sse']:.3f}"
            )
        return
    if args.idle_client:
        port, count, hold, local_host = args.idle_client.split(",")
        result = anyio.run(idle_streams, int(port), int(count), float(hold), True, local_host)
        print(json.dumps(result), flush=True)
        return
    if args.idle_sse and args.workers > 1:
        fleet = idle_across_workers(args.idle_sse, args.workers, args.clients, 4.0 if args.smoke else 20.0)
        print(
            f"linestream, {fleet['workers']} workers: {fleet['streams']} of {fleet['asked']} idle SSE streams "
            f"opened by {fleet['clients']} clients in {fleet['open_seconds']:.1f} s ({fleet['retried']} retried); "
            f"worst gap between keep-alives (every 2 s) {fleet['worst_gap']:.2f} s; /quick median "
            f"{fleet['quick_ms_median']:.1f} ms, worst {fleet['quick_ms_max']:.1f} ms; "
            f"{fleet['rss_per_stream_kib']:.1f} KiB RSS per stream across the workers"
        )
        return
    if args.idle_sse:
        with server("linestream") as (url, pid):
            time.sleep(0.5)
            before = rss(pid)
            result = anyio.run(idle_streams, int(url.rsplit(":", 1)[1]), args.idle_sse, 10.0)
            after = rss(pid)
        print(
            f"linestream: {result['opened']} of {args.idle_sse} idle SSE streams opened in "
            f"{result['open_seconds']:.1f} s ({result['retried']} connections retried); "
            f"worst gap between keep-alives (every 2 s) {result['worst_gap']:.2f} s; "
            f"/quick median {result['quick_ms_median']:.1f} ms, worst {result['quick_ms_max']:.1f} ms; server RSS "
            f"{before >> 20} -> {after >> 20} MiB ({(after - before) / max(result['opened'], 1) / 1024:.1f} KiB/stream)"
        )
        return
    if args.memory:
        results = memory([int(count) for count in args.memory.split(",")], 2.0 if args.smoke else 8.0)
        RESULTS.mkdir(exist_ok=True)
        name = "smoke-memory" if args.smoke else "memory"
        if os.environ.get("BENCH_ONLY") and (RESULTS / f"{name}.json").exists():
            # Measured again: merged into the last run's figures.
            merged = json.loads((RESULTS / f"{name}.json").read_text())
            for count, formats in results.items():
                for path, by_framework in formats.items():
                    merged.setdefault(count, {}).setdefault(path, {}).update(by_framework)
            results = merged
        (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
        (RESULTS / f"{name}.md").write_text(
            "Server RSS per idle stream, KiB (uvicorn, 1 worker; one item a second; `asgi`: a bare ASGI callable)\n\n"
            + memory_report(results)
            + "\n"
        )
        print(memory_report(results))
        return
    if args.streams_only:
        with server(args.streams_only) as (url, pid):
            time.sleep(0.5)
            before = rss(pid)
            opened, gap = anyio.run(slow_streams, int(url.rsplit(":", 1)[1]), args.streams, 8.0)
            after = rss(pid)
        print(
            f"{args.streams_only}: {opened} of {args.streams} slow streams held, worst gap {gap:.2f} s, "
            f"server RSS {before >> 20} -> {after >> 20} MiB "
            f"({(after - before) / max(opened, 1) / 1024:.1f} KiB/stream)"
        )
        return
    apps = {framework: load_app(framework) for framework in FRAMEWORKS}
    data: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {
            name: version(name) for name in ["linestream", "fastapi", "litestar", "starlette", "pydantic", "uvicorn"]
        },
        "mode": "smoke" if args.smoke else "full",
        "pool": POOL_NAME,
        "n": args.n,
        "reps": args.reps,
    }
    print("floor...", flush=True)
    data["floor"] = floor(20_000 if args.smoke else 200_000)
    print("in-process...", flush=True)
    raw = in_process(apps, args.n, args.reps)
    data["in_process"] = {
        endpoint: {
            framework: {**summary(entry["rates"]), **{k: v for k, v in entry.items() if k != "rates"}}
            for framework, entry in row.items()
        }
        for endpoint, row in raw.items()
    }
    print("uploads...", flush=True)
    data["uploads"] = {
        label: {**summary(entry["rates"]), "mb": entry["mb"], "peak_mib": entry["peak_mib"]}
        for label, entry in uploads(apps, 1_000_000 if not args.smoke else 2_000, args.reps).items()
    }
    data["network"] = {}
    if not args.no_network:
        print("network...", flush=True)
        hold = 3.0 if args.smoke else 8.0
        net = network(args.n, args.reps, 20 if args.smoke else 200, args.streams, hold)
        data["network"] = {
            "throughput": {f: summary(v) for f, v in net["throughput"].items()},
            "ttfb_ms": {f: summary(v) for f, v in net["ttfb_ms"].items()},
            "ttfb_sse_ms": {f: summary(v) for f, v in net["ttfb_sse_ms"].items()},
            "latency_ms": {f: summary(v) for f, v in net["latency_ms"].items()},
            "concurrency": net["concurrency"],
        }
    text = report(data)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    name = ("smoke" if args.smoke else "latest") + ("" if POOL_NAME == "light" else f"-{POOL_NAME}")
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(text)


if __name__ == "__main__":
    main()
