"""Parameters, bodies, dependencies, injection, errors and app wiring, through the public API."""

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from enum import Enum, StrEnum
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import PlainTextResponse

from linestream import (
    APIRouter,
    Body,
    Cookie,
    Depends,
    Header,
    HTTPException,
    LineStream,
    Path,
    Query,
    Request,
    Response,
)
from linestream.testing import TestClient, iter_json_lines


class Item(BaseModel):
    name: str
    price: float = Field(gt=0)
    tags: list[str] = []


def test_query_parameters_are_validated_and_converted() -> None:
    app = LineStream()

    @app.get("/items")
    async def items(n: int = 2, q: Annotated[str | None, Query(max_length=5)] = None) -> AsyncIterable[dict[str, Any]]:
        for index in range(n):
            yield {"index": index, "q": q}

    with TestClient(app) as client:
        assert client.get("/items?n=3&q=abc").text.count("\n") == 3
        response = client.get("/items?n=abc&q=toolong")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert [error["loc"] for error in problem["errors"]] == [["query", "n"], ["query", "q"]]
    assert problem["errors"][0]["type"] == "int_parsing"
    assert "query.n" in problem["detail"]


def test_required_query_parameter_missing_is_named() -> None:
    app = LineStream()

    @app.get("/search")
    async def search(term: str) -> dict[str, str]:
        return {"term": term}

    with TestClient(app) as client:
        assert client.get("/search?term=x").json() == {"term": "x"}
        error = client.get("/search").json()["errors"][0]
    assert error["loc"] == ["query", "term"]
    assert error["type"] == "missing"


def test_list_query_parameter_collects_repeated_keys() -> None:
    app = LineStream()

    @app.get("/tags")
    async def tags(tag: Annotated[list[str], Query()] = []) -> list[str]:  # noqa: B006
        return tag

    with TestClient(app) as client:
        assert client.get("/tags?tag=a&tag=b").json() == ["a", "b"]
        assert client.get("/tags").json() == []


def test_path_header_and_cookie_parameters() -> None:
    app = LineStream()

    @app.get("/items/{item_id}")
    async def read(
        item_id: Annotated[int, Path(ge=1)],
        x_token: Annotated[str, Header()],
        session: str | None = Cookie(None),
        user_agent: str = Header("none"),
    ) -> dict[str, Any]:
        return {"id": item_id, "token": x_token, "session": session, "agent": user_agent}

    with TestClient(app, cookies={"session": "s"}) as client:
        response = client.get("/items/7", headers={"X-Token": "t", "User-Agent": "ua"})
        assert response.json() == {"id": 7, "token": "t", "session": "s", "agent": "ua"}
        errors = client.get("/items/0").json()["errors"]
    assert sorted(error["loc"][0] for error in errors) == ["header", "path"]
    assert ["path", "item_id"] in [error["loc"] for error in errors]
    assert ["header", "x-token"] in [error["loc"] for error in errors]


def test_single_body_parameter_is_the_whole_body() -> None:
    app = LineStream()

    @app.post("/items", status_code=201)
    async def create(item: Item) -> Item:
        return item

    with TestClient(app) as client:
        created = client.post("/items", json={"name": "a", "price": 2})
        assert created.status_code == 201
        assert created.json() == {"name": "a", "price": 2.0, "tags": []}
        invalid = client.post("/items", json={"name": "a", "price": -1}).json()["errors"]
        missing = client.post("/items").json()["errors"]
        broken = client.post("/items", content=b"{not json", headers={"content-type": "application/json"})
        wrong_type = client.post("/items", content=b"name=a", headers={"content-type": "text/plain"})
    assert invalid[0]["loc"] == ["body", "price"]
    assert missing[0]["loc"] == ["body"]
    assert broken.status_code == 422
    assert broken.json()["errors"][0]["type"] == "json_invalid"
    assert wrong_type.status_code == 415


def test_several_body_parameters_are_embedded_by_name() -> None:
    app = LineStream()

    @app.put("/items/{item_id}")
    async def update(item_id: int, item: Item, importance: Annotated[int, Body()]) -> dict[str, Any]:
        return {"id": item_id, "item": item.name, "importance": importance}

    with TestClient(app) as client:
        response = client.put("/items/3", json={"item": {"name": "x", "price": 1}, "importance": 5})
        assert response.json() == {"id": 3, "item": "x", "importance": 5}
        errors = client.put("/items/3", json={"item": {"name": "x", "price": 0}}).json()["errors"]
    assert sorted(error["loc"] for error in errors) == [["body", "importance"], ["body", "item", "price"]]


def test_streaming_endpoint_takes_a_body_and_parameters() -> None:
    app = LineStream()

    @app.post("/repeat")
    async def repeat(item: Item, times: int = 2) -> AsyncIterable[Item]:
        for _ in range(times):
            yield item

    with TestClient(app) as client, client.stream("POST", "/repeat?times=3", json={"name": "a", "price": 1}) as r:
        assert [item.name for item in iter_json_lines(r, Item)] == ["a", "a", "a"]


