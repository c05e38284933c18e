"""The shared workload: a 4-field item model and a pool of 64 varied items."""

from pydantic import BaseModel


class Item(BaseModel):
    name: str
    description: str | None
    price: float
    tags: list[str]


POOL = [
    Item(
        name=f"item {index}",
        description=None if index % 3 == 0 else "A multi-purpose household device. " * (index % 4),
        price=round(index * 1.37, 2),
        tags=[f"tag{tag}" for tag in range(index % 5)],
    )
    for index in range(64)
]
POOL_DICTS = [item.model_dump() for item in POOL]
BLOCK = bytes(range(256)) * 256  # 64 KiB
