"""Durable path operations (``durable=DurableStreams(...)``), over real HTTP on uvicorn: the generator runs as a
job of the app, clients that leave and come back (to any worker sharing the backend) read exactly what they
missed, a cancel stops the generator, a failure reaches every reader.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from linestream import Depends, Header, HTTPException, LineStream
from linestream.client import AsyncClient, Client, RetryPolicy
from linestream.durable import DurableStreams
from linestream.exceptions import EndpointDefinitionError
from linestream.responses import StreamingResponse
from linestream.testing import TestClient
from tests.apps.durable_app import Token
from tests.conftest import ServerProcess, serve_process, wait_for
from tests.durable.proxy import CuttingProxy

APP = "tests.apps.durable_app:app"


@pytest.fixture(params=["memory", "redis"])
def backend_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "memory":
        return {}
    return {
        "DURABLE_BACKEND": "redis",
        "REDIS_URL": request.getfixturevalue("redis_url"),
        "REDIS_PREFIX": f"test:{uuid.uuid4().hex}:",
    }


@pytest.fixture
def server(backend_env: dict[str, str]) -> Iterator[ServerProcess]:
    with serve_process(APP, env=backend_env) as process:
        yield process


def events(server: ServerProcess) -> list[str]:
    answer: list[str] = httpx.get(f"{server.url}/events").json()
    return answer


def sse_events(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    event: dict[str, str] = {}
    for line in lines:
        if not line:
            if event:
                yield event
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")


def tokens(items: list[dict[str, Any]]) -> list[int]:
    return [item["index"] for item in items]


def test_a_durable_answer_streams_every_item_and_names_its_log(server: ServerProcess) -> None:
    with httpx.stream("POST", f"{server.url}/chat", params={"tokens": 4}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/jsonl")
        items = [json.loads(line) for line in response.iter_lines()]
        job = response.headers["stream-id"]
        location = response.headers["location"]
    assert tokens(items) == [0, 1, 2, 3]
    assert location == f"{server.url}/v1/stream/jobs/{job}"
    log = httpx.get(location)
    assert log.headers["stream-closed"] == "true"
    assert log.json() == items


def test_the_generator_runs_to_its_end_after_the_client_left(server: ServerProcess) -> None:
    with httpx.stream("POST", f"{server.url}/chat", params={"tokens": 20, "delay": 0.05}) as response:
        lines = response.iter_lines()
        first = json.loads(next(lines))
        job = response.headers["stream-id"]
    assert first["index"] == 0
    wait_for(lambda: "generator finished after 20" in events(server), timeout=20)
    assert events(server)[-2:] == ["generator closed", "session closed"]  # the dependency lived as long as the job
    assert tokens(httpx.get(f"{server.url}/v1/stream/jobs/{job}").json()) == list(range(20))


def test_a_client_resumes_with_last_event_id_exactly_after_its_last_item(server: ServerProcess) -> None:
    headers = {"Accept": "text/event-stream"}
    with httpx.stream("POST", f"{server.url}/chat", params={"tokens": 12}, headers=headers) as response:
        seen = []
        for event in sse_events(response.iter_lines()):
            seen.append(event)
            if len(seen) == 5:
                break
    resumed_headers = {**headers, "Last-Event-ID": seen[-1]["id"]}
    with httpx.stream("POST", f"{server.url}/chat", headers=resumed_headers) as response:
        assert response.headers["stream-id"] == seen[0]["id"].split(":")[0]
        rest = list(sse_events(response.iter_lines()))
    indices = [json.loads(event["data"])["index"] for event in seen + rest]
    assert indices == list(range(12))
    assert events(server).count("generator finished after 12") == 1  # the resumed request started no second job
    at_the_end = httpx.post(f"{server.url}/chat", headers={**headers, "Last-Event-ID": rest[-1]["id"]})
    assert at_the_end.status_code == 204  # the client has it all: an EventSource stops there


def test_a_client_resumes_by_offset_on_the_protocol(server: ServerProcess) -> None:
    with httpx.stream("POST", f"{server.url}/chat", params={"tokens": 6, "delay": 0.02}) as response:
        location = response.headers["location"]
        items = [json.loads(line) for line in response.iter_lines()]
    first = httpx.get(location, params={"offset": "-1"})
    assert tokens(first.json()) == tokens(items)
    tail = first.headers["stream-next-offset"]
    end = httpx.get(location, params={"offset": tail})
    assert end.json() == []
    assert end.headers["stream-closed"] == "true"


def test_a_delete_cancels_the_job_and_its_readers_see_it(server: ServerProcess) -> None:
    with httpx.stream("POST", f"{server.url}/chat", params={"tokens": 1000, "delay": 0.05}) as response:
        lines = response.iter_lines()
        json.loads(next(lines))
        location = response.headers["location"]
        assert httpx.delete(location).status_code == 204
        with pytest.raises(httpx.RemoteProtocolError):  # the answer is visibly cut, never a clean end
            for _ in lines:
                pass
    wait_for(lambda: "session closed" in events(server), timeout=5)
    assert "generator finished after 1000" not in events(server)
    record = httpx.get(location).json()[-1]
    assert record == {"$linestream": {"outcome": "cancelled", "status": 410, "detail": "Cancelled by a DELETE."}}
    assert httpx.delete(location).status_code == 204  # a job that ended: its log is deleted
    assert httpx.get(location).status_code == 404


def test_an_error_before_the_first_item_is_a_real_status(server: ServerProcess) -> None:
    response = httpx.post(f"{server.url}/chat", params={"fail_at": 0})
    assert response.status_code == 422
    assert "the model refused at token 0" in response.text
    wait_for(lambda: "session closed" in events(server))


def test_an_error_after_items_truncates_the_answer(server: ServerProcess) -> None:
    with httpx.stream("POST", f"{server.url}/chat", params={"fail_at": 2}) as response:
        lines = response.iter_lines()
        assert [json.loads(next(lines))["index"] for _ in range(2)] == [0, 1]
        with pytest.raises(httpx.RemoteProtocolError):
            next(lines)
        location = response.headers["location"]
    assert httpx.get(location).json()[-1]["$linestream"]["outcome"] == "error"


def test_a_def_generator_is_durable_too(server: ServerProcess) -> None:
    response = httpx.post(f"{server.url}/count", params={"tokens": 3})
    assert [json.loads(line)["index"] for line in response.text.splitlines()] == [0, 1, 2]


def test_another_worker_resumes_and_cancels_a_job(redis_url: str) -> None:
    """Two uvicorn workers on one redis-server: a job runs on the first, the second resumes and cancels it."""
    backend_env = {"DURABLE_BACKEND": "redis", "REDIS_URL": redis_url, "REDIS_PREFIX": f"test:{uuid.uuid4().hex}:"}
    with serve_process(APP, env=backend_env) as first, serve_process(APP, env=backend_env) as second:
        headers = {"Accept": "text/event-stream"}
        with httpx.stream("POST", f"{first.url}/chat", params={"tokens": 8, "delay": 0.05}, headers=headers) as answer:
            seen = []
            for event in sse_events(answer.iter_lines()):
                seen.append(event)
                if len(seen) == 3:
                    break
        with httpx.stream(
            "POST", f"{second.url}/chat", headers={**headers, "Last-Event-ID": seen[-1]["id"]}
        ) as resumed:
            rest = list(sse_events(resumed.iter_lines()))
        assert [json.loads(event["data"])["index"] for event in seen + rest] == list(range(8))
        assert "generator closed" not in events(second)  # the second worker only read the job the first one ran

        with httpx.stream("POST", f"{first.url}/chat", params={"tokens": 1000, "delay": 0.05}) as answer:
            next(answer.iter_lines())
            job = answer.headers["stream-id"]
        assert httpx.delete(f"{second.url}/v1/stream/jobs/{job}").status_code == 204
        wait_for(lambda: events(first).count("session closed") == 2, timeout=5)


def test_a_reader_sees_a_job_whose_worker_died_cut_short_within_its_lease(redis_url: str) -> None:
    """SIGKILL the worker that runs a job: a reader on another worker gets the items so far, then a truncated
    answer (never a clean end, never a wait forever) once the job's lease ran out, and the log says why."""
    lease = 2
    env = {
        "DURABLE_BACKEND": "redis", "REDIS_URL": redis_url, "REDIS_PREFIX": f"test:{uuid.uuid4().hex}:",
        "DURABLE_JOB_LEASE": str(lease),
    }  # fmt: skip
    with serve_process(APP, env=env) as first, serve_process(APP, env=env) as second:
        headers = {"Accept": "text/event-stream"}
        with httpx.stream(
            "POST", f"{first.url}/chat", params={"tokens": 1000, "delay": 0.05}, headers=headers
        ) as answer:
            last = next(sse_events(answer.iter_lines()))
            location = answer.headers["location"].replace(first.url, second.url)
        wait_for(lambda: len(httpx.get(location).json()) >= 5)  # items stored after the one the reader saw
        first.process.kill()
        first.process.wait()
        started = time.monotonic()
        seen: list[dict[str, str]] = []
        with httpx.stream(
            "POST", f"{second.url}/chat", headers={**headers, "Last-Event-ID": last["id"]}, timeout=30
        ) as resumed:
            assert resumed.status_code == 200
            with pytest.raises(httpx.RemoteProtocolError):
                seen.extend(sse_events(resumed.iter_lines()))
        waited = time.monotonic() - started
        record = httpx.get(location).json()[-1]
    assert waited < lease + 10  # the lease, plus a reader's wait; generous for a loaded machine
    indices = [json.loads(event["data"])["index"] for event in seen]
    assert indices == list(range(1, len(indices) + 1))  # what the job stored before it died, in order, once
    assert len(indices) >= 4
    assert record["$linestream"]["outcome"] == "lost"


