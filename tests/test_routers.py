"""The edges of routing: what ``include_router`` carries over, hand-built routes, custom route classes, and
dependency overrides that take path parameters."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Coroutine
from typing import Annotated, Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from linestream import APIRoute, APIRouter, Depends, LineStream
from linestream.testing import TestClient, iter_json_lines


async def plain(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"plain {request.url.path}")


async def echo_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("hello")
    await websocket.close()


def test_plain_starlette_routes_in_a_router_take_the_include_prefix() -> None:
    inner = APIRouter(
        routes=[
            Route("/plain", plain),
            WebSocketRoute("/socket", echo_socket),
            Mount("/static", routes=[Route("/file", plain)]),
        ]
    )
    app = LineStream()
    app.include_router(inner, prefix="/v1")
    with TestClient(app) as client:
        assert client.get("/v1/plain").text == "plain /v1/plain"
        assert client.get("/plain").status_code == 404
        assert client.get("/v1/static/file").text == "plain /v1/static/file"
        with client.websocket_connect("/v1/socket") as websocket:
            assert websocket.receive_text() == "hello"


async def numbers() -> AsyncIterable[int]:
    for number in range(3):
        yield number


def test_a_hand_built_api_route_is_included_with_the_router_s_prefix_and_tags() -> None:
    router = APIRouter(routes=[APIRoute("/numbers", numbers, methods=["GET"], tags=["mine"])])
    app = LineStream()
    app.include_router(router, prefix="/v2", tags=["outer"])
    with TestClient(app) as client:
        assert list(iter_json_lines(client.get("/v2/numbers"))) == [0, 1, 2]
        operation = client.get("/openapi.json").json()["paths"]["/v2/numbers"]["get"]
    assert operation["tags"] == ["outer", "mine"]


def test_routers_nest_with_their_prefixes_tags_and_dependencies() -> None:
    calls: list[str] = []

    def outer_dependency() -> None:
        calls.append("outer")

    def inner_dependency() -> None:
        calls.append("inner")

    inner = APIRouter(prefix="/inner", tags=["inner"], dependencies=[Depends(inner_dependency)])

    @inner.get("/items")
    async def items() -> AsyncIterable[int]:
        yield 1

    middle = APIRouter(prefix="/middle", tags=["middle"])
    middle.include_router(inner)
    app = LineStream()
    app.include_router(middle, prefix="/api", dependencies=[Depends(outer_dependency)])
    with TestClient(app) as client:
        assert list(iter_json_lines(client.get("/api/middle/inner/items"))) == [1]
        operation = client.get("/openapi.json").json()["paths"]["/api/middle/inner/items"]["get"]
    assert calls == ["outer", "inner"]
    assert operation["tags"] == ["middle", "inner"]


class TimedRoute(APIRoute):
    """A custom route class, as FastAPI's documentation shows: it wraps the handler to add a header."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            response = await original(request)
            response.headers["x-route-class"] = type(self).__name__
            return response

        return handler


def test_a_router_s_route_class_makes_its_routes_and_survives_include_router() -> None:
    router = APIRouter(route_class=TimedRoute)

    @router.get("/thing")
    async def thing() -> dict[str, int]:
        return {"value": 1}

    app = LineStream()
    app.include_router(router, prefix="/custom")
    assert all(isinstance(route, TimedRoute) for route in router.routes)
    assert any(isinstance(route, TimedRoute) and route.path == "/custom/thing" for route in app.routes)
    with TestClient(app) as client:
        response = client.get("/custom/thing")
    assert response.json() == {"value": 1}
    assert response.headers["x-route-class"] == "TimedRoute"


def current_owner() -> str:
    return "real"


def test_a_dependency_override_may_take_the_route_s_path_parameter() -> None:
    app = LineStream()

    @app.get("/users/{user_id}/items")
    async def items(user_id: int, owner: Annotated[str, Depends(current_owner)]) -> AsyncIterable[dict[str, Any]]:
        yield {"user_id": user_id, "owner": owner}

    def override(user_id: int) -> str:
        return f"override for {user_id}"

    app.dependency_overrides[current_owner] = override
    with TestClient(app) as client:
        response = client.get("/users/7/items")
        app.dependency_overrides.clear()
        restored = client.get("/users/7/items")
    assert list(iter_json_lines(response)) == [{"user_id": 7, "owner": "override for 7"}]
    assert list(iter_json_lines(restored)) == [{"user_id": 7, "owner": "real"}]
