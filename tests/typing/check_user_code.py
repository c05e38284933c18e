"""User code that must type-check under ``mypy --strict`` (run by the test command; never executed)."""

from collections.abc import AsyncIterable, Iterable
from typing import Annotated, Literal

from pydantic import BaseModel
from typing_extensions import assert_type

from linestream import APIRouter, Depends, Header, HTTPException, LineStream, Query
from linestream.client import AsyncClient, AsyncItems, Client, Items
from linestream.sse import EventSourceResponse, ServerSentEvent
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


# Server-Sent Events: events wrap typed items (docs/formats.md), and streams of several kinds of item.
class Token(BaseModel):
    type: Literal["token"] = "token"
    text: str


class Usage(BaseModel):
    type: Literal["usage"] = "usage"
    tokens: int


@app.get("/orders/events", response_class=EventSourceResponse)
async def order_events(last_event_id: Annotated[str | None, Header()] = None) -> AsyncIterable[ServerSentEvent[Item]]:
    yield ServerSentEvent(data=Item(name="a"), id="1", event="order")


@app.get("/chat", stream_end=True)
async def chat() -> AsyncIterable[ServerSentEvent[Token] | Usage]:
    yield ServerSentEvent(data=Token(text="Hel"), id="1")
    yield Usage(tokens=2)


def read_chat() -> list[str]:
    kinds: list[str] = []
    with Client("http://127.0.0.1:8000") as client:
        for event in client.events("/chat", item=Token | Usage):
            kinds.append(event.event or "")
        with client.stream("GET", "/chat", item=Token | Usage, format="jsonl") as chat_items:
            kinds.extend(type(item).__name__ for item in chat_items)
    return kinds


# Every option of a path operation is typed: a misspelt one is an error (the ignore would be unused otherwise,
# which mypy --strict reports).
@app.get("/typo", status_cod=201)  # type: ignore[call-arg]
async def typo() -> dict[str, str]:
    return {}


@app.get("/policy", stream_errors="recrod")  # type: ignore[arg-type]
async def policy() -> AsyncIterable[Item]:
    yield Item(name="x")


# The same holds where a router is included and a route is added by hand, and on a router's own options.
typed_router = APIRouter(prefix="/r", sse_keepalive=5.0, stream_end=True)
app.include_router(typed_router, prefx="/a")  # type: ignore[call-arg]
app.include_router(typed_router, prefix="/b", send_timeout=10.0, stream_errors="record")
app.add_api_route("/x", typo, stream_erors="record")  # type: ignore[call-arg]
APIRouter(sse_keepalive="5")  # type: ignore[arg-type]


def client_types_flow(client: Client, async_client: AsyncClient) -> None:
    # Events are typed by their item; the URL comes first, as in every streaming call.
    for event in client.events("/items", item=Item):
        assert_type(event.data, Item)
    with client.events("/items", item=Item, format="jsonl", headers={"x-token": "a"}) as events:
        assert_type(next(events).data, Item)
    client.get_stream("/items", item=Item, heders={"x": "y"})  # type: ignore[call-overload]
    Client("http://127.0.0.1:8000", timeout="soon")  # type: ignore[arg-type]
    assert_type(client.get_stream("/items", item=Item), Items[Item])
    assert_type(client.post_stream("/items", items=[Item(name="a")], item=Item), Items[Item])
    assert_type(client.post_items("/ingest", items=[Item(name="a")], result=Item), Item)
    assert_type(async_client.get_stream("/items", item=Item), AsyncItems[Item])
    for item in client.get_stream("/items", item=Item):
        assert_type(item, Item)
    with client.post_stream("/items", items=[Item(name="a")], item=Item) as items:
        assert_type(next(items), Item)
    with client.connect("/chat", item=Item) as chat:
        assert_type(chat.receive(), Item)
