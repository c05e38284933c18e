"""What stream telemetry costs: typed JSON Lines throughput in-process (the app called as ASGI, one event loop)
without ``telemetry=``, and with ``StreamTelemetry`` on the OpenTelemetry SDK (a tracer provider with a batch
span processor into an in-memory exporter, a meter provider with an in-memory reader), in one run.

Two shapes: many short streams (``--streams`` of ``--short`` items: what a span and the metrics per stream cost)
and a few long ones (10 of ``--long`` items: what the per-message measures cost). Reported: items per second,
best of ``--reps``, and the ratio with telemetry to without (the target: at least 0.95).

``--smoke``: tiny sizes, once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from linestream import LineStream
from linestream.telemetry import StreamTelemetry


class Item(BaseModel):
    id: int
    name: str
    price: float


def make_app(telemetry: StreamTelemetry | None) -> LineStream:
    app = LineStream(telemetry=telemetry)

    @app.get("/items")
    async def items(n: int = 100) -> AsyncIterator[Item]:
        for index in range(n):
            yield Item(id=index, name="widget", price=9.5)

    return app


async def one_stream(app: LineStream, n: int) -> None:
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/items", "raw_path": b"/items", "query_string": f"n={n}".encode(), "root_path": "",
        "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await never.wait()
        return {"type": "http.disconnect"}  # pragma: no cover

    async def send(message: dict[str, Any]) -> None:
        return None

    await app(scope, receive, send)


async def rate(app: LineStream, streams: int, items: int, reps: int) -> float:
    best = 0.0
    async with app.router.lifespan_context(app):
        for _ in range(reps):
            started = time.perf_counter()
            for _ in range(streams):
                await one_stream(app, items)
            best = max(best, streams * items / (time.perf_counter() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--streams", type=int, default=5000)
    parser.add_argument("--short", type=int, default=20)
    parser.add_argument("--long", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    streams, short, long, reps = (50, 5, 1000, 1) if args.smoke else (args.streams, args.short, args.long, args.reps)
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(spans))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    telemetry = StreamTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    plain, measured = make_app(None), make_app(telemetry)
    results: dict[str, Any] = {"reps": reps}
    for shape, count, items in (
        (f"{streams} streams of {short} items", streams, short),
        (f"10 streams of {long}", 10, long),
    ):
        # Interleaved, so that both see the same machine.
        off = on = 0.0
        for _ in range(2):
            off = max(off, asyncio.run(rate(plain, count, items, reps)))
            on = max(on, asyncio.run(rate(measured, count, items, reps)))
        results[shape] = {"items/s without": off, "items/s with the SDK": on, "with / without": on / off}
    tracer_provider.shutdown()
    results["spans exported"] = len(spans.get_finished_spans())
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
