"""The OpenAPI documents (3.1 default, 3.2 opt-in) validate and describe streams, parameters and errors."""

from collections.abc import AsyncIterable, Iterable
from typing import Annotated

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel

from linestream import APIRouter, Body, Header, LineStream, Query
from linestream.testing import TestClient


class Item(BaseModel):
    name: str
    description: str | None = None


def build(**options: object) -> LineStream:
    app = LineStream(title="Shop", version="1.2.3", **options)  # type: ignore[arg-type]
    router = APIRouter(prefix="/items", tags=["items"])

    @router.get("/stream")
    async def stream_items(limit: Annotated[int, Query(ge=1, description="How many")] = 10) -> AsyncIterable[Item]:
        """Stream the catalogue."""
        yield Item(name="a")

    @router.get("/untyped")
    def untyped(x_request_id: str | None = Header(None)):  # type: ignore[no-untyped-def]
        yield {"any": "thing"}

    @router.post("/", status_code=201)
    async def create(item: Item) -> Item:
        return item

    @router.get("/sync")
    def sync_stream() -> Iterable[Item]:
        yield Item(name="b")

    app.include_router(router)
    return app


def test_default_document_is_valid_openapi_3_1() -> None:
    document = build().openapi()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_stream_is_documented_as_an_array_with_an_item_schema_in_3_1() -> None:
    operation = build().openapi()["paths"]["/items/stream"]["get"]
    media = operation["responses"]["200"]["content"]["application/jsonl"]
    item_ref = {"$ref": "#/components/schemas/Item"}
    assert media["schema"] == {"type": "array", "items": item_ref}
    assert media["x-oai-itemSchema"] == item_ref
    assert operation["description"] == "Stream the catalogue."
    assert operation["tags"] == ["items"]
    assert operation["parameters"] == [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "default": 10, "title": "Limit", "description": "How many"},
            "description": "How many",
        }
    ]
    assert operation["responses"]["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationProblem"
    }


def test_untyped_stream_has_an_open_item_schema() -> None:
    operation = build().openapi()["paths"]["/items/untyped"]["get"]
    assert operation["responses"]["200"]["content"]["application/jsonl"]["x-oai-itemSchema"] == {}
    assert operation["parameters"][0]["name"] == "x-request-id"
    assert operation["parameters"][0]["in"] == "header"


def test_ordinary_endpoints_document_body_and_response() -> None:
    operation = build().openapi()["paths"]["/items/"]["post"]
    assert operation["requestBody"] == {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}},
        "required": True,
    }
    assert operation["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Item"
    }


def test_openapi_3_2_document_uses_item_schema_and_validates() -> None:
    document = build(openapi_version="3.2.0").openapi()
    assert document["openapi"] == "3.2.0"
    validate(document)
    media = document["paths"]["/items/sync"]["get"]["responses"]["200"]["content"]["application/jsonl"]
    assert media == {"itemSchema": {"$ref": "#/components/schemas/Item"}}


def test_unknown_openapi_version_is_refused() -> None:
    with pytest.raises(ValueError, match="openapi_version"):
        LineStream(openapi_version="3.0.3")


def test_document_and_docs_page_are_served_offline() -> None:
    app = build()
    with TestClient(app) as client:
        assert client.get("/openapi.json").json() == app.openapi()
        page = client.get("/docs")
        assert page.status_code == 200
        assert "/docs/static/swagger-ui-bundle.js" in page.text
        assert "http" not in page.text.split("<body>")[1].replace('"url": "/openapi.json"', "")
        asset = client.get("/docs/static/swagger-ui-bundle.js")
        assert asset.status_code == 200
        assert len(asset.content) > 100_000
        assert client.get("/docs/static/swagger-ui.css").status_code == 200


def test_document_and_docs_can_be_disabled() -> None:
    app = LineStream(openapi_url=None, docs_url=None)
    with TestClient(app) as client:
        assert client.get("/openapi.json").status_code == 404
        assert client.get("/docs").status_code == 404


def test_tutorial_app_document_is_valid() -> None:
    from examples.items import app

    document = app.openapi()
    validate(document)
    assert set(document["paths"]) == {
        "/items/stream",
        "/items/stream-no-async",
        "/items/stream-no-annotation",
        "/items/stream-no-async-no-annotation",
    }


def test_operation_options_and_app_metadata_appear_in_the_document() -> None:
    app = LineStream(
        title="Meta",
        version="2",
        summary="Short",
        description="Long",
        servers=[{"url": "https://api.example.test"}],
        openapi_tags=[{"name": "things", "description": "Things"}],
    )

    @app.put(
        "/things/{thing_id}",
        tags=["things"],
        summary="Replace a thing",
        operation_id="replaceThing",
        deprecated=True,
        responses={404: {"description": "No such thing"}, 409: {}},
        openapi_extra={"x-audit": True},
    )
    async def replace(
        thing_id: int, item: Item, note: str = Body(), hidden: str = Query("", include_in_schema=False)
    ) -> None:
        return None

    document = app.openapi()
    validate(document)
    assert document["info"] == {"title": "Meta", "version": "2", "summary": "Short", "description": "Long"}
    assert document["servers"] == [{"url": "https://api.example.test"}]
    assert document["tags"] == [{"name": "things", "description": "Things"}]
    operation = document["paths"]["/things/{thing_id}"]["put"]
    assert operation["summary"] == "Replace a thing"
    assert operation["operationId"] == "replaceThing"
    assert operation["deprecated"] is True
    assert operation["x-audit"] is True
    assert [p["name"] for p in operation["parameters"]] == ["thing_id"]
    assert operation["parameters"][0]["required"] is True
    body_ref = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body_ref == {"$ref": "#/components/schemas/Body_replaceThing"}  # named as FastAPI names it
    body = document["components"]["schemas"]["Body_replaceThing"]
    assert body["required"] == ["item", "note"]
    assert body["properties"]["item"] == {"$ref": "#/components/schemas/Item"}
    assert operation["responses"]["404"] == {"description": "No such thing"}
    assert operation["responses"]["409"] == {"description": "Conflict"}
    assert "content" in operation["responses"]["200"]


def test_routes_with_identical_header_parameters_share_nothing_in_components() -> None:
    app = LineStream()

    @app.get("/a")
    async def a(last_event_id: Annotated[str | None, Header()] = None) -> AsyncIterable[int]:
        yield 1

    @app.get("/b")
    async def b(last_event_id: Annotated[str | None, Header()] = None) -> AsyncIterable[int]:
        yield 2

    document = app.openapi()
    validate(document)
    for path in ("/a", "/b"):
        (parameter,) = document["paths"][path]["get"]["parameters"]
        assert parameter["name"] == "last-event-id"
    assert "HeaderParams" not in document.get("components", {}).get("schemas", {})


def test_a_kinds_tag_is_required_in_what_the_server_sends_and_optional_in_what_it_takes() -> None:
    from typing import Literal

    class Token(BaseModel):
        type: Literal["token"] = "token"
        text: str

    app = LineStream()

    @app.post("/echo")
    async def echo(token: Token) -> Token:
        return token

    schemas = app.openapi()["components"]["schemas"]
    assert sorted(schemas["Token-Output"]["required"]) == ["text", "type"]  # always serialized: a client narrows
    assert schemas["Token-Input"]["required"] == ["text"]  # a client may leave the default out
