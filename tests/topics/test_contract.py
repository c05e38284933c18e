"""The topic contract, run against every backend (in-memory, and Redis Streams on a real redis-server)."""

from __future__ import annotations

import gc
import itertools
import logging
import typing
from collections.abc import AsyncIterable

import anyio
import anyio.lowlevel
import pydantic
import pytest
from pydantic import BaseModel, field_serializer

from linestream import Header, LineStream
from linestream.client import StreamReader
from linestream.sse import ServerSentEvent
from linestream.testing import AsyncTestClient
from linestream.topics import (
    InvalidMessageId,
    MemoryBackend,
    SerializedItem,
    Subscription,
    Topic,
    TopicBackend,
    TopicBackendUnavailable,
    default_backend,
    memory_topics,
)

pytestmark = pytest.mark.anyio


class Order(BaseModel):
    id: int
    sku: str


def key(message_id: str) -> tuple[int, int]:
    ms, seq = message_id.split("-")
    return int(ms), int(seq)


async def take(subscription: Subscription[Order], count: int, seconds: float = 10) -> list[SerializedItem[Order]]:
    got: list[SerializedItem[Order]] = []
    with anyio.fail_after(seconds):
        async for message in subscription:
            got.append(message)
            if len(got) == count:
                break
    return got


async def wait_subscribed(topic: Topic[Order], count: int) -> None:
    with anyio.fail_after(10):
        while topic.subscribers < count:  # noqa: ASYNC110 - polling a counter the test does not own
            await anyio.sleep(0.005)


async def test_publish_returns_increasing_ids(backend: TopicBackend) -> None:
    orders = Topic("orders", Order, backend=backend)
    ids = [await orders.publish(Order(id=i, sku="a")) for i in range(50)]
    assert [key(i) for i in ids] == sorted({key(i) for i in ids})


async def test_new_subscriber_gets_what_is_published_after_it_started(backend: TopicBackend) -> None:
    orders = Topic("orders", Order, backend=backend)
    await orders.publish(Order(id=0, sku="before"))
    subscription = orders.subscribe()
    received: list[SerializedItem[Order]] = []

    async def consume() -> None:
        received.extend(await take(subscription, 5))

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await wait_subscribed(orders, 1)
        await anyio.sleep(0.05)  # let the subscription take its starting position
        ids = [await orders.publish(Order(id=i, sku="after")) for i in range(1, 6)]
    assert [m.id for m in received] == ids
    assert [m.item for m in received] == [Order(id=i, sku="after") for i in range(1, 6)]


async def test_resume_after_an_id_gets_exactly_the_later_messages_then_new_ones(backend: TopicBackend) -> None:
    orders = Topic("orders", Order, backend=backend)
    ids = [await orders.publish(Order(id=i, sku="a")) for i in range(10)]
    subscription = orders.subscribe(ids[3])
    first = await take(subscription, 6)
    assert [m.id for m in first] == ids[4:]
    assert subscription.last_id == ids[-1]
    later = await orders.publish({"id": 10, "sku": "b"})
    (message,) = await take(subscription, 1)
    assert (message.id, message.item) == (later, Order(id=10, sku="b"))


async def test_resume_while_publishing_loses_and_duplicates_nothing(backend: TopicBackend) -> None:
    orders = Topic("orders", Order, backend=backend)
    ids = [await orders.publish(Order(id=i, sku="a")) for i in range(5)]

    async def publish_more() -> None:
        for i in range(5, 400):
            ids.append(await orders.publish(Order(id=i, sku="a")))
            if i % 50 == 0:
                await anyio.lowlevel.checkpoint()

    subscription = orders.subscribe(ids[1])
    async with anyio.create_task_group() as tg:
        tg.start_soon(publish_more)
        received = await take(subscription, 398)
    assert [m.item.id for m in received] == list(range(2, 400))


async def test_one_message_object_reaches_every_subscriber(backend: TopicBackend) -> None:
    """Fan-out shares the published bytes: serialized once, not once per subscriber."""
    orders = Topic("orders", Order, backend=backend)
    start = await orders.publish(Order(id=0, sku="a"))
    subscriptions = [orders.subscribe(start) for _ in range(3)]
    results: list[list[SerializedItem[Order]]] = [[], [], []]

    async def consume(index: int) -> None:
        results[index] = await take(subscriptions[index], 3)

    async with anyio.create_task_group() as tg:
        for index in range(3):
            tg.start_soon(consume, index)
        await wait_subscribed(orders, 3)
        await anyio.sleep(0.05)
        for i in range(1, 4):
            await orders.publish(Order(id=i, sku="a"))
    for position in range(3):
        assert results[0][position] is results[1][position] is results[2][position]
    assert [m.data for m in results[0]] == [b'{"id":%d,"sku":"a"}' % i for i in range(1, 4)]


