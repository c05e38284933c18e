"""A server that shuts down (a uvicorn process receiving a real SIGTERM) ends its SSE streams asking clients to
come back: the typed client resumes where it can, and never takes such a stream for a complete one."""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from linestream.client import Client, RetryPolicy, StreamTruncated
from tests.conftest import ServerProcess, free_port, serve_process

APP = "tests.apps.lifecycle_app:app"
TOTAL = 20_000


class Counted(BaseModel):
    index: int


def stop_after(
    server: ServerProcess, received: list[Any], count: int, then: Callable[[], object] = bool
) -> threading.Thread:
    """SIGTERM ``server`` once ``received`` holds ``count`` items (from a thread, while the client reads), then
    call ``then``."""

    def run() -> None:
        deadline = time.monotonic() + 30
        while len(received) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        server.terminate()
        then()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_events_resume_across_a_server_restart_with_every_event_once() -> None:
    port = free_port()
    received: list[int] = []
    with contextlib.ExitStack() as servers:
        first = servers.enter_context(serve_process(APP, port=port))
        # The second server takes the port once the first has exited: the client's reconnection finds it there.
        restart = functools.partial(servers.enter_context, serve_process(APP, port=port))
        stopper = stop_after(first, received, 1000, then=restart)
        with Client(f"http://127.0.0.1:{port}", retry=RetryPolicy(max_attempts=10, backoff=0.2)) as client:
            for event in client.events(f"/counted?n={TOTAL}", item=Counted):
                received.append(event.data.index)
        stopper.join()
    assert received == list(range(TOTAL))  # no event lost, none twice, in order


@pytest.mark.parametrize("call", ["get_stream", "post_stream"])
def test_streams_that_cannot_resume_raise_when_the_server_shuts_down(call: str) -> None:
    received: list[Any] = []

    def read(client: Client) -> None:
        if call == "get_stream":
            received.extend(client.get_stream(f"/counted?n={TOTAL}", item=Counted, format="sse"))
            return
        upload = ({"index": index} for index in range(3000))
        with client.post_stream("/counted-upload", items=upload, format="sse") as items:
            for item in items:
                received.append(item)

    with serve_process(APP) as server, Client(server.url) as client:
        stopper = stop_after(server, received, 500)
        with pytest.raises(StreamTruncated) as caught:
            read(client)
        stopper.join()
    assert 0 < caught.value.items_received == len(received)
    assert "reconnect" in str(caught.value) or "cut" in str(caught.value)
