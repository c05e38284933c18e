"""The "Stream JSON Lines" tutorial app, written with linestream: only the imports differ.

Run it:  uvicorn examples.items:app   (or: linestream-demo)
Try it:  curl -N http://127.0.0.1:8000/items/stream
"""

from collections.abc import AsyncIterable, Iterable

from pydantic import BaseModel

from linestream import LineStream

app = LineStream(title="Items")


class Item(BaseModel):
    name: str
    description: str | None


items = [
    Item(name="Plumbus", description="A multi-purpose household device."),
    Item(name="Portal Gun", description="A portal opening device."),
    Item(name="Meeseeks Box", description="A box that summons a Meeseeks."),
]


@app.get("/items/stream")
async def stream_items() -> AsyncIterable[Item]:
    for item in items:
        yield item


@app.get("/items/stream-no-async")
def stream_items_no_async() -> Iterable[Item]:
    for item in items:
        yield item


@app.get("/items/stream-no-annotation")
async def stream_items_no_annotation():  # type: ignore[no-untyped-def]
    for item in items:
        yield item


@app.get("/items/stream-no-async-no-annotation")
def stream_items_no_async_no_annotation():  # type: ignore[no-untyped-def]
    for item in items:
        yield item