def test_durable_is_refused_where_items_are_not_of_one_type() -> None:
    streams = DurableStreams()
    app = LineStream()

    async def raw() -> AsyncIterator[bytes]:
        yield b"x"  # pragma: no cover - never served

    with pytest.raises(EndpointDefinitionError, match="durable=None"):
        app.add_api_route("/raw", raw, durable=streams, response_class=StreamingResponse)


def test_a_job_that_its_worker_shuts_down_under_ends_with_a_record_that_says_so(redis_url: str) -> None:
    env = {"DURABLE_BACKEND": "redis", "REDIS_URL": redis_url, "REDIS_PREFIX": f"test:{uuid.uuid4().hex}:"}
    with serve_process(APP, env=env) as first, serve_process(APP, env=env) as second:
        with httpx.stream("POST", f"{first.url}/chat", params={"tokens": 1000, "delay": 0.05}) as answer:
            next(answer.iter_lines())
            location = answer.headers["location"].replace(first.url, second.url)
        assert first.terminate() in (0, -signal.SIGTERM)
        record = httpx.get(location).json()[-1]
    assert record["$linestream"] == {
        "outcome": "error", "status": 503, "detail": "The server shut down before the job ended."
    }  # fmt: skip


def test_a_dependency_of_the_router_guards_every_protocol_operation() -> None:
    def authorize(authorization: str | None = Header(None)) -> None:
        if authorization != "Bearer secret":
            raise HTTPException(401, "a bearer token is required")

    app = LineStream()
    app.include_router(DurableStreams(dependencies=[Depends(authorize)]), prefix="/v1/stream")
    with TestClient(app) as client:
        assert client.put("/v1/stream/guarded").status_code == 401
        assert client.put("/v1/stream/guarded", headers={"Authorization": "Bearer secret"}).status_code == 201
        assert client.get("/v1/stream/guarded").status_code == 401


