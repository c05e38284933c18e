"""ItemStream driven over a fake ASGI connection: the lifecycle's promises without a server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from starlette.types import Message

from linestream._compile.plan import StreamPlan
from linestream._engine.async_source import AsyncItemSource
from linestream._engine.receive import ReceiveChannel
from linestream._engine.state import EndReason, Phase
from linestream._engine.stream import ItemStream
from linestream._engine.sync_source import SyncItemSource
from linestream.exceptions import HTTPException, StreamAborted
from linestream.streams import JSON_LINES, SSE
from tests.compile.test_plan import compiled, plan
from tests.models import Item

pytestmark = pytest.mark.anyio


class Wire:
    """The server's side of one response: what the stream sent, a client that leaves on demand."""

    def __init__(self, *, fail_sends: bool = False) -> None:
        self.messages: list[Message] = []
        self.left = anyio.Event()
        self.fail_sends = fail_sends
        self._sent = anyio.Event()

    async def send(self, message: Message) -> None:
        if self.fail_sends and message["type"] == "http.response.body":
            raise OSError("the client is gone")
        self.messages.append(message)
        self._sent.set()

    async def until(self, condition: Any) -> None:
        """Wait until what was sent meets ``condition`` (at most 5 s)."""
        with anyio.fail_after(5):
            while not condition():
                self._sent = anyio.Event()
                await self._sent.wait()

    async def receive(self) -> Message:
        await self.left.wait()
        return {"type": "http.disconnect"}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages if m["type"] == "http.response.body")

    @property
    def complete(self) -> bool:
        last = self.messages[-1] if self.messages else {}
        return last.get("type") == "http.response.body" and not last.get("more_body", False)


def stream_of(source_of: Any, the_plan: StreamPlan, wire: Wire) -> ItemStream:
    return ItemStream(the_plan, source_of(the_plan), ReceiveChannel(wire.receive, keep_body=False))


def async_source(generator: AsyncIterator[Any]) -> Any:
    return lambda the_plan: AsyncItemSource(generator, the_plan)  # type: ignore[arg-type]


async def serve(stream: ItemStream, wire: Wire) -> None:
    await stream.serve(wire.send, lambda: stream.plan.start_message(200))


JSONL = plan(compiled(), JSON_LINES)


async def test_a_complete_stream_starts_sends_its_items_and_ends_cleanly() -> None:
    async def two() -> AsyncIterator[Item]:
        yield Item(name="a")
        await anyio.lowlevel.checkpoint()
        yield Item(name="b")

    wire = Wire()
    stream = stream_of(async_source(two()), JSONL, wire)
    await serve(stream, wire)
    assert wire.messages[0]["type"] == "http.response.start"
    assert wire.body == b'{"name":"a"}\n{"name":"b"}\n'
    assert wire.complete
    assert (stream.state.phase, stream.state.reason) == (Phase.ENDED, EndReason.COMPLETE)


async def test_an_error_before_the_first_item_is_raised_unchanged_and_nothing_is_sent() -> None:
    async def fails() -> AsyncIterator[Item]:
        raise HTTPException(404, "no such thing")
        yield Item(name="never")

    wire = Wire()
    with pytest.raises(HTTPException) as caught:
        await serve(stream_of(async_source(fails()), JSONL, wire), wire)
    assert caught.value.status_code == 404
    assert wire.messages == []


async def test_an_error_after_the_first_item_aborts_the_response_without_its_end() -> None:
    async def fails() -> AsyncIterator[Item]:
        yield Item(name="a")
        raise RuntimeError("boom")

    wire = Wire()
    with pytest.raises(StreamAborted) as caught:
        await serve(stream_of(async_source(fails()), JSONL, wire), wire)
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert wire.body == b'{"name":"a"}\n'
    assert not wire.complete


async def test_with_error_records_a_failure_ends_with_one_then_cleanly() -> None:
    async def fails() -> AsyncIterator[Item]:
        yield Item(name="a")
        raise RuntimeError("boom")

    wire = Wire()
    await serve(stream_of(async_source(fails()), plan(compiled(stream_errors="record"), JSON_LINES), wire), wire)
    last_line = wire.body.splitlines()[-1]
    assert last_line.startswith(b' {"error":{"type":"about:blank","title":"Internal Server Error","status":500')
    assert b"boom" not in wire.body  # the detail does not reveal the exception
    assert wire.complete


