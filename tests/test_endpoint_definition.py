"""Mis-declared path operations fail when the route is registered, naming the function and the fix."""

import re
from collections.abc import AsyncGenerator, AsyncIterable, Generator, Iterable, Iterator
from typing import Annotated, Any

import pytest

from linestream import Depends, EndpointDefinitionError, LineStream, Path, Query
from tests.models import Item


class NotPydantic:
    pass


def register(function: Any, path: str = "/x", **options: Any) -> LineStream:
    app = LineStream()
    app.get(path, **options)(function)
    return app


def test_async_generator_annotated_as_a_sync_iterable_is_refused() -> None:
    async def stream() -> Iterable[Item]:  # type: ignore[misc]
        yield Item(name="a")

    with pytest.raises(EndpointDefinitionError, match=r"stream.*AsyncIterable\[Item\]"):
        register(stream)


def test_generator_with_a_non_stream_annotation_is_refused() -> None:
    def stream() -> Item:  # type: ignore[misc]
        yield Item(name="a")

    with pytest.raises(EndpointDefinitionError, match=r"not a stream type.*Iterable\[Item\]"):
        register(stream)


def test_item_type_pydantic_cannot_handle_is_refused() -> None:
    async def stream() -> AsyncIterable[NotPydantic]:
        yield NotPydantic()

    with pytest.raises(EndpointDefinitionError, match=r"Pydantic cannot validate the item type"):
        register(stream)


def test_generator_with_a_send_type_is_refused() -> None:
    async def stream() -> AsyncGenerator[Item, int]:
        yield Item(name="a")

    with pytest.raises(EndpointDefinitionError, match="send type"):
        register(stream)


def test_non_generator_returning_a_stream_type_is_refused() -> None:
    async def stream() -> AsyncIterable[Item]:
        return iter([])  # type: ignore[return-value]

    with pytest.raises(EndpointDefinitionError, match="not a generator"):
        register(stream)


def test_structured_query_parameter_is_refused() -> None:
    async def endpoint(filters: dict[str, str] = Query()) -> None:
        return None

    with pytest.raises(EndpointDefinitionError, match=r"query parameter 'filters'.*Body\(\)"):
        register(endpoint)


def test_path_parameter_missing_from_the_path_is_refused() -> None:
    async def endpoint(item_id: int = Path()) -> None:
        return None

    with pytest.raises(EndpointDefinitionError, match=r"no \{item_id\}"):
        register(endpoint)


def test_unresolvable_annotation_is_refused() -> None:
    async def endpoint(x: "Undefined") -> None:  # type: ignore[name-defined]  # noqa: F821
        return None

    with pytest.raises(EndpointDefinitionError, match="cannot resolve the annotation 'Undefined'"):
        register(endpoint)


def test_two_markers_on_one_parameter_are_refused() -> None:
    async def endpoint(x: Annotated[int, Query()] = Query(3)) -> None:
        return None

    with pytest.raises(EndpointDefinitionError, match="more than one marker"):
        register(endpoint)


def test_circular_dependencies_are_refused() -> None:
    def first(value: Any = Depends(lambda: None)) -> None:
        return None

    def second(value: None = Depends(first)) -> None:
        return None

    first.__defaults__ = (Depends(second),)
    with pytest.raises(EndpointDefinitionError, match="Circular dependency"):
        register(second)


def test_error_message_names_the_function() -> None:
    def my_broken_stream() -> Iterator[NotPydantic]:
        yield NotPydantic()

    with pytest.raises(EndpointDefinitionError) as caught:
        register(my_broken_stream)
    assert re.search(r"test_endpoint_definition\.[\w.<>]*my_broken_stream", str(caught.value))


def test_accepted_stream_annotations() -> None:
    async def a() -> AsyncIterable[Item]:
        yield Item(name="a")

    async def b() -> AsyncGenerator[Item, None]:
        yield Item(name="a")

    def c() -> Generator[Item, None, None]:
        yield Item(name="a")

    def d() -> Annotated[Iterator[Item], "doc"]:
        yield Item(name="a")

    async def e():  # type: ignore[no-untyped-def]
        yield 1

    def f() -> Iterable[Item]:
        yield Item(name="a")

    for function in (a, b, c, d, e):
        register(function)
    register(f, response_model=Item)
