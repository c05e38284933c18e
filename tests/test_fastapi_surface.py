"""The rest of a FastAPI app's surface: background tasks, dependency scopes, start-up and shutdown events, the
``error_format="fastapi"`` migration switch, ``jsonable_encoder`` and ``separate_input_output_schemas``."""

import dataclasses
import datetime
import enum
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from decimal import Decimal
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, computed_field

from linestream import BackgroundTasks, Depends, HTTPException, LineStream
from linestream.encoders import jsonable_encoder
from linestream.testing import TestClient, iter_json_lines

log: list[str] = []


async def resource() -> AsyncIterator[str]:
    log.append("resource opened")
    yield "resource"
    log.append("resource closed")


def early() -> Iterator[str]:
    log.append("early opened")
    yield "early"
    log.append("early closed")


def background_app() -> LineStream:
    app = LineStream()

    def write(message: str) -> None:
        log.append(f"task: {message}")

    async def write_async(message: str) -> None:
        log.append(f"async task: {message}")

    @app.post("/send/{email}")
    async def send(email: str, tasks: BackgroundTasks, r: Annotated[str, Depends(resource)]) -> dict[str, str]:
        tasks.add_task(write, f"mail to {email}")
        tasks.add_task(write_async, "then this")
        log.append("endpoint returned")
        return {"message": "sent in the background"}

    def queue_for(tasks: BackgroundTasks) -> BackgroundTasks:  # a dependency may add tasks too
        tasks.add_task(write, "from the dependency")
        return tasks

    @app.get("/stream")
    async def stream(
        tasks: Annotated[BackgroundTasks, Depends(queue_for)], r: Annotated[str, Depends(resource)]
    ) -> AsyncIterable[int]:
        tasks.add_task(write, "from the stream")
        for number in range(2):
            log.append(f"item {number}")
            yield number

    @app.get("/scopes")
    async def scopes(
        e: Annotated[str, Depends(early, scope="function")], r: Annotated[str, Depends(resource)]
    ) -> AsyncIterable[int]:
        log.append("streaming")
        yield 1

    @app.get("/scopes-plain")
    async def scopes_plain(
        e: Annotated[str, Depends(early, scope="function")], r: Annotated[str, Depends(resource)]
    ) -> dict[str, str]:
        log.append("endpoint returned")
        return {"e": e, "r": r}

    return app


def test_background_tasks_run_after_the_response_and_before_the_dependencies_exit() -> None:
    log.clear()
    with TestClient(background_app()) as client:
        response = client.post("/send/ada@example.com")
    assert response.json() == {"message": "sent in the background"}
    assert log == [
        "resource opened",
        "endpoint returned",
        "task: mail to ada@example.com",
        "async task: then this",
        "resource closed",
    ]


def test_a_stream_s_background_tasks_run_after_its_last_item() -> None:
    log.clear()
    with TestClient(background_app()) as client:
        assert list(iter_json_lines(client.get("/stream"))) == [0, 1]
    assert log == [
        "resource opened",
        "item 0",
        "item 1",
        "task: from the dependency",
        "task: from the stream",
        "resource closed",
    ]


def test_function_scoped_dependencies_exit_when_the_function_is_done() -> None:
    log.clear()
    with TestClient(background_app()) as client:
        assert client.get("/scopes-plain").json() == {"e": "early", "r": "resource"}
        plain = list(log)
        log.clear()
        assert list(iter_json_lines(client.get("/scopes"))) == [1]
    assert plain == ["early opened", "resource opened", "endpoint returned", "early closed", "resource closed"]
    assert log == ["early opened", "resource opened", "streaming", "early closed", "resource closed"]


def test_a_request_scoped_dependency_on_a_function_scoped_one_fails_at_build_time() -> None:
    from linestream import EndpointDefinitionError

    def outer(e: Annotated[str, Depends(early, scope="function")]) -> Iterator[str]:
        yield e

    app = LineStream()
    with pytest.raises(EndpointDefinitionError, match="give both the same scope"):

        @app.get("/bad")
        async def bad(o: Annotated[str, Depends(outer)]) -> None: ...

    with pytest.raises(ValueError, match="'function' or 'request'"):
        Depends(early, scope="session")


