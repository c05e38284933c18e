"""The stream lifecycle on more than one ASGI server: uvicorn, Hypercorn (HTTP/1.1 and HTTP/2 cleartext) and
Granian (HTTP/1.1 and HTTP/2), each in a subprocess on loopback: an error before the first item is a status, a
later one a visibly truncated stream, a client that leaves has its generator closed, a slow client holds the
generator back, and SIGTERM ends open streams."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import h2.exceptions
import httpx
import pytest

from tests.conftest import free_port, wait_for

ROOT = Path(__file__).parent.parent
APP = "tests.apps.servers_app:app"


def command(server: str, port: int) -> list[str]:
    python = sys.executable
    return {
        "uvicorn": [python, "-m", "uvicorn", APP, "--port", str(port), "--log-level", "warning"],
        "hypercorn": [python, "-m", "hypercorn", APP, "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "2"],
        "hypercorn-h2c": [python, "-m", "hypercorn", APP, "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "2"],
        "granian": [python, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
                    "--log-level", "warning", APP],
        "granian-h2": [python, "-m", "granian", "--interface", "asgi", "--http", "2", "--host", "127.0.0.1",
                       "--port", str(port), "--log-level", "warning", APP],
    }[server]  # fmt: skip


SERVERS = ["uvicorn", "hypercorn", "hypercorn-h2c", "granian", "granian-h2"]


class Server:
    def __init__(self, name: str, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.name, self.process, self.url, self.log = name, process, url, log

    def client(self) -> httpx.Client:
        h2 = self.name.endswith(("h2c", "h2"))
        return httpx.Client(base_url=self.url, http1=not h2, http2=h2, timeout=10)

    def logged(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    log = tmp_path / "events.log"
    env = {**os.environ, "LINESTREAM_TEST_LOG": str(log), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command(request.param, port), cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, f"{request.param} exited with {process.returncode}"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            assert time.monotonic() < deadline, f"{request.param} did not listen within 20 s"
            time.sleep(0.05)
        yield Server(request.param, process, f"http://127.0.0.1:{port}", log)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a server that ignores SIGTERM
                process.kill()
                process.wait()


def test_an_error_before_the_first_item_is_a_real_status(server: Server) -> None:
    with server.client() as client:
        response = client.get("/refuses")
    assert response.status_code == 403
    assert response.json()["detail"] == "Not for you."


def test_an_error_after_the_first_item_is_a_truncated_stream(server: Server) -> None:
    lines: list[str] = []
    with (
        server.client() as client,
        pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)),
        client.stream("GET", "/breaks") as response,
    ):
        lines.extend(response.iter_lines())
    assert [line for line in lines if line] == ['{"index":0}', '{"index":1}', '{"index":2}']


def test_a_client_that_leaves_has_its_generator_closed(server: Server) -> None:
    with server.client() as client, client.stream("GET", "/ticks", params={"name": "left"}) as response:
        lines = response.iter_lines()
        next(lines)
        next(lines)
        left = time.monotonic()
        lines.close()
    # (Leaving the block closes the connection, as a browser closing its tab does; on HTTP/2 too.)
    wait_for(lambda: "closed left" in server.logged(), timeout=5)
    assert time.monotonic() - left < 5


def test_a_client_that_leaves_a_quiet_stream_has_its_generator_closed(server: Server) -> None:
    # The generator sends nothing after its first item: only the server's disconnect event can tell it.
    with server.client() as client, client.stream("GET", "/quiet") as response:
        next(response.iter_lines())
    wait_for(lambda: "closed quiet" in server.logged(), timeout=5)


def test_a_slow_client_holds_the_generator_back(server: Server) -> None:
    with server.client() as client, client.stream("GET", "/big") as response:
        chunks = response.iter_bytes()
        read = 0
        for _ in range(20):
            read += len(next(chunks))
            time.sleep(0.05)
        produced = client.get("/produced").json()["big"]
    # What the generator got ahead: the socket buffers, the server's write buffer and a chunk, not 1 GiB.
    ahead = produced * 1030 - read
    assert ahead < 32 * 1024 * 1024, (server.name, produced, read)


def test_sigterm_ends_open_streams(server: Server) -> None:
    with server.client() as client, client.stream("GET", "/ticks", params={"name": "stopped"}) as response:
        lines = response.iter_lines()
        next(lines)
        server.process.send_signal(signal.SIGTERM)
        # (httpx's HTTP/2 client raises h2's own error on a connection the server closed under it.)
        with contextlib.suppress(httpx.HTTPError, h2.exceptions.ProtocolError):
            for _ in lines:
                pass
    server.process.wait(15)
    wait_for(lambda: "closed stopped" in server.logged(), timeout=5)
