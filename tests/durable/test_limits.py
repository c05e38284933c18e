"""What a durable streams server costs an attacker's requests, proved on a server whose address space is capped
(``prlimit --as``): bodies past ``max_append_bytes``, streams past ``max_stream_bytes`` and ``max_streams``
are refused with a problem that names the setting, and the server's memory stays bounded; a thousand durable
jobs at once fit in a stated bound."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ServerProcess, serve_process, wait_for

APP = "tests.apps.durable_app:app"
ADDRESS_SPACE = 1024 * 1024 * 1024
MIB = 1024 * 1024
#: The most a thousand running durable jobs (with their logs and leases) may add to the server's memory.
PER_JOB = 64 * 1024  # measured: 38 KiB per job (2 cores, uvicorn, MemoryBackend)


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    env = {"MALLOC_ARENA_MAX": "2", "DURABLE_MAX_STREAMS": "2100"}
    with serve_process(APP, address_space=ADDRESS_SPACE, env=env) as process:
        yield process


def test_a_body_past_max_append_bytes_is_refused_before_it_is_read(server: ServerProcess) -> None:
    url = f"{server.url}/v1/stream/big"
    octets = {"Content-Type": "application/octet-stream"}

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * MIB

    with httpx.Client() as client:
        assert client.put(url, headers=octets).status_code == 201
        declared = client.post(url, content=b"x" * (20 * MIB), headers=octets)
        assert declared.status_code == 413
        assert "max_append_bytes" in declared.json()["detail"]
    with httpx.Client() as client:  # the server closes the connection it refused a body on: a fresh client
        chunked = client.post(url, content=chunks(), headers=octets)
        assert chunked.status_code == 413
        assert client.head(url).headers["stream-next-offset"].endswith("_0000000000000000")  # nothing appended
    assert server.alive()


def test_a_stream_stops_growing_at_max_stream_bytes(server: ServerProcess) -> None:
    url = f"{server.url}/v1/stream/growing"
    httpx.put(url, headers={"Content-Type": "application/octet-stream"})
    before = server.rss
    statuses = []
    with httpx.Client() as client:
        for _ in range(30):
            statuses.append(
                client.post(url, content=b"y" * (3 * MIB), headers={"Content-Type": "application/octet-stream"})
            )
    accepted = [response for response in statuses if response.status_code == 204]
    refused = [response for response in statuses if response.status_code == 413]
    assert len(accepted) == 21  # 21 x 3 MiB fit in the default 64 MiB; the 22nd would not
    assert len(refused) == 9
    assert "max_stream_bytes" in refused[0].json()["detail"]
    assert server.rss - before < 160 * MIB


def test_creates_past_max_streams_are_answered_503_with_retry_after(server: ServerProcess) -> None:
    with httpx.Client() as client:
        answers = [client.put(f"{server.url}/v1/stream/many-{index}") for index in range(2150)]
    assert {answer.status_code for answer in answers[:2100]} == {201}
    refused = answers[2100:]
    assert {answer.status_code for answer in refused} == {503}
    assert refused[0].headers["retry-after"] == "1"
    assert "max_streams" in refused[0].json()["detail"]


def test_a_thousand_running_durable_jobs_stay_within_their_memory_bound(server: ServerProcess) -> None:
    with httpx.Client() as client:
        for _ in range(20):  # warm up: the first requests allocate what every later one reuses
            with client.stream("POST", f"{server.url}/chat", params={"tokens": 2, "delay": 0.01}):
                pass
        before = server.rss
        for _ in range(1000):  # two streams each (the log and its lease): 2,000 of the 2,100 allowed
            with client.stream("POST", f"{server.url}/chat", params={"tokens": 1000, "delay": 1.0}) as answer:
                assert answer.status_code == 200
        grown = server.rss - before
        running = client.get(f"{server.url}/events").json().count("session opened") - 20
    assert running == 1000
    assert grown / 1000 < PER_JOB


def test_a_durable_job_past_the_backends_stream_limit_is_answered_503() -> None:
    # A running job holds two streams (its log, its lease); a job that ended, its log only (until job_ttl).
    env = {"MALLOC_ARENA_MAX": "2", "DURABLE_MAX_STREAMS": "4"}
    answers = []
    with serve_process(APP, address_space=ADDRESS_SPACE, env=env) as server, httpx.Client() as client:
        for _ in range(4):
            answers.append(answer := client.post(f"{server.url}/chat", params={"tokens": 1}))
            if answer.status_code == 200:  # its job gives its lease back just after its log closed
                lease = f"{server.url}/v1/stream/leases/{answer.headers['stream-id']}"
                wait_for(lambda lease=lease: client.head(lease).status_code == 404)
    assert [answer.status_code for answer in answers] == [200, 200, 200, 503]
    assert "max_streams" in answers[3].json()["detail"]
    assert answers[3].headers["retry-after"] == "1"
