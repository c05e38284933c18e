"""Stream plans, built once per (route, format): headers, records, keep-alives and encoders, with no server."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any, Literal

import pytest
from pydantic import BaseModel
from starlette.responses import StreamingResponse

from linestream._compile.plan import StreamPlan
from linestream._compile.route import CompiledRoute, compile_route
from linestream._declare.options import Settings
from linestream._declare.route import RouteDeclaration
from linestream.exceptions import EndpointDefinitionError, StreamItemTooLarge
from linestream.streams import FORMATS, JSON_ARRAY, JSON_LINES, JSON_SEQ, NDJSON, SSE
from tests.models import Item


async def items() -> AsyncIterable[Item]:
    yield Item(name="a")


class Token(BaseModel):
    type: Literal["token"] = "token"
    text: str


class Usage(BaseModel):
    type: Literal["usage"] = "usage"
    tokens: int


async def kinds() -> AsyncIterable[Token | Usage]:
    yield Token(text="a")


def compiled(endpoint: Any = items, base: Settings | None = None, **options: Any) -> CompiledRoute:
    declaration = RouteDeclaration.of("/x", endpoint, None, options)
    return compile_route(declaration, frozenset(), base or Settings(), "GET /x")


def plan(route: CompiledRoute, stream_format: Any) -> StreamPlan:
    return next(plan for plan in route.plans if plan.format is stream_format)


def test_one_plan_per_format_in_the_servers_order() -> None:
    assert compiled().offered_formats == FORMATS
    assert compiled(stream_formats=["sse", "jsonl"]).offered_formats == (JSON_LINES, SSE)


def test_headers_name_the_content_type_and_keep_proxies_from_buffering() -> None:
    headers = dict(plan(compiled(), SSE).headers)
    assert headers[b"content-type"] == b"text/event-stream; charset=utf-8"
    assert headers[b"cache-control"] == b"no-cache"
    assert headers[b"x-accel-buffering"] == b"no"
    assert headers[b"vary"] == b"Accept"  # several formats: caches must key on Accept
    assert b"vary" not in dict(plan(compiled(stream_formats=["jsonl"]), JSON_LINES).headers)
    assert b"stream-records" not in headers


def test_records_are_announced_and_framed_by_each_format() -> None:
    route = compiled(stream_errors="record", stream_end=True)
    for stream_format in FORMATS:
        assert dict(plan(route, stream_format).headers)[b"stream-records"] == b"error, end"
    problem = b'{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"The stream failed'
    error = RuntimeError("secret")
    # In the JSON formats a record's JSON text begins with a space (an item's never does).
    assert plan(route, JSON_LINES).error_record(error, 2).startswith(b' {"error":' + problem)  # type: ignore[misc]
    assert plan(route, SSE).error_record(error, 2).startswith(b"event: error\ndata: " + problem)  # type: ignore[misc]
    assert plan(route, JSON_ARRAY).error_record(error, 2).startswith(b', {"error":')  # type: ignore[misc]
    assert plan(route, JSON_ARRAY).error_record(error, 2).endswith(b"}}]")  # type: ignore[misc]
    assert plan(route, JSON_LINES).end_record(3) == b' {"end":{"count":3}}\n'  # type: ignore[misc]
    assert plan(route, JSON_SEQ).end_record(0) == b'\x1e {"end":{"count":0}}\n'  # type: ignore[misc]
    assert plan(route, SSE).end_record(3) == b'event: end\nid: linestream-end\ndata: {"count":3}\n\n'  # type: ignore[misc]
    assert plan(route, JSON_ARRAY).end_record is None  # its `]` ends it


def test_only_sse_can_ask_its_client_to_come_back_at_shutdown() -> None:
    route = compiled(sse_shutdown_retry=2500)
    assert plan(route, SSE).shutdown_frame == b"retry: 2500\n\n"
    assert {plan(route, f).shutdown_frame for f in (JSON_LINES, NDJSON, JSON_SEQ, JSON_ARRAY)} == {None}
    assert plan(compiled(sse_shutdown_retry=None), SSE).shutdown_frame is None


def test_keepalives_follow_each_formats_option() -> None:
    route = compiled(jsonl_keepalive=5)
    assert plan(route, SSE).keepalive == (15.0, b": ping\n\n")
    assert plan(route, JSON_LINES).keepalive == plan(route, NDJSON).keepalive == (5.0, b"\n")
    assert plan(route, JSON_SEQ).keepalive is None  # a reader of json-seq has no bytes to skip
    assert plan(compiled(), JSON_LINES).keepalive is None  # off by default: not every reader skips blank lines


def test_an_item_over_max_item_size_is_refused_by_the_encoder() -> None:
    encode = plan(compiled(max_item_size=20), JSON_LINES).encode
    assert encode(Item(name="a")) == b'{"name":"a"}'
    with pytest.raises(StreamItemTooLarge, match="max_item_size=20"):
        encode(Item(name="a long name"))


def test_kinds_are_named_by_sse_and_told_apart_by_their_tag_or_an_envelope_in_json() -> None:
    route = compiled(kinds)
    sse = plan(route, SSE)
    assert sse.framing.prefix == b""
    assert sse.framing.prefix + sse.encode(Usage(tokens=3)) + sse.framing.suffix == (
        b'event: usage\ndata: {"type":"usage","tokens":3}\n\n'
    )
    assert plan(route, JSON_LINES).encode(Usage(tokens=3)) == b'{"type":"usage","tokens":3}'
    enveloped = compiled(kinds, event_envelope=True)
    lines = plan(enveloped, JSON_LINES)
    assert dict(lines.headers)[b"stream-envelope"] == b"event"
    assert b"stream-envelope" not in dict(plan(enveloped, SSE).headers)
    assert lines.encode(Usage(tokens=3)) == b'{"event":"usage","data":{"type":"usage","tokens":3}}'


class A(BaseModel):
    a: int


class B(BaseModel):
    b: int


async def untagged() -> AsyncIterable[A | B]:
    yield A(a=1)


def test_kinds_without_a_tag_need_an_envelope_or_sse_alone() -> None:
    with pytest.raises(EndpointDefinitionError, match="cannot tell apart"):
        compiled(untagged)
    assert compiled(untagged, stream_formats=["sse"]).offered_formats == (SSE,)
    assert compiled(untagged, event_envelope=True).kinds is not None


def test_a_raw_stream_has_one_plan_that_refuses_events() -> None:
    async def chunks() -> AsyncIterable[bytes]:
        yield b"x"

    route = compiled(chunks, response_class=StreamingResponse)
    (only,) = route.plans
    assert dict(only.headers)[b"content-type"] == b"application/octet-stream"
    assert only.error_record is None
    with pytest.raises(TypeError, match="EventSourceResponse"):
        only.frame_event(object(), True)  # type: ignore[arg-type]
    with pytest.raises(EndpointDefinitionError, match="drop stream_formats"):
        compiled(chunks, response_class=StreamingResponse, stream_formats=["jsonl"])


def test_the_app_settings_are_the_base_layer() -> None:
    assert compiled(base=Settings(send_timeout=3)).settings.send_timeout == 3
    assert compiled(base=Settings(send_timeout=3), send_timeout=1).settings.send_timeout == 1


def test_each_stream_draws_its_lifetime_in_the_last_jitter_of_the_limit() -> None:
    [plan, *_] = compiled(max_stream_duration=0.2, stream_duration_jitter=0.5).plans
    drawn = [plan.lifetime_of_a_stream() for _ in range(1000)]
    assert all(d is not None and 0.1 <= d <= 0.2 for d in drawn)
    assert len(set(drawn)) > 900  # spread: not one moment for every stream opened together


def test_no_lifetime_and_no_jitter_mean_no_limit_and_the_limit_itself() -> None:
    assert compiled().plans[0].lifetime_of_a_stream() is None
    assert compiled(max_stream_duration=3, stream_duration_jitter=0).plans[0].lifetime_of_a_stream() == 3


@pytest.mark.parametrize("jitter", [-0.1, 1, 1.5, True, "0.1"])
def test_a_jitter_is_a_fraction_below_one(jitter: Any) -> None:
    with pytest.raises(ValueError, match="stream_duration_jitter must be a fraction"):
        compiled(max_stream_duration=3, stream_duration_jitter=jitter)