async def test_publish_validates_the_item(backend: TopicBackend) -> None:
    orders = Topic("orders", Order, backend=backend)
    with pytest.raises(pydantic.ValidationError, match="sku"):
        await orders.publish({"id": 1})
    assert await backend.last_key("orders") == (0, 0)


async def test_an_invalid_last_id_is_refused_and_an_empty_one_means_from_now(backend: TopicBackend) -> None:
    orders = Topic("orders", Order, backend=backend)
    for bad in ("nope", "12", "1-2-3", "-1-0", "١٢-0", "1" * 21 + "-0", f"{2**64}-0", f"0-{2**64}", "max-max"):
        with pytest.raises(InvalidMessageId, match="is not a message id of topic 'orders'") as caught:
            orders.subscribe(bad)
        assert caught.value.status_code == 400
    await orders.publish(Order(id=0, sku="old"))
    subscription = orders.subscribe("")

    async def publish_later() -> None:
        await wait_subscribed(orders, 1)
        await anyio.sleep(0.05)
        await orders.publish(Order(id=1, sku="new"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(publish_later)
        (message,) = await take(subscription, 1)
    assert message.item.sku == "new"


async def test_an_id_newer_than_the_topic_resumes_from_now(backend: TopicBackend) -> None:
    # An id the topic never gave (the greatest id Redis can hold, a log that was reset...) must neither fail
    # the stream nor wait for the clock to reach it: the subscriber gets what is published from then on.
    orders = Topic("orders", Order, backend=backend)
    await orders.publish(Order(id=0, sku="before"))
    for future in (f"{2**64 - 1}-{2**64 - 1}", "99999999999999-0"):
        subscription = orders.subscribe(future)

        async def publish_later() -> None:
            await wait_subscribed(orders, 1)
            await anyio.sleep(0.05)
            await orders.publish(Order(id=1, sku="after"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(publish_later)
            (message,) = await take(subscription, 1)
        await subscription.aclose()
        assert message.item.sku == "after"


async def test_a_slow_subscriber_never_holds_the_publisher_and_catches_up_from_the_log(
    backend: TopicBackend,
) -> None:
    orders = Topic("orders", Order, backend=backend, max_pending=10)
    start = await orders.publish(Order(id=0, sku="a"))
    slow = orders.subscribe(start)
    fast = orders.subscribe(start)
    await orders.publish(Order(id=1, sku="a"))
    assert [m.item.id for m in await take(slow, 1)] == [1]  # open, then stop reading
    fast_received: list[SerializedItem[Order]] = []

    async def consume_fast() -> None:
        fast_received.extend(await take(fast, 300))

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume_fast)
        with anyio.fail_after(10):
            for i in range(2, 301):
                await orders.publish(Order(id=i, sku="a"))
                if i % 5 == 0:
                    await anyio.lowlevel.checkpoint()
    assert [m.item.id for m in fast_received] == list(range(1, 301))
    assert slow.pending <= 10
    rest = await take(slow, 299)
    assert [m.item.id for m in rest] == list(range(2, 301))


async def test_resuming_from_before_the_retention_says_messages_were_lost(
    backend: TopicBackend, caplog: pytest.LogCaptureFixture
) -> None:
    orders = Topic("orders", Order, backend=backend, retention=10)
    ids = [await orders.publish(Order(id=i, sku="a")) for i in range(1000)]
    with caplog.at_level(logging.WARNING, logger="linestream.topics"):
        received = await take(orders.subscribe(ids[0]), 1)
    # Redis trims approximately (whole macro nodes): some older messages may be kept, never the first ones.
    assert received[0].item.id > 1
    assert "the topic's retention dropped them" in caplog.text
    assert received[0].gap_after == ids[0]  # and the subscriber is told, in band


async def test_a_live_subscriber_overrun_by_a_burst_is_told_what_it_lost(
    backend: TopicBackend, caplog: pytest.LogCaptureFixture
) -> None:
    # A burst larger than both the subscriber's queue and the topic's retention: the subscriber must not take
    # the messages that are left for all there was.
    orders = Topic("orders", Order, backend=backend, retention=1000, max_pending=1000)
    subscription = orders.subscribe()
    received: list[SerializedItem[Order]] = []

    async def read() -> None:
        with anyio.fail_after(20):
            async for message in subscription:
                received.append(message)
                if message.item.id == 1499:
                    break

    with caplog.at_level(logging.WARNING, logger="linestream.topics"):
        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await wait_subscribed(orders, 1)
            await anyio.sleep(0.05)
            for index in range(1500):
                await orders.publish(Order(id=index, sku="burst"))
    numbers = [message.item.id for message in received]
    assert numbers == sorted(numbers)
    assert numbers[-1] == 1499
    # Every hole in what arrived is announced by the message right after it, and only holes are.
    holes = [later for earlier, later in itertools.pairwise([-1, *numbers]) if later != earlier + 1]
    assert [message.item.id for message in received if message.gap_after is not None] == holes
    if holes:
        assert "lost the messages" in caplog.text
    if isinstance(backend, MemoryBackend):  # publishes that never yield: the queue overflows, the log trims exactly
        assert numbers == list(range(500, 1500))
        assert received[0].gap_after == "0-0"  # it subscribed to an empty topic: everything before was lost


async def test_an_sse_stream_announces_a_gap_with_an_event_and_the_client_reports_it(
    backend: TopicBackend, caplog: pytest.LogCaptureFixture
) -> None:
    orders = Topic("orders", Order, backend=backend, retention=10)
    app = LineStream(sse_keepalive=None)

    @app.get("/live")
    async def live(last_event_id: str | None = Header(None)) -> AsyncIterable[SerializedItem[Order]]:
        async for message in orders.subscribe(last_event_id):
            yield message

    ids = [await orders.publish(Order(id=index, sku="a")) for index in range(1000)]
    async with AsyncTestClient(app) as client:
        async with client.stream("GET", "/live", headers={"accept": "text/event-stream", "last-event-id": ids[0]}) as r:
            head = b""
            with anyio.fail_after(10):
                async for chunk in r.aiter_bytes():
                    head += chunk
                    if head.count(b"\n\n") >= 2:
                        break
        gap, first = head.split(b"\n\n")[:2]
        first_id = first.split(b"\n")[0].removeprefix(b"id: ").decode()
        assert gap == b'event: gap\ndata: {"after":"%s","next":"%s"}' % (ids[0].encode(), first_id.encode())
        assert ids.index(first_id) > 1
        reader = StreamReader("text/event-stream", Order)
        with caplog.at_level(logging.WARNING, logger="linestream.client"):
            events = reader.feed(head)
        assert [event.id for event in events] == [first_id]
        assert reader.gaps == [{"after": ids[0], "next": first_id}]
        assert "lost messages" in caplog.text


async def test_a_subscription_whose_wait_was_cancelled_goes_on_without_loss(backend: TopicBackend) -> None:
    # A cancelled wait takes the subscription out of the fan-out at once; iterating it again reads what it missed.
    orders = Topic("orders", Order, backend=backend)
    subscription = orders.subscribe()
    with anyio.move_on_after(0.2):
        await subscription.__anext__()
    assert orders.subscribers == 0
    published = [await orders.publish(Order(id=index, sku="later")) for index in range(3)]
    received = await take(subscription, 3)
    assert [message.id for message in received] == published
    assert orders.subscribers == 1
    await subscription.aclose()
    assert orders.subscribers == 0


async def test_a_topic_name_has_one_item_type_per_backend(backend: TopicBackend) -> None:
    first = Topic("orders", Order, backend=backend)
    second = Topic("orders", Order, backend=backend)  # the same declaration twice is fine
    with pytest.raises(ValueError, match="already declared with item type"):
        Topic("orders", dict, backend=backend)
    await second.publish(Order(id=1, sku="a"))
    subscription = second.subscribe("0-0")
    assert len(await take(subscription, 1)) == 1  # open: listening
    del first, second
    gc.collect()
    with pytest.raises(ValueError, match="already declared with item type"):  # a subscription keeps the type
        Topic("orders", dict, backend=backend)
    await subscription.aclose()
    del subscription
    gc.collect()
    await backend.delete("orders")  # (the in-memory log holds the history until then)
    assert "orders" not in backend.topics
    Topic("orders", dict, backend=backend)  # nothing holds the old declaration: the name is free


async def test_one_off_topics_leave_nothing_behind(backend: TopicBackend) -> None:
    """A topic per room or per job: once its objects and subscriptions are gone (and its history deleted), the
    process holds nothing for it."""
    for n in range(3000 if isinstance(backend, MemoryBackend) else 300):
        room = Topic(f"room-{n}", Order, backend=backend)
        if n % 2:  # a room that had listeners and no message
            async with anyio.create_task_group() as tg:
                tg.start_soon(take, room.subscribe(), 1)
                with anyio.fail_after(10):
                    while not room.subscribers:
                        await anyio.lowlevel.checkpoint()
                tg.cancel_scope.cancel()
        else:  # a room whose history is deleted when it is done
            await room.publish(Order(id=n, sku="a"))
            async with room.subscribe("0-0") as subscription:
                assert [m.item.id for m in await take(subscription, 1)] == [n]
            await room.delete()
    del room, subscription
    gc.collect()
    assert backend.topics == frozenset()


async def test_delete_drops_the_history_and_subscriptions_go_on(backend: TopicBackend) -> None:
    orders = Topic("orders", Order, backend=backend)
    await orders.publish(Order(id=1, sku="a"))
    async with orders.subscribe("0-0") as live:
        assert [m.item.id for m in await take(live, 1)] == [1]
        await orders.delete()
        await orders.publish(Order(id=2, sku="a"))
        assert [m.item.id for m in await take(orders.subscribe("0-0"), 1)] == [2]  # the history starts anew
        assert [m.item.id for m in await take(live, 1)] == [2]


async def test_stuck_subscribers_cost_the_fan_out_nothing_per_message(backend: TopicBackend) -> None:
    """Subscribers that stopped reading (their clients do not read) share one feed: what the process holds for
    them does not grow with their number times the messages published."""
    import tracemalloc

    orders = Topic("orders", Order, backend=backend, max_pending=1000, retention=10)
    seed = await orders.publish(Order(id=-1, sku="a"))
    await orders.publish(Order(id=0, sku="a"))
    subscriptions = [orders.subscribe(seed) for _ in range(1000)]
    # Each takes one message, then stops reading (a stuck client's stream waits in its send).
    for subscription in subscriptions:
        assert [m.item.id for m in await take(subscription, 1)] == [0]
    await wait_subscribed(orders, 1000)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1, 1001):
            await orders.publish(Order(id=i, sku="a"))
        await anyio.sleep(0.2)  # let a shared log's reader deliver what it read
        with anyio.fail_after(10):
            while max(s.pending for s in subscriptions) < 1000:  # noqa: ASYNC110 - waiting on delivery
                await anyio.sleep(0.01)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # A queue per subscriber would hold a million references (8 MB and more); the feed holds 1,000 messages.
    assert grown < 2 * 1024 * 1024, grown
    assert all(s.pending == 1000 for s in subscriptions)
    for subscription in subscriptions[:3]:
        assert [m.item.id for m in await take(subscription, 1000)] == list(range(1, 1001))
    for subscription in subscriptions:
        await subscription.aclose()


async def test_untyped_topic_carries_json(backend: TopicBackend) -> None:
    events = Topic("events", backend=backend)
    first = await events.publish({"kind": "start", "at": [1, 2]})
    await events.publish("plain")
    received = await take(events.subscribe("0-0"), 2)
    assert received[0].id == first
    assert [m.item for m in received] == [{"kind": "start", "at": [1, 2]}, "plain"]


async def test_closing_the_backend_ends_subscriptions_with_an_error(backend: TopicBackend) -> None:
    orders = Topic("orders", Order, backend=backend)
    subscription = orders.subscribe()

    async def close_soon() -> None:
        await wait_subscribed(orders, 1)
        await anyio.sleep(0.05)
        backend._close_subscriptions()

    async with anyio.create_task_group() as tg:
        tg.start_soon(close_soon)
        with pytest.raises(TopicBackendUnavailable, match="was closed"), anyio.fail_after(10):
            await take(subscription, 1)


async def test_aclose_ends_the_iteration_and_unsubscribes(backend: TopicBackend) -> None:
    orders = Topic("orders", Order, backend=backend)
    async with orders.subscribe() as subscription:

        async def close_soon() -> None:
            await wait_subscribed(orders, 1)
            await subscription.aclose()

        async with anyio.create_task_group() as tg:
            tg.start_soon(close_soon)
            assert await take(subscription, 1) == []
    assert orders.subscribers == 0


class Secret(BaseModel):
    id: int
    sku: str
    cost: float


def topic_app(backend: TopicBackend) -> tuple[LineStream, Topic[Secret]]:
    secrets = Topic("secrets", Secret, backend=backend)
    app = LineStream(sse_keepalive=None)

    @app.get("/full")
    async def full(last_event_id: str | None = Header(None)) -> AsyncIterable[SerializedItem[Secret]]:
        async for message in secrets.subscribe(last_event_id):
            yield message

    @app.get("/public")
    async def public(last_event_id: str | None = Header(None)) -> AsyncIterable[Order]:
        async for message in secrets.subscribe(last_event_id):
            yield message  # type: ignore[misc] - a Message of Secret, re-validated as Order

    @app.get("/untyped")
    async def untyped(last_event_id: str | None = Header(None)):  # type: ignore[no-untyped-def]
        async for message in secrets.subscribe(last_event_id):
            yield message

    return app, secrets


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/jsonl", b'{"id":1,"sku":"a","cost":2.5}\n{"id":2,"sku":"b","cost":3.0}\n'),
        ("application/x-ndjson", b'{"id":1,"sku":"a","cost":2.5}\n{"id":2,"sku":"b","cost":3.0}\n'),
        ("application/json-seq", b'\x1e{"id":1,"sku":"a","cost":2.5}\n\x1e{"id":2,"sku":"b","cost":3.0}\n'),
        (
            "text/event-stream",
            b'id: {0}\ndata: {"id":1,"sku":"a","cost":2.5}\n\nid: {1}\ndata: {"id":2,"sku":"b","cost":3.0}\n\n',
        ),
        ("application/json", b'[{"id":1,"sku":"a","cost":2.5},{"id":2,"sku":"b","cost":3.0}'),
    ],
)
async def test_a_topic_streams_in_every_format_and_sse_carries_message_ids(
    backend: TopicBackend, accept: str, expected: bytes
) -> None:
    app, secrets = topic_app(backend)
    start = await secrets.publish(Secret(id=0, sku="-", cost=0))
    ids = [await secrets.publish(Secret(id=1, sku="a", cost=2.5)), await secrets.publish(Secret(id=2, sku="b", cost=3))]
    expected = expected.replace(b"{0}", ids[0].encode()).replace(b"{1}", ids[1].encode())
    async with AsyncTestClient(app) as client:
        headers = {"accept": accept, "last-event-id": start}
        async with client.stream("GET", "/full", headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith(accept)
            body = b""
            with anyio.fail_after(10):
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) >= len(expected):
                        break
    assert body == expected