def test_startup_and_shutdown_events_run_around_the_lifespan() -> None:
    events: list[str] = []

    def started() -> None:
        events.append("on_startup")

    app = LineStream(on_startup=[started])

    with pytest.warns(DeprecationWarning, match="use a lifespan"):  # as FastAPI warns

        @app.on_event("startup")
        async def startup() -> None:
            events.append("startup")

    with pytest.warns(DeprecationWarning, match="use a lifespan"):

        @app.on_event("shutdown")
        def shutdown() -> None:
            events.append("shutdown")

    with TestClient(app):
        assert events == ["on_startup", "startup"]
    assert events == ["on_startup", "startup", "shutdown"]
    with pytest.raises(ValueError, match="startup"):
        app.on_event("teardown")  # (refused before it warns)


def fastapi_errors_app() -> LineStream:
    app = LineStream(error_format="fastapi")

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if item_id == 0:
            raise HTTPException(404, "Item not found", headers={"x-error": "there"})
        if item_id == 1:
            raise RuntimeError("a bug")
        return {"item_id": item_id}

    @app.get("/stream")
    async def stream(limit: int) -> AsyncIterable[int]:
        yield limit

    return app


def test_the_fastapi_error_format_answers_with_fastapi_s_bodies() -> None:
    with TestClient(fastapi_errors_app(), raise_server_exceptions=False) as client:
        missing = client.get("/items/0")
        invalid = client.get("/items/abc")
        failed = client.get("/items/1")
        stream = client.get("/stream")
        not_found = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Item not found"}
    assert missing.headers["x-error"] == "there"
    assert missing.headers["content-type"] == "application/json"
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["loc"] == ["path", "item_id"]
    assert invalid.json()["detail"][0]["type"] == "int_parsing"
    assert failed.status_code == 500
    assert failed.text == "Internal Server Error"
    assert stream.json()["detail"][0]["loc"] == ["query", "limit"]
    assert not_found.json() == {"detail": "Not Found"}
    with pytest.raises(ValueError, match="error_format"):
        LineStream(error_format="xml")


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Record(BaseModel):
    id: uuid.UUID
    when: datetime.datetime
    color: Color
    tags: set[str]
    point: Point
    price: Decimal
    note: str | None = None


def test_jsonable_encoder_gives_plain_json_data() -> None:
    record = Record(
        id=uuid.UUID(int=1),
        when=datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc),
        color=Color.RED,
        tags={"a"},
        point=Point(1, 2),
        price=Decimal("1.50"),
    )
    assert jsonable_encoder(record) == {
        "id": "00000000-0000-0000-0000-000000000001",
        "when": "2026-12-01T12:00:00Z",
        "color": "red",
        "tags": ["a"],
        "point": {"x": 1, "y": 2},
        "price": "1.50",
        "note": None,
    }
    assert jsonable_encoder(record, exclude_none=True, include={"color", "note"}) == {"color": "red"}
    assert jsonable_encoder({"when": datetime.date(2026, 1, 2), "items": (1, 2)}) == {
        "when": "2026-01-02",
        "items": [1, 2],
    }
    assert jsonable_encoder({"a": 1, "b": 2}, exclude={"b"}) == {"a": 1}

    class Opaque:
        def __init__(self) -> None:
            self.value = 3

    assert jsonable_encoder([Opaque()]) == [{"value": 3}]
    assert jsonable_encoder(Opaque(), custom_encoder={Opaque: lambda o: f"opaque {o.value}"}) == "opaque 3"
    assert jsonable_encoder({"o": Opaque()}, custom_encoder={Opaque: lambda o: o.value}) == {"o": 3}


class Priced(BaseModel):
    name: str
    price: float = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def label(self) -> str:
        return f"{self.name}: {self.price}"


def priced_app(**options: Any) -> LineStream:
    app = LineStream(**options)

    @app.post("/priced")
    async def create(item: Priced) -> Priced:
        return item

    return app


@pytest.mark.parametrize(("separate", "names"), [(True, {"Priced-Input", "Priced-Output"}), (False, {"Priced"})])
def test_separate_input_output_schemas(separate: bool, names: set[str]) -> None:
    with TestClient(priced_app(separate_input_output_schemas=separate)) as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert names <= set(schemas)
    assert not ({"Priced", "Priced-Input", "Priced-Output"} - names) & set(schemas)
