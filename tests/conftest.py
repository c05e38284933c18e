"""Shared fixtures: a real uvicorn server on 127.0.0.1, in a background thread (``serve``) or in a subprocess
(``serve_process``, optionally with capped memory)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn

T = TypeVar("T")

CHROMIUM = os.environ.get("LINESTREAM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's package, driven by Playwright), for the module's tests."""
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium is required at {CHROMIUM} (.ci/run installs Debian's chromium package)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


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


def observe(invariant: Callable[[], bool], polls: int = 20, interval: float = 0.01) -> None:
    """Check that ``invariant`` holds at each of ``polls`` moments ``interval`` seconds apart: an invariant (a
    bound that must hold at every moment, such as "the producer is never far ahead of the reader") observed over
    a bounded window, not a wait for something to happen."""
    for poll in range(polls):
        assert invariant(), f"the invariant failed at poll {poll + 1} of {polls}"
        time.sleep(interval)


def settled(value: Callable[[], T], timeout: float = 10.0) -> T:
    """``value()`` once it stopped changing (the same on five polls in a row), within ``timeout``."""
    deadline = time.monotonic() + timeout
    last, same = value(), 0
    while same < 5:
        if time.monotonic() > deadline:
            raise AssertionError(f"the value did not settle within {timeout} s (last: {last!r})")
        time.sleep(0.02)
        current = value()
        same = same + 1 if current == last else 0
        last = current
    return last


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> float:
    """Poll ``condition`` until true; return the seconds it took; fail after ``timeout`` (a generous bound on
    something that must happen, never a measure of how fast it does)."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.005)
    return time.monotonic() - start


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServerProcess:
    """A uvicorn server in a subprocess (``serve_process``): its URL, and its memory as the kernel counts it."""

    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process = process
        self.url = url

    def _status(self, field: str) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no {field} in /proc/{self.process.pid}/status")

    @property
    def rss(self) -> int:
        """Resident memory now, in bytes."""
        return self._status("VmRSS")

    @property
    def peak_rss(self) -> int:
        """The most resident memory the process had since it started or since ``reset_peak()``, in bytes."""
        return self._status("VmHWM")

    def reset_peak(self) -> int:
        """Start measuring the peak anew (Linux: ``5`` in ``/proc/PID/clear_refs``); return the RSS now."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
        return self.rss

    @property
    def address_space(self) -> int:
        return self._status("VmSize")

    def alive(self) -> bool:
        return self.process.poll() is None

    def terminate(self) -> int:
        """Send SIGTERM, as a process manager stopping the server does; return its exit status."""
        self.process.terminate()
        return self.process.wait(timeout=15)


@contextlib.contextmanager
def serve_process(
    target: str,
    *,
    address_space: int | None = None,
    env: dict[str, str] | None = None,
    args: Sequence[str] = (),
    port: int | None = None,
) -> Iterator[ServerProcess]:
    """Run ``target`` (``module:app``) under uvicorn in a subprocess on loopback, until the block ends.

    ``address_space`` caps the process's virtual memory (``prlimit --as``), so that a server that tries to
    allocate without bound fails (a MemoryError, a failed test) instead of exhausting the machine. ``port``: a
    fixed port (to restart a server where its clients reconnect), else a free one.
    """
    port = port or free_port()
    command = [
        sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
        "--timeout-graceful-shutdown", "1", "--log-level", "warning", *args,
    ]  # fmt: skip
    if address_space is not None:
        command = ["prlimit", f"--as={address_space}", "--", *command]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})})
    server = ServerProcess(process, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 20
        while True:
            if not server.alive():
                raise RuntimeError(f"{target} exited with {process.returncode} before it served")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{target} did not start listening within 20 s")
            time.sleep(0.05)
        yield server
    finally:
        if server.alive():
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a server that ignores SIGTERM
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One redis-server for the session (tests use key prefixes of their own)."""
    from tests.redis_server import redis_server

    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server.url
