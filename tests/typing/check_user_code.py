"""User code that must type-check under ``mypy --strict`` (run by the test command; never executed)."""

from collections.abc import AsyncIterable, Iterable
from typing import Annotated

from pydantic import BaseModel

from linestream import Depends, Header, HTTPException, LineStream, Query
from linestream.testing import TestClient, iter_json_lines

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