async def test_a_disconnect_closes_a_waiting_generator_and_nothing_is_raised() -> None:
    closed = anyio.Event()

    async def waits() -> AsyncIterator[Item]:
        try:
            yield Item(name="a")
            await anyio.sleep_forever()
            yield Item(name="never")
        finally:
            closed.set()

    wire = Wire()
    stream = stream_of(async_source(waits()), JSONL, wire)
    async with anyio.create_task_group() as group:
        group.start_soon(serve, stream, wire)
        await wire.until(lambda: wire.body == b'{"name":"a"}\n')
        wire.left.set()
    assert closed.is_set()
    assert stream.state.reason is EndReason.CLIENT_GONE
    assert not wire.complete


async def test_a_send_that_fails_is_a_client_that_left() -> None:
    async def many() -> AsyncIterator[Item]:
        for index in range(3):
            yield Item(name=str(index))

    wire = Wire(fail_sends=True)
    stream = stream_of(async_source(many()), JSONL, wire)
    await serve(stream, wire)
    assert stream.state.reason is EndReason.CLIENT_GONE


async def test_a_shutdown_before_the_start_is_a_503() -> None:
    async def waits() -> AsyncIterator[Item]:
        await anyio.sleep_forever()
        yield Item(name="never")

    wire = Wire()
    stream = stream_of(async_source(waits()), JSONL, wire)
    stream.shut_down()
    with pytest.raises(HTTPException) as caught:
        await serve(stream, wire)
    assert caught.value.status_code == 503


async def test_a_shutdown_asks_an_sse_client_to_come_back() -> None:
    async def waits() -> AsyncIterator[Item]:
        yield Item(name="a")
        await anyio.sleep_forever()
        yield Item(name="never")

    wire = Wire()
    stream = stream_of(async_source(waits()), plan(compiled(sse_keepalive=None), SSE), wire)
    async with anyio.create_task_group() as group:
        group.start_soon(serve, stream, wire)
        await wire.until(lambda: wire.body.startswith(b"data: "))
        stream.shut_down()
    assert wire.body == b'data: {"name":"a"}\n\nretry: 1000\n\n'
    assert wire.complete


async def test_items_ready_back_to_back_are_coalesced_into_few_messages() -> None:
    async def ready() -> AsyncIterator[Item]:
        for index in range(1000):
            yield Item(name=str(index))

    wire = Wire()
    await serve(stream_of(async_source(ready()), JSONL, wire), wire)
    bodies = [m for m in wire.messages if m["type"] == "http.response.body" and m["body"]]
    assert wire.body.count(b"\n") == 1000
    assert len(bodies) <= 3  # one 64 KiB chunk holds ~5000 such items: the first item, the rest, the end


async def test_a_def_generator_streams_from_its_thread() -> None:
    def items() -> Iterator[Item]:
        yield Item(name="a")
        yield Item(name="b")

    async def run_blocking(function: Any) -> None:
        await anyio.to_thread.run_sync(function)

    wire = Wire()
    stream = ItemStream(
        JSONL, SyncItemSource(items(), JSONL, run_blocking), ReceiveChannel(wire.receive, keep_body=False)
    )
    await serve(stream, wire)
    assert wire.body == b'{"name":"a"}\n{"name":"b"}\n'
    assert wire.complete


@pytest.mark.parametrize("the_plan", [JSONL, plan(compiled(sse_keepalive=0.05), SSE)], ids=["jsonl", "sse"])
async def test_an_idle_stream_holds_one_helper_task_its_disconnect_watcher(the_plan: StreamPlan) -> None:
    async def one_then_waits() -> AsyncIterator[Item]:
        yield Item(name="a")
        yield Item(name="b")
        await anyio.sleep_forever()

    wire = Wire()
    stream = stream_of(async_source(one_then_waits()), the_plan, wire)
    before = len(asyncio.all_tasks())
    async with anyio.create_task_group() as group:
        group.start_soon(serve, stream, wire)
        await wire.until(lambda: b'"b"' in wire.body)
        if the_plan is not JSONL:
            await wire.until(lambda: b":" in wire.body.split(b'"b"')[-1])  # keep-alives flow, from a timer
        # The stream's own task (started here) and one helper: the watcher, which sees the client leave. (The
        # writer that sent "b" ends once it sent it; a keep-alive's writer once it sent the ping.)
        for _ in range(100):
            if len(asyncio.all_tasks()) - before == 2:
                break
            await anyio.lowlevel.checkpoint()
        assert len(asyncio.all_tasks()) - before == 2
        wire.left.set()
    assert stream.state.reason is EndReason.CLIENT_GONE