def test_dependencies_sync_async_and_yield_are_cached_per_request() -> None:
    app = LineStream()
    calls: list[str] = []

    def settings() -> dict[str, str]:
        calls.append("settings")
        return {"prefix": "p"}

    async def user(token: str = Header(), config: dict[str, str] = Depends(settings)) -> str:
        calls.append("user")
        return config["prefix"] + token

    async def session(config: dict[str, str] = Depends(settings)) -> AsyncIterator[str]:
        calls.append("session open")
        yield "session"
        calls.append("session closed")

    def sync_session() -> Iterator[str]:
        calls.append("sync open")
        yield "sync"
        calls.append("sync closed")

    @app.get("/me")
    async def me(
        name: str = Depends(user),
        db: str = Depends(session),
        other: str = Depends(sync_session),
        config: dict[str, str] = Depends(settings),
    ) -> AsyncIterable[str]:
        calls.append("endpoint")
        yield f"{name}:{db}:{other}:{config['prefix']}"

    with TestClient(app) as client:
        assert client.get("/me", headers={"token": "t"}).text == '"pt:session:sync:p"\n'
        assert client.get("/me").json()["errors"][0]["loc"] == ["header", "token"]
    assert calls[:7] == ["settings", "user", "session open", "sync open", "endpoint", "sync closed", "session closed"]
    assert "endpoint" not in calls[7:]


def test_yield_dependency_sees_the_endpoint_exception() -> None:
    app = LineStream()
    seen: list[str] = []

    async def guarded() -> AsyncIterator[None]:
        try:
            yield
        except ValueError as exc:
            seen.append(str(exc))
            raise HTTPException(status_code=409, detail="conflict") from exc

    @app.get("/conflict")
    async def conflict(_: None = Depends(guarded)) -> dict[str, str]:
        raise ValueError("clash")

    with TestClient(app) as client:
        response = client.get("/conflict")
    assert response.status_code == 409
    assert seen == ["clash"]


def test_route_and_router_dependencies_run_first() -> None:
    order: list[str] = []

    async def verify(x_key: str = Header()) -> None:
        order.append("verify")
        if x_key != "secret":
            raise HTTPException(status_code=403, detail="bad key")

    router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(verify)])

    @router.get("/stats")
    async def stats() -> dict[str, int]:
        order.append("stats")
        return {"users": 1}

    app = LineStream()
    app.include_router(router, prefix="/v1")
    with TestClient(app) as client:
        assert client.get("/v1/admin/stats", headers={"x-key": "secret"}).json() == {"users": 1}
        assert client.get("/v1/admin/stats", headers={"x-key": "nope"}).status_code == 403
    assert order == ["verify", "stats", "verify"]
    assert app.openapi()["paths"]["/v1/admin/stats"]["get"]["tags"] == ["admin"]


def test_request_and_response_injection_set_headers_on_a_stream() -> None:
    app = LineStream()

    @app.get("/trace")
    async def trace(request: Request, response: Response) -> AsyncIterable[str]:
        response.headers["x-trace"] = request.headers.get("x-request-id", "none")
        response.set_cookie("seen", "1")
        yield request.url.path

    with TestClient(app) as client:
        response = client.get("/trace", headers={"x-request-id": "abc"})
    assert response.headers["x-trace"] == "abc"
    assert response.cookies["seen"] == "1"
    assert response.text == '"/trace"\n'


def test_response_status_code_can_be_set_by_the_endpoint() -> None:
    app = LineStream()

    @app.post("/jobs")
    async def submit(response: Response) -> dict[str, str]:
        response.status_code = 202
        return {"state": "queued"}

    with TestClient(app) as client:
        response = client.post("/jobs")
    assert response.status_code == 202
    assert response.json() == {"state": "queued"}


def test_ordinary_endpoint_validates_and_filters_its_return_value() -> None:
    class Public(BaseModel):
        name: str

    class Private(Public):
        password: str

    app = LineStream()

    @app.get("/user")
    async def user() -> Public:
        return Private(name="a", password="secret")

    @app.get("/broken", response_model=Public)
    def broken() -> Any:
        return {"nom": "a"}

    @app.get("/text", response_class=PlainTextResponse)
    def text() -> str:
        return "hello"

    @app.get("/raw")
    async def raw() -> Response:
        return Response(b"raw", media_type="application/octet-stream")

    @app.delete("/gone", status_code=204)
    async def gone() -> None:
        return None

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/user").json() == {"name": "a"}
        assert client.get("/broken").status_code == 500
        assert client.get("/text").text == "hello"
        assert client.get("/raw").content == b"raw"
        assert client.delete("/gone").status_code == 204


