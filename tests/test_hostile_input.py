"""Hostile input against a real server whose memory is capped (``prlimit --as``): bad input costs the server no
more than it costs the sender. Each attack is answered with the documented status while the server's peak RSS
stays within a bound and its event loop keeps answering other requests. docs/reliability.md ("Hostile input")
lists the limits; bench/hostile.py measures what each attack costs."""

from __future__ import annotations

import gzip
import json
import random
import socket
import threading
import time
import zlib
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ServerProcess, serve_process

#: The server's virtual memory cap: generous for threads and malloc arenas, far below what a bomb would take.
ADDRESS_SPACE = 1024 * 1024 * 1024
#: The most the server's resident memory may grow while it handles one attack.
RSS_GROWTH = 64 * 1024 * 1024
ENV = {"MALLOC_ARENA_MAX": "2"}

APP = "tests.apps.hostile_app:app"


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with serve_process(APP, address_space=ADDRESS_SPACE, env=ENV) as process:
        httpx.get(process.url + "/quick").raise_for_status()
        yield process


def gzip_of(block: bytes, total: int) -> bytes:
    """``block`` repeated to ``total`` bytes, gzip-compressed without holding the expanded bytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    repeated = block * max(1, (1024 * 1024) // len(block))
    parts = [compressor.compress(repeated[: total - done]) for done in range(0, total, len(repeated))]
    return b"".join(parts) + compressor.flush()


def varied_items(count: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    return b"".join(
        json.dumps({"name": f"{rng.getrandbits(40):x}", "tags": [rng.randrange(1000) for _ in range(3)]}).encode()
        + b"\n"
        for _ in range(count)
    )


class Responsiveness:
    """Asks ``/quick`` of the server, in a thread, while an attack runs: ``during`` counts the answers that came
    while the attack was still in flight (an event loop blocked by the attack would give none until it ended),
    ``count`` all of them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.count = 0
        self.during = 0
        self._attack_over = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while True:  # at least once, however short the attack
                client.get(self.url + "/quick").raise_for_status()
                self.count += 1
                if not self._attack_over.is_set():
                    self.during += 1
                if self._stop.wait(0.02):
                    return

    def __enter__(self) -> Responsiveness:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._attack_over.set()
        self._stop.set()
        self._thread.join(30)


