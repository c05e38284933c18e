"""Stream options: one type, checked in one place, layered app -> router -> include -> route (the nearest wins)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterable
from typing import Any

import pytest

from linestream import APIRouter, EndpointDefinitionError, LineStream
from linestream._declare.options import STREAM_OPTION_NAMES, Settings, StreamOptions
from linestream.sse import EventSourceResponse
from linestream.streams import JSON_LINES, SSE


async def ticks() -> AsyncIterable[int]:
    yield 1


def settings_of(app: LineStream, path: str) -> Settings:
    (route,) = [route for route in app.routes if getattr(route, "path", None) == path]
    return route.compiled.settings  # type: ignore[attr-defined, no-any-return]


def test_every_stream_option_is_a_setting_with_a_default() -> None:
    fields = {field.name: field for field in dataclasses.fields(Settings)}
    assert set(StreamOptions.__annotations__) == STREAM_OPTION_NAMES
    assert set(fields) >= STREAM_OPTION_NAMES


def test_the_nearest_layer_wins() -> None:
    app = LineStream(sse_keepalive=10, send_timeout=9, stream_end=False)
    inner = APIRouter(prefix="/inner", sse_keepalive=5)
    inner.add_api_route("/router", ticks)
    inner.add_api_route("/route", ticks, sse_keepalive=1)
    outer = APIRouter(stream_end=True)
    outer.include_router(inner, send_timeout=7)
    app.include_router(outer, prefix="/api")
    app.add_api_route("/app", ticks)
    assert (settings_of(app, "/app").sse_keepalive, settings_of(app, "/app").send_timeout) == (10, 9)
    router = settings_of(app, "/api/inner/router")
    assert (router.sse_keepalive, router.send_timeout, router.stream_end) == (5, 7, True)
    assert settings_of(app, "/api/inner/route").sse_keepalive == 1


def test_options_an_app_sets_alone_are_not_taken_by_routers() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'max_streams'"):
        APIRouter(max_streams=3)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: LineStream(stream_erors="record"),
            r"LineStream\(\) got an unexpected keyword argument "
            r"'stream_erors'; did you mean 'stream_errors'\?",
        ),
        (lambda: APIRouter(sse_keepalvie=3), "did you mean 'sse_keepalive'"),
        (lambda: LineStream().add_api_route("/x", ticks, stream_erors="record"), "did you mean 'stream_errors'"),
        (lambda: LineStream().include_router(APIRouter(), prefx="/a"), "unexpected keyword argument 'prefx'"),
    ],
)
def test_a_misspelt_option_is_refused_at_once(make: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        make()


def test_each_layer_is_checked_naming_who_set_it() -> None:
    with pytest.raises(ValueError, match=r"APIRouter\(prefix='/a'\): sse_keepalive must be a positive number"):
        APIRouter(prefix="/a", sse_keepalive=-1)
    with pytest.raises(ValueError, match=r"include_router\(prefix='/b'\): stream_errors must be 'truncate' or"):
        LineStream().include_router(APIRouter(), prefix="/b", stream_errors="loud")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"test_options.ticks: stream_end must be True or False"):
        LineStream().add_api_route("/x", ticks, stream_end="yes")  # type: ignore[arg-type]
    with pytest.raises(EndpointDefinitionError, match=r"LineStream: stream_formats=\[\] leaves no format"):
        LineStream(stream_formats=[])


def test_a_router_may_restrict_formats_and_an_sse_route_under_it_still_serves_sse() -> None:
    app = LineStream()
    router = APIRouter(stream_formats=["jsonl"])
    router.add_api_route("/plain", ticks)
    router.add_api_route("/events", ticks, response_class=EventSourceResponse)
    app.include_router(router)
    assert settings_of(app, "/plain").stream_formats == (JSON_LINES,)
    assert settings_of(app, "/events").stream_formats == (SSE,)


def test_a_route_included_through_two_routers_is_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import linestream._compile.route as compile_module

    analysed: list[str] = []
    original = compile_module.analyse_endpoint

    def counting(call: Any, **options: Any) -> Any:
        analysed.append(call.__name__)
        return original(call, **options)

    monkeypatch.setattr(compile_module, "analyse_endpoint", counting)
    inner = APIRouter(prefix="/inner")
    inner.add_api_route("/ticks", ticks)
    middle = APIRouter(prefix="/middle")
    middle.include_router(inner)
    outer = APIRouter()
    outer.include_router(middle, prefix="/outer")
    assert analysed == []  # declared and copied, not compiled
    app = LineStream()
    app.include_router(outer)
    assert analysed == ["ticks"]
    assert [route.path for route in app.routes if route.path.endswith("ticks")] == ["/outer/middle/inner/ticks"]