def test_response_model_exclude_none_applies_to_stream_items() -> None:
    class Entry(BaseModel):
        name: str
        note: str | None = None

    app = LineStream()

    @app.get("/entries", response_model_exclude_none=True)
    async def entries() -> AsyncIterable[Entry]:
        yield Entry(name="a")
        yield Entry(name="b", note="n")

    with TestClient(app) as client:
        assert client.get("/entries").text == '{"name":"a"}\n{"name":"b","note":"n"}\n'


def test_custom_exception_handler_and_middleware_and_lifespan() -> None:
    class Teapot(Exception):
        pass

    async def teapot_handler(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("short and stout", status_code=418)

    class Stamp(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            response = await call_next(request)
            response.headers["x-stamp"] = "1"
            return response

    state: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: LineStream) -> AsyncIterator[None]:
        state.append("startup")
        yield
        state.append("shutdown")

    app = LineStream(
        exception_handlers={Teapot: teapot_handler},
        middleware=[Middleware(Stamp)],
        lifespan=lifespan,
    )

    @app.get("/tea")
    async def tea() -> AsyncIterable[str]:
        raise Teapot()
        yield "never"  # pragma: no cover

    @app.get("/lines")
    async def lines() -> AsyncIterable[int]:
        for index in range(3):
            yield index

    with TestClient(app) as client:
        assert state == ["startup"]
        response = client.get("/tea")
        assert (response.status_code, response.text, response.headers["x-stamp"]) == (418, "short and stout", "1")
        assert client.get("/lines").text == "0\n1\n2\n"
    assert state == ["startup", "shutdown"]


def test_dependency_overrides_replace_a_dependency() -> None:
    app = LineStream()

    def real() -> str:
        return "real"

    @app.get("/which")
    async def which(value: str = Depends(real)) -> str:
        return value

    app.dependency_overrides[real] = lambda: "fake"
    with TestClient(app) as client:
        assert client.get("/which").json() == "fake"


def test_method_not_allowed_and_not_found_are_problems() -> None:
    app = LineStream()

    @app.get("/only-get")
    async def only_get() -> str:
        return "ok"

    with TestClient(app) as client:
        assert client.post("/only-get").status_code == 405
        assert client.get("/nowhere").json()["title"] == "Not Found"


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_every_method_decorator_registers_its_method(method: str) -> None:
    router = APIRouter()

    async def endpoint() -> dict[str, str]:
        return {"method": method}

    getattr(router, method)("/x")(endpoint)
    app = LineStream()
    app.include_router(router)
    with TestClient(app) as client:
        assert client.request(method.upper(), "/x").json() == {"method": method}


def test_http_exception_headers_and_non_string_detail() -> None:
    app = LineStream()

    @app.get("/limited")
    async def limited() -> None:
        raise HTTPException(status_code=429, detail={"retry": 5}, headers={"Retry-After": "5"})

    @app.get("/unchanged")
    async def unchanged() -> None:
        raise HTTPException(status_code=304)

    with TestClient(app) as client:
        response = client.get("/limited")
        assert response.status_code == 429
        assert response.headers["retry-after"] == "5"
        assert response.json()["detail"] == {"retry": 5}
        unchanged_response = client.get("/unchanged")
        assert unchanged_response.status_code == 304
        assert unchanged_response.content == b""


class Colour(str, Enum):
    red = "red"
    green = "green"


class Size(StrEnum):
    small = "S"
    large = "L"


def test_enum_and_literal_parameters_validate_in_every_location() -> None:
    app = LineStream()

    @app.get("/paint/{colour}")
    async def paint(
        colour: Colour,
        size: Size = Size.small,
        finish: Literal["matte", "gloss"] = "matte",
        extras: Annotated[list[Colour], Query()] = [],  # noqa: B006 - a declaration, as in FastAPI
        x_size: Annotated[Size | None, Header()] = None,
        shade: Annotated[Colour | None, Cookie()] = None,
    ) -> dict[str, Any]:
        return {
            "colour": colour,
            "size": size,
            "finish": finish,
            "extras": extras,
            "x_size": x_size,
            "shade": shade,
        }

    with TestClient(app) as client:
        client.cookies.set("shade", "green")
        response = client.get("/paint/red?size=L&finish=gloss&extras=green&extras=red", headers={"x-size": "S"})
        assert response.status_code == 200, response.text
        assert response.json() == {
            "colour": "red",
            "size": "L",
            "finish": "gloss",
            "extras": ["green", "red"],
            "x_size": "S",
            "shade": "green",
        }
        client.cookies.clear()
        bad = client.get("/paint/blue?size=M&finish=shiny&extras=pink", headers={"x-size": "XL"})
        assert bad.status_code == 422
        locations = sorted(tuple(error["loc"]) for error in bad.json()["errors"])
        assert locations == [
            ("header", "x-size"),
            ("path", "colour"),
            ("query", "extras", 0),
            ("query", "finish"),
            ("query", "size"),
        ]
