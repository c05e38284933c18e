"""Telemetry built for streams, through the OpenTelemetry API (``pip install 'linestream[otel]'``).

```python
from linestream.telemetry import StreamTelemetry

app = LineStream(telemetry=StreamTelemetry())  # the global tracer and meter providers (an SDK configures them)
```

Each stream is a span of its own, ``stream <METHOD> <route>`` (``stream GET /orders/live``): a root span,
linked to the request's span if one is active, so that a stream of five minutes is not the duration of a
request in a latency percentile; its attributes say the route, the format, the outcome (``complete``, ``error
before start``, ``truncated``, ``disconnected``, ``shutdown``, ``expired``, ``lifetime``, ``send timeout``),
the items and bytes sent and the time to the first item. The metrics (every one with ``linestream.route``, the
method and the route's path template, and ``linestream.format``):

- ``linestream.streams.open`` (observable up-down counter): the streams being served;
- ``linestream.stream.duration`` (histogram, seconds, with ``linestream.outcome``): a stream's life, and, by
  its count, how many streams ended with each outcome;
- ``linestream.stream.time_to_first_item`` (histogram, seconds): a stream's latency as a client feels it;
- ``linestream.stream.items``, ``linestream.stream.bytes`` (counters): what was sent;
- ``linestream.stream.refused`` (counter): streams refused by a limit (``max_streams``,
  ``max_streams_per_client``: 503 or 429 before any item);
- ``linestream.stream.blocked_time`` (counter, seconds): how long sends waited for slow clients;
- ``linestream.topic.published``, ``linestream.topic.lag`` (histogram, seconds: from a message's publish to its
  delivery to a subscriber) and ``linestream.topic.gaps``, by ``linestream.topic``, for a
  ``Topic(..., telemetry=)``;
- ``linestream.jobs.running``, ``linestream.job.duration`` (histogram, seconds, by ``linestream.outcome``:
  ``complete``, ``failed``, ``cancelled``, ``shutdown``) and ``linestream.job.items``: durable jobs;
- ``linestream.request.items`` and ``linestream.request.refused`` (counters, by ``linestream.route``; the second
  by ``http.response.status_code``): the items of streamed request bodies read, and the bodies refused midway
  (an invalid item: 422; a limit: 413, 408).

Without ``telemetry=`` nothing is measured and nothing costs; with it and no SDK installed, the API's no-op
providers record nothing. See docs/operations.md.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["OUTCOMES", "StreamRecord", "StreamTelemetry", "TopicTelemetry"]

#: How a stream can end, as ``linestream.outcome`` says it.
OUTCOMES = (
    "complete",
    "error before start",
    "truncated",
    "disconnected",
    "shutdown",
    "expired",
    "lifetime",
    "send timeout",
)
_FAILED = frozenset({"error before start", "truncated", "send timeout"})

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]


def _root_context() -> Any:
    """An OpenTelemetry context with no current span: a span started in it is a root."""
    try:
        from opentelemetry import trace
    except ImportError:  # pragma: no cover - the test environment has the API
        return None
    return trace.set_span_in_context(trace.INVALID_SPAN)


_ROOT = _root_context()


class StreamTelemetry:
    """What an app records of its streams (see the module docstring), on the OpenTelemetry providers given
    (the global ones by default)."""

    def __init__(self, *, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        try:
            from opentelemetry import metrics, trace
        except ImportError as exc:  # pragma: no cover - the test environment has the API
            raise ImportError("StreamTelemetry needs the OpenTelemetry API: pip install 'linestream[otel]'") from exc
        self._trace = trace
        self._metrics = metrics
        self.tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer("linestream")
        meter = self._meter = (meter_provider or metrics.get_meter_provider()).get_meter("linestream")
        self._topics: tuple[Any, Any, Any] | None = None
        self._jobs: tuple[Any, Any] | None = None
        #: Durable jobs running now, by route.
        self._running: dict[str, int] = {}
        #: The streams open now, by their attributes (read when the metrics are collected: no measure per stream).
        self._open: dict[tuple[str, str], int] = {}
        #: The attributes of each (route, format), and with each outcome: made once, not per stream.
        self._attributes: dict[tuple[str, ...], dict[str, str]] = {}
        meter.create_observable_up_down_counter(
            "linestream.streams.open", [self._observe_open], unit="{stream}", description="Streams being served."
        )
        self.duration = meter.create_histogram(
            "linestream.stream.duration",
            unit="s",
            description="How long streams lasted, by outcome (its count: how many streams ended so).",
        )
        self.first_item = meter.create_histogram(
            "linestream.stream.time_to_first_item",
            unit="s",
            description="From the request to the first item sent: a stream's latency.",
        )
        self.items = meter.create_counter("linestream.stream.items", unit="{item}", description="Items sent.")
        self.bytes = meter.create_counter("linestream.stream.bytes", unit="By", description="Bytes of body sent.")
        self.refusals = meter.create_counter(
            "linestream.stream.refused", unit="{stream}", description="Streams refused by a limit (503, 429)."
        )
        self.blocked = meter.create_counter(
            "linestream.stream.blocked_time", unit="s", description="Time sends waited for slow clients."
        )
        self.received = meter.create_counter(
            "linestream.request.items", unit="{item}", description="Items of streamed request bodies read."
        )
        self.bodies_refused = meter.create_counter(
            "linestream.request.refused",
            unit="{request}",
            description="Streamed request bodies refused midway (an invalid item, a limit), by status.",
        )

    def attributes(self, route: str, format: str, outcome: str | None = None) -> dict[str, str]:
        """The attributes of a measure of ``route`` in ``format`` (and ``outcome``)."""
        key = (route, format) if outcome is None else (route, format, outcome)
        found = self._attributes.get(key)
        if found is None:
            found = {"linestream.route": route, "linestream.format": format}
            if outcome is not None:
                found["linestream.outcome"] = outcome
            self._attributes[key] = found
        return found

    def _observe_open(self, options: Any) -> list[Any]:
        observation = self._metrics.Observation
        return [observation(count, self.attributes(*key)) for key, count in list(self._open.items())]

    def stream(self, route: str, format: str, keepalive: bytes | None = None) -> StreamRecord:
        """Begin the record of one stream of ``route`` in ``format`` (whose keep-alive is not an item)."""
        return StreamRecord(self, route, format, keepalive)

    def request_items(self, route: str) -> Callable[[int, int | None], None]:
        """What a streamed request body of ``route`` tells when it ends: its valid items, and the status that
        refused it (``None``: read to its end)."""
        attributes = {"linestream.route": route}

        def ended(items: int, status: int | None) -> None:
            if items:
                self.received.add(items, attributes)
            if status is not None:
                self.bodies_refused.add(1, {**attributes, "http.response.status_code": status})

        return ended

    def topic(self, name: str) -> TopicTelemetry:
        """The measures of the topic ``name`` (``Topic(..., telemetry=)``)."""
        if self._topics is None:
            meter = self._meter
            self._topics = (
                meter.create_counter("linestream.topic.published", unit="{message}", description="Messages published."),
                meter.create_histogram(
                    "linestream.topic.lag",
                    unit="s",
                    description="From a message's publish to its delivery to a subscriber (the fan-out's lag).",
                ),
                meter.create_counter(
                    "linestream.topic.gaps", unit="{gap}", description="Messages lost by a slow subscriber, as gaps."
                ),
            )
        return TopicTelemetry(name, *self._topics)

    def job(self, route: str) -> Callable[[str, int], None]:
        """A durable job of ``route`` starts; what it calls when it ends, with its outcome and items."""
        if self._jobs is None:
            meter = self._meter
            meter.create_observable_up_down_counter(
                "linestream.jobs.running", [self._observe_jobs], unit="{job}", description="Durable jobs running."
            )
            self._jobs = (
                meter.create_histogram(
                    "linestream.job.duration", unit="s", description="How long durable jobs ran, by outcome."
                ),
                meter.create_counter("linestream.job.items", unit="{item}", description="Items durable jobs stored."),
            )
        duration, stored = self._jobs
        self._running[route] = self._running.get(route, 0) + 1
        started = time.perf_counter()

        def ended(outcome: str, items: int) -> None:
            self._running[route] -= 1
            attributes = {"linestream.route": route}
            duration.record(time.perf_counter() - started, {**attributes, "linestream.outcome": outcome})
            if items:
                stored.add(items, attributes)

        return ended

    def _observe_jobs(self, options: Any) -> list[Any]:
        observation = self._metrics.Observation
        return [observation(count, {"linestream.route": route}) for route, count in list(self._running.items())]

    def refused(self, route: str, format: str) -> None:
        """A stream refused by a limit before it began (503 or 429)."""
        self.refusals.add(1, self.attributes(route, format))


class TopicTelemetry:
    """The measures of one topic: publishes (in this process), and, for its subscribers here, each message's
    lag from its publish (by the message id's clock: the publishing host's, or Redis's) and the gaps."""

    __slots__ = ("_attributes", "_gaps", "_lag", "_published")

    def __init__(self, name: str, published: Any, lag: Any, gaps: Any) -> None:
        self._attributes = {"linestream.topic": name}
        self._published, self._lag, self._gaps = published, lag, gaps

    def published(self) -> None:
        self._published.add(1, self._attributes)

    def delivered(self, published_ms: int, after_gap: bool) -> None:
        """A message published at ``published_ms`` (epoch milliseconds) reached a subscriber."""
        self._lag.record(max(time.time() * 1000 - published_ms, 0.0) / 1000, self._attributes)
        if after_gap:
            self._gaps.add(1, self._attributes)


class StreamRecord:
    """One stream's span and measures, from its start to ``end()``."""

    __slots__ = ("blocked", "first_item", "format", "keepalive", "route", "sent", "span", "started", "telemetry")

    def __init__(self, telemetry: StreamTelemetry, route: str, format: str, keepalive: bytes | None = None) -> None:
        trace = telemetry._trace
        self.telemetry = telemetry
        self.route, self.format = route, format
        current = trace.get_current_span().get_span_context()
        links = [trace.Link(current)] if current.is_valid else None
        # A root span of its own (linked to the request's): a long stream is not a long request.
        self.span = telemetry.tracer.start_span(f"stream {route}", context=_ROOT, links=links)
        self.started = time.perf_counter()
        self.first_item: float | None = None
        self.keepalive = keepalive
        self.sent = 0
        self.blocked = 0.0
        key = (route, format)
        telemetry._open[key] = telemetry._open.get(key, 0) + 1

    def wrap(self, send: Send) -> Send:
        """``send``, measuring the body bytes sent, when the first item went, and how long sends waited."""

        async def measured(message: Message) -> None:
            began = time.perf_counter()
            await send(message)
            waited = time.perf_counter() - began
            if waited > _BLOCKED:
                self.blocked += waited
            if message["type"] == "http.response.body":
                body = message.get("body", b"")
                if body:
                    self.sent += len(body)
                    if self.first_item is None and body != self.keepalive:
                        self.first_item = began - self.started

        return measured

    def end(self, outcome: str, items: int) -> None:
        """Record how the stream ended, after ``items`` items."""
        telemetry = self.telemetry
        key = (self.route, self.format)
        telemetry._open[key] -= 1  # (kept at 0: the gauge of a quiet route goes back to 0, it does not vanish)
        attributes = telemetry.attributes(*key)
        telemetry.duration.record(time.perf_counter() - self.started, telemetry.attributes(*key, outcome))
        if items:
            telemetry.items.add(items, attributes)
        if self.sent:
            telemetry.bytes.add(self.sent, attributes)
        if self.blocked:
            telemetry.blocked.add(self.blocked, attributes)
        span = self.span
        recorded: dict[str, Any] = {
            **attributes,
            "linestream.outcome": outcome,
            "linestream.items": items,
            "linestream.bytes": self.sent,
        }
        if self.first_item is not None and items:
            telemetry.first_item.record(self.first_item, attributes)
            recorded["linestream.time_to_first_item"] = self.first_item
        span.set_attributes(recorded)
        if outcome in _FAILED:
            span.set_status(telemetry._trace.Status(telemetry._trace.StatusCode.ERROR, outcome))
        span.end()


#: A send that took longer than this waited for its client (a send that does not wait takes microseconds).
_BLOCKED = 0.001
