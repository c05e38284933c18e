"""The models the tests stream, shared instead of copied into each module."""

from __future__ import annotations

from pydantic import BaseModel


class Item(BaseModel):
    """The item most streams yield: a name."""

    name: str


class PricedItem(BaseModel):
    """An item whose JSON has two fields of two types."""

    name: str
    price: float