def post(server: ServerProcess, path: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(server.url + path, content=body, headers=headers, timeout=120)


BOMBS = {
    "newlines": b"\n",
    "crlf": b"\r\n",
    "blank lines": b" \n",
    "one endless line": b"a",
}


@pytest.mark.parametrize("path", ["/count", "/count-sync"])
@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_a_decompression_bomb_is_refused_with_bounded_memory(server: ServerProcess, bomb: str, path: str) -> None:
    body = gzip_of(BOMBS[bomb], 256 * 1024 * 1024)  # ~250 KB that would decode to 256 MiB
    before = server.reset_peak()
    with Responsiveness(server.url) as quick:
        response = post(server, path, body, **{"content-type": "application/jsonl", "content-encoding": "gzip"})
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "LineStream(body_limits=BodyLimits(max_inflation_ratio=...)) changes it" in response.json()["detail"]
    assert server.alive()
    assert server.peak_rss - before < RSS_GROWTH
    assert quick.count > 0


@pytest.mark.parametrize(
    ("media_type", "block"),
    [("application/json-seq", b"\x1e"), ("application/json", b"[" + b"0," * 1000)],
)
def test_bombs_of_the_other_formats_are_refused_too(server: ServerProcess, media_type: str, block: bytes) -> None:
    body = gzip_of(block, 128 * 1024 * 1024)
    before = server.reset_peak()
    response = post(server, "/count-numbers", body, **{"content-type": media_type, "content-encoding": "gzip"})
    assert response.status_code in (413, 422), response.text
    assert server.peak_rss - before < RSS_GROWTH


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/count", "/count-sync"])
def test_a_million_valid_compressed_items_stream_in_with_bounded_memory(server: ServerProcess, path: str) -> None:
    raw = varied_items(1_000_000)
    before = server.reset_peak()
    with Responsiveness(server.url) as quick:
        response = post(
            server, path, gzip.compress(raw), **{"content-type": "application/jsonl", "content-encoding": "gzip"}
        )
    assert response.json() == {"count": 1_000_000}
    assert server.peak_rss - before < RSS_GROWTH
    assert quick.during >= 3, "the server answered nothing else while it read the upload"


def test_a_long_json_array_is_read_element_by_element_with_the_loop_free(server: ServerProcess) -> None:
    rng = random.Random(3)
    raw = b"[" + b",".join(b"%d" % rng.randrange(1000) for _ in range(1_000_000)) + b"]"
    before = server.reset_peak()
    with Responsiveness(server.url) as quick:
        response = post(
            server,
            "/count-numbers",
            gzip.compress(raw),
            **{"content-type": "application/json", "content-encoding": "gzip"},
        )
    assert response.json() == {"count": 1_000_000}
    assert server.peak_rss - before < RSS_GROWTH
    assert quick.during >= 3, "the server answered nothing else while it read the upload"


# -- integrity ---------------------------------------------------------------------------------------------------
ITEMS = b"".join(b'{"name":"%d"}\n' % index for index in range(10))
COMPRESSED = gzip.compress(ITEMS)
HALF = len(ITEMS) // 2
FIRST_HALF = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
WITHOUT_FINAL_BLOCK = FIRST_HALF.compress(ITEMS[:HALF]) + FIRST_HALF.flush(zlib.Z_SYNC_FLUSH)


@pytest.mark.parametrize(
    "body",
    [WITHOUT_FINAL_BLOCK, COMPRESSED[:-8], COMPRESSED[:-3], COMPRESSED + b"garbage", COMPRESSED + b"\x1f"],
    ids=["no final block", "no trailer", "half a trailer", "trailing garbage", "half a magic number"],
)
@pytest.mark.parametrize("path", ["/count", "/plain"])
def test_a_gzip_body_that_is_cut_or_followed_by_garbage_is_refused(
    server: ServerProcess, body: bytes, path: str
) -> None:
    content_type = "application/jsonl" if path == "/count" else "application/json"
    if path == "/plain":
        compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        whole = gzip.compress(b'[{"name":"a"}]')
        body = {
            len(WITHOUT_FINAL_BLOCK): compressor.compress(b'[{"name":"a"}]') + compressor.flush(zlib.Z_SYNC_FLUSH),
            len(COMPRESSED) - 8: whole[:-8],
            len(COMPRESSED) - 3: whole[:-3],
            len(COMPRESSED) + 7: whole + b"garbage",
            len(COMPRESSED) + 1: whole + b"\x1f",
        }[len(body)]
    response = post(server, path, body, **{"content-type": content_type, "content-encoding": "gzip"})
    assert response.status_code == 400, response.text
    assert "gzip" in response.json()["detail"]


def test_a_multi_member_gzip_body_is_the_concatenation_of_its_members(server: ServerProcess) -> None:
    body = gzip.compress(ITEMS[:HALF]) + gzip.compress(ITEMS[HALF:]) + gzip.compress(b"")
    response = post(server, "/count", body, **{"content-type": "application/jsonl", "content-encoding": "gzip"})
    assert response.json() == {"count": 10}


def test_a_deflate_body_is_decoded(server: ServerProcess) -> None:
    for compressed in (zlib.compress(ITEMS), zlib.compress(ITEMS)[2:-4]):  # zlib-wrapped, and raw deflate
        response = post(
            server, "/count", compressed, **{"content-type": "application/jsonl", "content-encoding": "deflate"}
        )
        assert response.json() == {"count": 10}


# -- error amplification -------------------------------------------------------------------------------------------
def test_a_line_with_thousands_of_errors_gets_a_short_problem(server: ServerProcess) -> None:
    line = json.dumps({"name": "x", "tags": ["bad"] * 15_000}).encode() + b"\n"
    response = post(server, "/count", line, **{"content-type": "application/jsonl"})
    assert response.status_code == 422
    assert len(response.content) < 32 * 1024
    problem = response.json()
    assert len(problem["errors"]) == 100
    assert problem["errors_omitted"] == 14_900
    assert problem["errors"][0]["loc"] == ["body", 1, "tags", 0]


def test_a_plain_body_with_a_million_errors_gets_a_short_problem_and_costs_bounded_memory(
    server: ServerProcess,
) -> None:
    body = json.dumps([{"name": index} for index in range(150_000)]).encode()  # 150,000 errors, just under 4 MiB
    before = server.reset_peak()
    response = post(server, "/plain", body, **{"content-type": "application/json"})
    assert response.status_code == 422
    assert len(response.content) < 32 * 1024
    assert response.json()["errors_omitted"] > 0
    assert server.peak_rss - before < 256 * 1024 * 1024


def test_an_echoed_value_is_cut_short(server: ServerProcess) -> None:
    line = json.dumps({"name": "x", "tags": ["y" * 100_000]}).encode() + b"\n"
    response = post(server, "/count", line, **{"content-type": "application/jsonl"})
    assert response.status_code == 422
    assert len(response.content) < 2048
    assert response.json()["errors"][0]["input"].endswith("(100000 characters)")


# -- plain bodies ------------------------------------------------------------------------------------------------------
def test_a_plain_body_announced_over_the_limit_is_refused_before_it_is_read(server: ServerProcess) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /plain HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 300000000\r\n\r\n["
        )
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 413"), head


def test_a_plain_body_over_the_limit_is_refused_once_the_limit_is_passed(server: ServerProcess) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(10_000):
            yield b'{"name":"' + b"a" * 1000 + b'"},'
        yield b'{"name":"a"}]'

    before = server.reset_peak()
    response = httpx.post(server.url + "/plain", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "the limit is BodyLimits.max_body_size" in response.json()["detail"]
    assert server.peak_rss - before < RSS_GROWTH


@pytest.mark.parametrize(("encoding", "status"), [("gzip", 200), ("deflate", 200), ("br", 415), ("zstd", 415)])
def test_a_plain_body_content_encoding_is_decoded_or_refused(server: ServerProcess, encoding: str, status: int) -> None:
    raw = b'[{"name":"a"},{"name":"b"}]'
    body = {"gzip": gzip.compress(raw), "deflate": zlib.compress(raw)}.get(encoding, raw)
    response = post(server, "/plain", body, **{"content-type": "application/json", "content-encoding": encoding})
    assert response.status_code == status
    if status == 200:
        assert response.json() == {"count": 2}


@pytest.mark.parametrize(("path", "content_type"), [("/plain", "application/json"), ("/count", "application/jsonl")])
def test_a_body_that_drips_in_is_ended(path: str, content_type: str) -> None:
    env = {**ENV, "HOSTILE_IDLE_TIMEOUT": "1", "HOSTILE_BODY_TIMEOUT": "2"}
    with serve_process(APP, address_space=ADDRESS_SPACE, env=env) as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            head = f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n"
            sock.sendall(head.encode() + b"Transfer-Encoding: chunked\r\n\r\n")
            started = time.monotonic()
            head = b""
            sock.settimeout(0.4)
            while not head and time.monotonic() - started < 20:
                sock.sendall(b"1\r\n \r\n")  # one byte of whitespace, never a complete item, every 0.4 s
                try:
                    head = sock.recv(65536)
                except TimeoutError:
                    continue
            head += _rest_of_answer(sock, head)
    # The 408 came while the client was still dripping (the loop ends when the answer arrives, not at its bound).
    assert head.startswith(b"HTTP/1.1 408"), head
    setting = b"BodyLimits.body_timeout" if path == "/plain" else b"BodyLimits.idle_timeout"
    assert setting in head, head


def _rest_of_answer(sock: socket.socket, received: bytes) -> bytes:
    """What is left of an answer whose first bytes were ``received`` (its head and body may come in several
    segments): read until its ``content-length`` is complete, or the server closes, or 5 s pass."""
    rest = b""
    deadline = time.monotonic() + 5
    sock.settimeout(0.5)
    while time.monotonic() < deadline:
        head, separator, body = (received + rest).partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            None,
        )
        if separator and length is not None and len(body) >= length:
            break
        try:
            more = sock.recv(65536)
        except TimeoutError:
            continue
        if not more:
            break
        rest += more
    return rest


# -- headers -----------------------------------------------------------------------------------------------------------
def test_an_absurd_accept_header_is_refused_before_it_is_parsed(server: ServerProcess) -> None:
    response = httpx.get(server.url + "/stream", headers={"accept": "*/*," * 100})
    assert response.status_code == 400
    response = httpx.get(server.url + "/stream", headers={"accept": "a" * 10_000})
    assert response.status_code == 431


def test_a_request_head_over_the_limit_is_refused(server: ServerProcess) -> None:
    response = httpx.get(server.url + "/quick", headers={"x-big": "a" * 200_000})
    assert response.status_code == 431
    assert "the limit is LineStream(max_request_head_size=...)" in response.json()["detail"]
    assert httpx.get(server.url + "/quick").status_code == 200


def test_distinct_accept_values_do_not_accumulate_in_memory(server: ServerProcess) -> None:
    before = server.reset_peak()
    with httpx.Client() as client:
        for index in range(2000):
            # 36 ranges of ~105 characters each: parsed (they are under 4 KiB), but too long to be cached.
            accept = ",".join(f"application/x-{index}-{part}-{'a' * 80};q=0.{part % 9 + 1}" for part in range(36))
            assert client.get(server.url + "/stream", headers={"accept": accept + ",*/*"}).status_code == 200
    assert server.rss - before < 16 * 1024 * 1024


def test_a_bad_last_event_id_is_not_echoed_in_full(server: ServerProcess) -> None:
    response = httpx.get(server.url + "/live", headers={"last-event-id": "x" * 50_000})
    assert response.status_code == 400
    assert len(response.content) < 2048