@pytest.mark.parametrize("path", ["/public", "/untyped"])
async def test_the_routes_declared_item_type_decides_what_is_sent(backend: TopicBackend, path: str) -> None:
    app, secrets = topic_app(backend)
    start = await secrets.publish(Secret(id=0, sku="-", cost=0))
    await secrets.publish(Secret(id=1, sku="a", cost=2.5))
    async with AsyncTestClient(app) as client, client.stream("GET", path, headers={"last-event-id": start}) as response:
        with anyio.fail_after(10):
            line = await response.aiter_lines().__anext__()
    assert line == ('{"id":1,"sku":"a"}' if path == "/public" else '{"id":1,"sku":"a","cost":2.5}')


class Counted(BaseModel):
    """Counts its serializations."""

    n: int
    calls: typing.ClassVar[int] = 0

    @field_serializer("n")
    def count(self, n: int) -> int:
        Counted.calls += 1
        return n


async def test_a_published_item_is_serialized_once_for_all_subscribers(backend: TopicBackend) -> None:
    counted = Topic("counted", Counted, backend=backend)
    app = LineStream(sse_keepalive=None)

    @app.get("/counted")
    async def stream(last_event_id: str | None = Header(None)) -> AsyncIterable[SerializedItem[Counted]]:
        async for message in counted.subscribe(last_event_id):
            yield message

    start = await counted.publish(Counted(n=0))
    Counted.calls = 0
    lines: list[str] = []

    async def subscriber(accept: str) -> None:
        async with client.stream("GET", "/counted", headers={"last-event-id": start, "accept": accept}) as response:
            async for line in response.aiter_lines():
                if line.strip("\x1e"):
                    lines.append(line)
                    return

    async with AsyncTestClient(app) as client, anyio.create_task_group() as tg:
        for accept in ("application/jsonl", "text/event-stream", "application/json-seq") * 2:
            tg.start_soon(subscriber, accept)
        await counted.publish(Counted(n=7))
    assert Counted.calls == 1
    assert lines.count('{"n":7}') == 4
    assert len(lines) == 6  # and two SSE `id:` lines


