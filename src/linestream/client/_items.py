"""What the clients' streaming calls return (``Items``, ``AsyncItems``), and the bodies and results they send and
read: JSON Lines uploads serialized as the iterable produces them, one JSON value validated as a result."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Generator, Iterable, Iterator
from typing import Any, Generic, TypeVar

import httpx
import pydantic_core

from linestream.client._errors import HTTPStatusError

__all__ = ["AsyncFollowed", "AsyncItems", "Followed", "Items", "aencode_lines", "encode_lines", "result_of", "upload"]

T = TypeVar("T")


def upload(request: dict[str, Any], content: Any) -> dict[str, Any]:
    headers = httpx.Headers(request.get("headers"))
    headers.setdefault("content-type", "application/jsonl")
    return {**request, "headers": headers, "content": content}


def encode_lines(items: Iterable[Any]) -> Iterator[bytes]:
    for value in items:
        yield pydantic_core.to_json(value, by_alias=True) + b"\n"


async def aencode_lines(items: AsyncIterable[Any] | Iterable[Any]) -> AsyncIterator[bytes]:
    if isinstance(items, AsyncIterable):
        async for value in items:
            yield pydantic_core.to_json(value, by_alias=True) + b"\n"
    else:
        for value in items:
            yield pydantic_core.to_json(value, by_alias=True) + b"\n"


def result_of(response: httpx.Response, result: Any) -> Any:
    if not response.is_success:
        raise HTTPStatusError(response, response.content)
    if result is None:
        return pydantic_core.from_json(response.content)
    from pydantic import TypeAdapter  # pydantic's models load on first use: the client imports light

    return TypeAdapter(result).validate_json(response.content)


class Items(Generic[T]):
    """The items of a streamed response: iterate it (the response closes when the iteration ends or stops), or
    use it in a ``with`` block (``with client.post_stream(...) as items:``) to close the response at its end."""

    def __init__(self, open_stream: Callable[[], contextlib.AbstractContextManager[Iterator[T]]]) -> None:
        self._open = open_stream
        self._opened: contextlib.AbstractContextManager[Iterator[T]] | None = None

    def __iter__(self) -> Iterator[T]:
        with self._open() as items:
            yield from items

    def __enter__(self) -> Iterator[T]:
        self._opened = self._open()
        return self._opened.__enter__()

    def __exit__(self, *exc_info: Any) -> bool | None:
        opened, self._opened = self._opened, None
        return opened.__exit__(*exc_info) if opened is not None else None


class AsyncItems(Generic[T]):
    """The async twin of ``Items``: ``async for``, or ``async with``."""

    def __init__(self, open_stream: Callable[[], contextlib.AbstractAsyncContextManager[AsyncIterator[T]]]) -> None:
        self._open = open_stream
        self._opened: contextlib.AbstractAsyncContextManager[AsyncIterator[T]] | None = None

    async def __aiter__(self) -> AsyncIterator[T]:
        async with self._open() as items:
            async for value in items:
                yield value

    async def __aenter__(self) -> AsyncIterator[T]:
        self._opened = self._open()
        return await self._opened.__aenter__()

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        opened, self._opened = self._opened, None
        return await opened.__aexit__(*exc_info) if opened is not None else None


class Followed(Generic[T]):
    """A stream followed as it goes (``Client.events``): an iterator (``for``, ``next()``) that is also a context
    manager, closing the stream when the block ends."""

    def __init__(self, iterator: Generator[T, None, None]) -> None:
        self._iterator = iterator

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        return next(self._iterator)

    def close(self) -> None:
        self._iterator.close()

    def __enter__(self) -> Followed[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncFollowed(Generic[T]):
    """The async twin of ``Followed``: ``async for``, ``anext()``, or ``async with``."""

    def __init__(self, iterator: AsyncGenerator[T, None]) -> None:
        self._iterator = iterator

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        return await self._iterator.__anext__()

    async def aclose(self) -> None:
        await self._iterator.aclose()

    async def __aenter__(self) -> AsyncFollowed[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
