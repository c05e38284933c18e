"""User code that must type-check under ``mypy --strict`` (run by the test command; never executed)."""

from collections.abc import AsyncIterable, Iterable
from typing import Annotated

from pydantic import BaseModel

from linestream import Depends, Header, HTTPException, LineStream, Query
from linestream.testing import TestClient, iter_json_lines
from linestream.topics import SerializedItem, Topic

app = LineStream()


class Item(BaseModel):
    name: str


def token(x_token: str = Header()) -> str:
    return x_token


@app.get("/items")
async def items(n: Annotated[int, Query(ge=0)] = 3, user: str = Depends(token)) -> AsyncIterable[Item]:
    if n > 100:
        raise HTTPException(status_code=400, detail="too many")
    for index in range(n):
        yield Item(name=f"{user}-{index}")


@app.get("/sync")
def sync_items() -> Iterable[Item]:
    yield Item(name="a")


def consume() -> list[str]:
    with TestClient(app) as client, client.stream("GET", "/items") as response:
        return [item.name for item in iter_json_lines(response, Item)]


# Topics: typed publish and subscribe, and a route that streams the messages.
orders = Topic("orders", Item)


@app.post("/orders")
async def place(item: Item) -> dict[str, str]:
    message_id: str = await orders.publish(item)
    return {"id": message_id}


@app.get("/orders/live")
async def live(last_event_id: Annotated[str | None, Header()] = None) -> AsyncIterable[SerializedItem[Item]]:
    async for message in orders.subscribe(last_event_id):
        name: str = message.item.name
        assert name
        yield message
