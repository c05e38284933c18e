"""Shared fixtures: a real uvicorn server on 127.0.0.1 running in a background thread."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn


@contextlib.contextmanager
def serve(app: Any, port: int = 0, **config: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn on loopback (a free port by default); yield its base URL; stop it at the end."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    config.setdefault("timeout_graceful_shutdown", 2)  # a test that failed may leave streams open
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture
def server() -> Callable[..., contextlib.AbstractContextManager[str]]:
    return serve


def read_into(buffer: bytearray, chunks: Iterator[bytes]) -> None:
    """Append ``chunks`` to ``buffer`` until they end or raise (so the bytes before an error are kept)."""
    for chunk in chunks:
        buffer += chunk


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> float:
    """Poll ``condition`` until true; return the seconds it took; fail after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.005)
    return time.monotonic() - start


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
