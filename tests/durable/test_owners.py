"""Jobs that belong to their owner: ``DurableStreams(owner=dependency, secret=...)`` binds each durable job's id
to the principal that started it, so that only that principal reads, resumes or cancels it (to anyone else it
does not exist: 404), on every worker with the same secret; a job's log is written by its job only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
from pydantic import BaseModel

from linestream import Depends, Header, HTTPException, LineStream
from linestream.durable import DurableStreams
from linestream.testing import TestClient


class Word(BaseModel):
    text: str


def current_user(x_user: str = Header()) -> str:
    return x_user


def make_app() -> LineStream:
    streams = DurableStreams(owner=current_user, secret="test secret")
    app = LineStream()
    app.include_router(streams, prefix="/v1/stream")

    @app.post("/chat", durable=streams)
    async def chat(words: int = 3, delay: float = 0.0) -> AsyncIterator[Word]:
        for index in range(words):
            if index:
                await anyio.sleep(delay)
            yield Word(text=f"word {index}")

    return app


ALICE = {"X-User": "alice"}
BOB = {"X-User": "bob"}


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(make_app()) as client:
        yield client


def test_only_the_owner_reads_a_job(client: TestClient) -> None:
    answer = client.post("/chat", headers=ALICE)
    location = answer.headers["location"]
    assert client.get(location, headers=ALICE).json() == [{"text": f"word {index}"} for index in range(3)]
    assert client.get(location, headers=BOB).status_code == 404
    assert client.head(location, headers=BOB).status_code == 404


def test_only_the_owner_resumes_a_job(client: TestClient) -> None:
    headers = {**ALICE, "Accept": "text/event-stream"}
    with client.stream("POST", "/chat", headers=headers) as answer:
        first_id = next(line for line in answer.iter_lines() if line.startswith("id:")).removeprefix("id: ")
    resumed = client.post("/chat", headers={**BOB, "Accept": "text/event-stream", "Last-Event-ID": first_id})
    assert resumed.status_code == 404
    mine = client.post("/chat", headers={**headers, "Last-Event-ID": first_id})
    assert [line for line in mine.text.splitlines() if line.startswith("data:")] == [
        'data: {"text":"word 1"}',
        'data: {"text":"word 2"}',
    ]


def test_only_the_owner_cancels_a_job(client: TestClient) -> None:
    with client.stream("POST", "/chat", params={"words": 1000, "delay": 0.05}, headers=ALICE) as answer:
        next(answer.iter_lines())
        location = answer.headers["location"]
    assert client.delete(location, headers=BOB).status_code == 404
    assert client.delete(location, headers=ALICE).status_code == 204
    assert client.get(location, headers=ALICE).json()[-1]["$linestream"]["outcome"] == "cancelled"


def test_a_jobs_log_is_written_by_its_job_only_and_leases_are_internal(client: TestClient) -> None:
    job = client.post("/chat", headers=ALICE).headers["stream-id"]
    json_body = {**ALICE, "Content-Type": "application/json"}
    assert client.post(f"/v1/stream/jobs/{job}", headers=json_body, content=b"[1]").status_code == 403
    assert client.put(f"/v1/stream/jobs/{job}", headers=json_body).status_code == 403
    assert client.get(f"/v1/stream/leases/{job}", headers=ALICE).status_code == 404


def test_an_owner_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="secret="):
        DurableStreams(owner=current_user)


def test_a_resume_runs_the_routes_dependencies_again() -> None:
    def authorize(authorization: str = Header()) -> None:
        if authorization != "Bearer ok":
            raise HTTPException(401, "a valid bearer token is required")

    streams = DurableStreams()
    app = LineStream()
    app.include_router(streams, prefix="/v1/stream")

    @app.post("/chat", durable=streams, dependencies=[Depends(authorize)])
    async def chat() -> AsyncIterator[Word]:
        yield Word(text="only for the authorized")
        yield Word(text="again")

    sse = {"Accept": "text/event-stream"}
    with TestClient(app) as client:
        with client.stream("POST", "/chat", headers={**sse, "Authorization": "Bearer ok"}) as answer:
            first_id = next(line for line in answer.iter_lines() if line.startswith("id:")).removeprefix("id: ")
        resumed = client.post("/chat", headers={**sse, "Authorization": "Bearer stolen", "Last-Event-ID": first_id})
        assert resumed.status_code == 401
        allowed = client.post("/chat", headers={**sse, "Authorization": "Bearer ok", "Last-Event-ID": first_id})
        assert 'data: {"text":"again"}' in allowed.text
