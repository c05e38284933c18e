"""Typed durable streams: ``DurableStreams(item_type=Order)`` validates every JSON item appended (a 422 problem
naming the item and the field, and nothing stored), and documents reads with the item's schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from linestream import LineStream
from linestream.durable import DurableStreams
from linestream.testing import TestClient


class Order(BaseModel):
    id: int
    item: str


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = LineStream()
    app.include_router(DurableStreams(item_type=Order), prefix="/orders")
    with TestClient(app) as client:
        yield client


JSON = {"Content-Type": "application/json"}


def test_valid_items_are_appended(client: TestClient) -> None:
    assert client.put("/orders/today", headers=JSON, content=b'[{"id": 1, "item": "tea"}]').status_code == 201
    assert client.post("/orders/today", headers=JSON, content=b'{"id": 2, "item": "cake"}').status_code == 204
    assert client.get("/orders/today").json() == [{"id": 1, "item": "tea"}, {"id": 2, "item": "cake"}]


def test_an_item_of_another_shape_is_refused_and_nothing_of_its_append_is_stored(client: TestClient) -> None:
    client.put("/orders/today", headers=JSON)
    answer = client.post("/orders/today", headers=JSON, content=b'[{"id": 1, "item": "tea"}, {"id": "two"}]')
    assert answer.status_code == 422
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert problem["detail"].startswith("Item 1 is not a valid Order (id: ")
    assert [error["loc"] for error in problem["errors"]] == [["body", 1, "id"], ["body", 1, "item"]]
    assert client.get("/orders/today").json() == []


def test_a_typed_router_makes_json_streams_only(client: TestClient) -> None:
    answer = client.put("/orders/bytes", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 400
    assert "application/json" in answer.json()["detail"]


def test_reads_are_documented_with_the_items_schema(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    read = document["paths"]["/orders/{path}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert read["type"] == "array"
    assert read["items"] == {"$ref": "#/components/schemas/Order"}
    assert set(document["components"]["schemas"]["Order"]["properties"]) == {"id", "item"}
