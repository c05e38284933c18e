"""Stream telemetry on the OpenTelemetry SDK (in-memory span and metric readers) and a Prometheus scrape of the
same server: a span per stream with its outcome, items, bytes and time to first item, kept out of request
traces; open streams, durations, outcomes, refusals and slow clients as metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import anyio
import httpx
import prometheus_client
import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from starlette.responses import Response

from linestream import Header, HTTPException, LineStream
from linestream.durable import DurableStreams
from linestream.telemetry import StreamTelemetry
from linestream.topics import SerializedItem, Topic
from tests.conftest import serve, wait_for

spans = InMemorySpanExporter()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
metrics = InMemoryMetricReader()
meter_provider = MeterProvider(metric_readers=[metrics, PrometheusMetricReader()])


def client_key(x_client: Annotated[str, Header()] = "anyone") -> str:
    return x_client


app = LineStream(
    telemetry=StreamTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider),
    max_streams_per_client=1,
    stream_client_key=client_key,
)


@app.get("/items")
async def items(n: int = 3) -> AsyncIterator[dict[str, int]]:
    for index in range(n):
        yield {"n": index}


@app.get("/refuses")
async def refuses() -> AsyncIterator[dict[str, int]]:
    raise HTTPException(403, "No.")
    yield {"n": 0}  # pragma: no cover - a generator that fails first


@app.get("/fails")
async def fails() -> AsyncIterator[dict[str, int]]:
    yield {"n": 0}
    raise RuntimeError("the model crashed")


@app.get("/endless")
async def endless() -> AsyncIterator[dict[str, int]]:
    for index in range(100_000):
        yield {"n": index}
        await anyio.sleep(0.01)


@app.get("/metrics")
def scrape() -> Response:
    return Response(prometheus_client.generate_latest(), media_type=prometheus_client.CONTENT_TYPE_LATEST)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve(app) as base:
        yield base


def stream_span(route: str) -> ReadableSpan:
    return wait_for_span(f"stream GET {route}")


def wait_for_span(name: str) -> ReadableSpan:
    found: list[ReadableSpan] = []

    def ended() -> bool:
        found[:] = [span for span in spans.get_finished_spans() if span.name == name]
        return bool(found)

    wait_for(ended, timeout=5)
    return found[-1]


def points(name: str) -> list[Any]:
    data = metrics.get_metrics_data()
    assert data is not None
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def value(name: str, **attributes: str) -> float:
    wanted = {f"linestream.{key}": item for key, item in attributes.items()}
    return sum(
        point.value if hasattr(point, "value") else point.count
        for point in points(name)
        if wanted.items() <= dict(point.attributes).items()
    )


def test_a_complete_stream_is_one_span_of_its_own_with_what_it_sent(url: str) -> None:
    spans.clear()
    body = httpx.get(url + "/items", params={"n": 3}, headers={"x-client": "complete"}).content
    span = stream_span("/items")
    assert span.attributes is not None
    assert span.attributes["linestream.outcome"] == "complete"
    assert span.attributes["linestream.items"] == 3
    assert span.attributes["linestream.bytes"] == len(body)
    assert span.attributes["linestream.format"] == "jsonl"
    assert 0 <= float(span.attributes["linestream.time_to_first_item"]) <= span_seconds(span)  # type: ignore[arg-type]
    assert span.parent is None  # a root: a long stream is not a long request


def span_seconds(span: ReadableSpan) -> float:
    assert span.start_time is not None
    assert span.end_time is not None
    return (span.end_time - span.start_time) / 1e9


def test_each_outcome_is_recorded_on_the_span_and_counted(url: str) -> None:
    before = {
        outcome: value("linestream.stream.outcomes", outcome=outcome) for outcome in ("error before start", "truncated")
    }
    assert httpx.get(url + "/refuses", headers={"x-client": "outcomes"}).status_code == 403
    assert stream_span("/refuses").attributes["linestream.outcome"] == "error before start"  # type: ignore[index]
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url + "/fails", headers={"x-client": "outcomes"})
    failed = stream_span("/fails")
    assert failed.attributes["linestream.outcome"] == "truncated"  # type: ignore[index]
    assert failed.status.status_code is StatusCode.ERROR
    # The duration histogram counts the streams of each outcome.
    assert value("linestream.stream.duration", outcome="error before start") == before["error before start"] + 1
    assert value("linestream.stream.duration", outcome="truncated") == before["truncated"] + 1


def test_a_client_that_leaves_is_disconnected_and_open_streams_go_up_and_down(url: str) -> None:
    with httpx.Client() as client, client.stream("GET", url + "/endless", headers={"x-client": "leaves"}) as response:
        lines = response.iter_lines()
        next(lines)
        wait_for(lambda: value("linestream.streams.open", route="GET /endless") == 1, timeout=5)
        lines.close()
    span = stream_span("/endless")
    assert span.attributes["linestream.outcome"] == "disconnected"  # type: ignore[index]
    assert value("linestream.streams.open", route="GET /endless") == 0


def test_a_stream_refused_by_a_limit_is_counted(url: str) -> None:
    before = value("linestream.stream.refused", route="GET /endless")
    with httpx.Client() as client, client.stream("GET", url + "/endless", headers={"x-client": "greedy"}) as held:
        lines = held.iter_lines()
        next(lines)
        assert client.get(url + "/endless", headers={"x-client": "greedy"}).status_code == 429
        lines.close()
    assert value("linestream.stream.refused", route="GET /endless") == before + 1


def test_durations_and_time_to_first_item_are_histograms_by_route(url: str) -> None:
    httpx.get(url + "/items", headers={"x-client": "histograms"})
    stream_span("/items")
    assert value("linestream.stream.duration", route="GET /items", outcome="complete") >= 1
    assert value("linestream.stream.time_to_first_item", route="GET /items") >= 1
    assert value("linestream.stream.items", route="GET /items") >= 3


def test_a_prometheus_scrape_of_the_same_server_has_the_stream_metrics(url: str) -> None:
    httpx.get(url + "/items", params={"n": 5}, headers={"x-client": "scraped"})
    stream_span("/items")
    scrape = httpx.get(url + "/metrics").text
    assert "linestream_stream_duration_seconds_count{" in scrape
    assert 'linestream_outcome="complete"' in scrape
    assert "linestream_streams_open" in scrape
    assert 'linestream_route="GET /items"' in scrape
    assert "linestream_stream_duration_seconds_bucket" in scrape
    assert "linestream_stream_time_to_first_item_seconds_count" in scrape


@app.post("/upload")
async def upload(items: AsyncIterator[dict[str, int]]) -> dict[str, int]:
    return {"count": len([item async for item in items])}


def test_streamed_request_bodies_count_their_items_and_refusals(url: str) -> None:
    before = value("linestream.request.items", route="POST /upload")
    refused = sum(
        point.value
        for point in points("linestream.request.refused")
        if point.attributes["http.response.status_code"] == 422
    )
    body = b'{"n":1}\n{"n":2}\n'
    assert httpx.post(url + "/upload", content=body, headers={"content-type": "application/jsonl"}).json() == {
        "count": 2
    }
    bad = httpx.post(url + "/upload", content=b'{"n":1}\n[oops\n', headers={"content-type": "application/jsonl"})
    assert bad.status_code == 422
    assert value("linestream.request.items", route="POST /upload") == before + 3  # 2, then 1 before the bad one
    after = sum(
        point.value
        for point in points("linestream.request.refused")
        if point.attributes["http.response.status_code"] == 422
    )
    assert after == refused + 1


orders = Topic("telemetry-orders", dict, telemetry=app.settings.telemetry)


@app.post("/orders", status_code=201)
async def place(order: dict[str, int]) -> dict[str, str]:
    return {"id": await orders.publish(order)}


@app.get("/orders/live")
async def live() -> AsyncIterator[SerializedItem[dict[str, int]]]:
    async for message in orders.subscribe():
        yield message


def test_a_topic_counts_its_publishes_and_its_subscribers_lag(url: str) -> None:
    before = value("linestream.topic.published", topic="telemetry-orders")
    lags = value("linestream.topic.lag", topic="telemetry-orders")
    with (
        httpx.Client(base_url=url) as client,
        client.stream("GET", "/orders/live", headers={"x-client": "subscriber"}) as live_stream,
    ):
        lines = live_stream.iter_lines()
        wait_for(lambda: orders.subscribers == 1, timeout=5)
        client.post("/orders", json={"n": 1})
        assert next(lines) == '{"n":1}'
        lines.close()
    assert value("linestream.topic.published", topic="telemetry-orders") == before + 1
    assert value("linestream.topic.lag", topic="telemetry-orders") == lags + 1  # one delivery measured


streams = DurableStreams()
app.include_router(streams, prefix="/v1/stream")


@app.post("/answers", durable=streams)
async def answer() -> AsyncIterator[dict[str, int]]:
    for n in range(4):
        yield {"n": n}


def test_durable_jobs_are_counted_by_outcome_with_their_items(url: str) -> None:
    before = value("linestream.job.duration", route="POST /answers", outcome="complete")
    items = value("linestream.job.items", route="POST /answers")
    response = httpx.post(url + "/answers", headers={"x-client": "durable"})
    assert len(response.text.splitlines()) == 4
    wait_for(lambda: value("linestream.job.duration", route="POST /answers", outcome="complete") == before + 1)
    assert value("linestream.job.items", route="POST /answers") == items + 4
    assert value("linestream.jobs.running", route="POST /answers") == 0