@pytest.mark.anyio
async def test_the_async_python_client_follows_a_durable_answer_across_a_cut_connection(
    server: ServerProcess,
) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    proxy = CuttingProxy(port)
    received = []
    with proxy.running() as url:
        async with AsyncClient(url, retry=RetryPolicy(backoff=0.05)) as client:
            answer = client.events("/chat", method="POST", item=Token, params={"tokens": 12, "delay": 0.05})
            async for event in answer:
                received.append(event.data.index)
                if len(received) == 4:
                    proxy.cut()
    assert received == list(range(12))


def test_the_python_client_follows_a_durable_answer_across_a_cut_connection(server: ServerProcess) -> None:
    """``linestream.client`` reconnects with ``Last-Event-ID`` when the network drops the answer: the job goes
    on, and the client gets every item once, in order, from the one job."""
    port = int(server.url.rsplit(":", 1)[1])
    proxy = CuttingProxy(port)
    received = []
    with proxy.running() as url, Client(url, retry=RetryPolicy(backoff=0.05)) as client:
        answer = client.events("/chat", method="POST", item=Token, params={"tokens": 12, "delay": 0.05})
        for event in answer:
            received.append(event.data.index)
            if len(received) == 4:
                proxy.cut()
    assert received == list(range(12))
    wait_for(lambda: "generator closed" in events(server))
    assert events(server).count("generator closed") == 1


def test_chromiums_event_source_resumes_a_durable_answer_on_another_worker(redis_url: str, browser: Any) -> None:
    """Chromium's own ``EventSource`` reads a durable answer through a proxy; the proxy drops the connection and
    sends the browser's reconnection to a second worker: the browser resumes (``Last-Event-ID``, by itself)
    from the shared log, every item once, in order."""
    env = {"DURABLE_BACKEND": "redis", "REDIS_URL": redis_url, "REDIS_PREFIX": f"test:{uuid.uuid4().hex}:"}
    with serve_process(APP, env=env) as first, serve_process(APP, env=env) as second:
        proxy = CuttingProxy(int(first.url.rsplit(":", 1)[1]))
        with proxy.running() as url:
            page = browser.new_page()
            page.goto(f"{url}/page?tokens=20")
            page.wait_for_function("window.received.length >= 5", timeout=20_000)
            proxy.target_port = int(second.url.rsplit(":", 1)[1])
            proxy.cut()
            page.wait_for_function("window.received.length >= 20", timeout=30_000)
            received = page.evaluate("window.received")
            opened = page.evaluate("window.opened")
            page.close()
        assert "generator closed" not in events(second)  # the second worker only read the job the first one ran
    assert received[:20] == list(range(20))
    assert opened >= 2