async def test_a_disconnected_subscriber_is_unsubscribed(backend: TopicBackend) -> None:
    app, secrets = topic_app(backend)
    start = await secrets.publish(Secret(id=0, sku="-", cost=0))
    await secrets.publish(Secret(id=1, sku="a", cost=2.5))
    async with AsyncTestClient(app) as client, client.stream("GET", "/full", headers={"last-event-id": start}) as r:
        with anyio.fail_after(10):
            await r.aiter_lines().__anext__()
        assert secrets.subscribers == 1
    gc.collect()
    with anyio.fail_after(10):
        while secrets.subscribers:  # noqa: ASYNC110 - polling a counter the test does not own
            await anyio.sleep(0.01)


async def test_an_invalid_last_event_id_is_a_400_problem(backend: TopicBackend) -> None:
    app, _ = topic_app(backend)
    async with AsyncTestClient(app) as client:
        response = await client.get("/full", headers={"last-event-id": "yesterday"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "'yesterday' is not a message id of topic 'secrets'" in response.json()["detail"]


@pytest.mark.parametrize("accept", ["application/jsonl", "text/event-stream", "application/json"])
async def test_a_subscriber_gets_the_response_head_before_the_first_message(backend: TopicBackend, accept: str) -> None:
    """A live topic may stay quiet for long: the client learns at once that it is subscribed."""
    app, secrets = topic_app(backend)
    async with AsyncTestClient(app) as client:
        with anyio.fail_after(5):
            async with client.stream("GET", "/full", headers={"accept": accept}) as response:
                assert response.status_code == 200
                assert secrets.subscribers == 1
                message_id = await secrets.publish(Secret(id=1, sku="a", cost=1))
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if body.count(b'"sku":"a"'):
                        break
    assert body.startswith(b"[" if accept == "application/json" else b"id: " if "event" in accept else b'{"id":1')
    assert message_id.encode() in body or "event" not in accept


def test_topic_arguments_are_checked_and_the_default_backend_is_shared() -> None:
    for kwargs, message in (
        ({"name": ""}, "non-empty name"),
        ({"retention": 0}, "retention must be a positive number"),
        ({"max_pending": 0}, "max_pending must be a positive number"),
    ):
        arguments = {"name": "orders", **kwargs}
        with pytest.raises(ValueError, match=message):
            Topic(arguments.pop("name"), Order, **arguments)
    first, second = Topic("shared-a", Order), Topic("shared-b")
    assert first.backend is second.backend is default_backend()
    assert repr(first) == f"Topic('shared-a', {Order!r}, backend={default_backend()!r})"


async def test_messages_in_events_and_routes_with_serialization_options(backend: TopicBackend) -> None:
    secrets = Topic("secrets", Secret, backend=backend)
    app = LineStream(sse_keepalive=None)

    @app.get("/named", stream_formats=["sse"])
    async def named(last_event_id: str | None = Header(None)) -> AsyncIterable[SerializedItem[Secret]]:
        async for message in secrets.subscribe(last_event_id):
            yield ServerSentEvent(data=message, event="secret")  # type: ignore[misc] - an event around a message

    @app.get("/trimmed", response_model_exclude={"cost"})
    async def trimmed(last_event_id: str | None = Header(None)) -> AsyncIterable[SerializedItem[Secret]]:
        async for message in secrets.subscribe(last_event_id):
            yield message

    start = await secrets.publish(Secret(id=0, sku="-", cost=0))
    message_id = await secrets.publish(Secret(id=1, sku="a", cost=2.5))
    async with AsyncTestClient(app) as client:
        for path, expected in (
            ("/named", f'event: secret\nid: {message_id}\ndata: {{"id":1,"sku":"a","cost":2.5}}\n\n'),
            ("/trimmed", '{"id":1,"sku":"a"}\n'),
        ):
            async with client.stream("GET", path, headers={"last-event-id": start}) as response:
                body = ""
                with anyio.fail_after(10):
                    async for text in response.aiter_text():
                        body += text
                        if body.endswith("\n\n" if path == "/named" else "\n"):
                            break
            assert body == expected


async def test_memory_topics_names_what_this_process_holds_in_memory() -> None:
    backend = MemoryBackend()
    rooms = Topic("room-memory-topics", dict, backend=backend)
    assert "room-memory-topics" in memory_topics()
    del rooms
    gc.collect()
    assert "room-memory-topics" not in memory_topics()  # no object and no history: nothing held
    kept = Topic("kept-memory-topics", dict, backend=backend)
    await kept.publish({"n": 1})
    del kept
    gc.collect()
    assert "kept-memory-topics" in memory_topics()  # its history is held
