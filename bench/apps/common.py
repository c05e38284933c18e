"""The shared workload: a 4-field item model and a pool of 64 items, light or varied.

``BENCH_POOL=varied`` (set by ``bench/run`` for its second pass) swaps the light pool for one closer to real
text: non-ASCII characters, JSON escapes (quotes, backslashes, newlines, tabs), a 300-character string, and 0-9
tags per item, about 185 bytes per JSON line on average.
"""

import os

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
WORDS = ["café", "naïve", "Zürich", "東京", "emoji 🚀", 'say "hi"', "back\\slash", "tab\tand\nnewline", "plain"]


def _varied(index: int) -> Item:
    text = " ".join(WORDS[(index + offset) % len(WORDS)] for offset in range(index % 5))
    return Item(
        name=f"item {index} {WORDS[index % len(WORDS)]}",
        description=None if index % 7 == 0 else ("x" * 300 if index % 11 == 0 else text or None),
        price=round(index * 13.37 + 0.01, 2),
        tags=[f"{WORDS[(index + tag) % len(WORDS)]}-{tag}" for tag in range(index % 10)],
    )


#: Which pool this run uses: "light" (above) or "varied".
POOL_NAME = os.environ.get("BENCH_POOL", "light")
if POOL_NAME == "varied":
    POOL = [_varied(index) for index in range(64)]
POOL_DICTS = [item.model_dump() for item in POOL]
BLOCK = bytes(range(256)) * 256  # 64 KiB
