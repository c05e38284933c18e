"""What a durable path operation needs of the place its items go: ``DurableLog``, what ``durable=`` takes.

A leaf: ``linestream.durable.DurableStreams`` implements it (a durable stream per job, on the Durable Streams
protocol); the route handler only calls it. A job's items are stored as compact JSON, one message each; a job
that fails (or is cancelled) ends with one last record that says so (``failure_record``), so that every reader,
from any worker, sees the same end.
"""

from __future__ import annotations

import abc
import contextvars
import dataclasses
import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from starlette.requests import Request

__all__ = ["CURRENT_JOB", "FAILURE_KEY", "DurableLog", "JobFailed", "JobFailure", "current_job", "failure_from_record"]

#: The key of a job's last record when it did not complete: ``{"$linestream": {"outcome": ...}}``.
FAILURE_KEY = "$linestream"
_FAILURE_PREFIX = b'{"' + FAILURE_KEY.encode() + b'":'


#: The id of the durable job whose generator runs in this context (set by the job, for ``current_job()``).
CURRENT_JOB: contextvars.ContextVar[str | None] = contextvars.ContextVar("linestream_durable_job", default=None)


def current_job() -> str | None:
    """The id of the durable job whose generator calls this (``None`` outside one): what an app keeps to find
    the answer again, e.g. a chat's answer under way, to replay it with ``DurableStreams.job_items(job)``.

    ```python
    @app.post("/api/chat", stream_formats=[llm.AI_SDK], durable=streams)
    async def chat(request: llm.UIChatRequest) -> AsyncIterator[llm.Part]:
        answering[request.id] = current_job()
        ...
    ```
    """
    return CURRENT_JOB.get()


@dataclasses.dataclass(frozen=True, slots=True)
class JobFailure:
    """How a job ended if not by completing: ``outcome`` is ``"error"`` (the generator raised; ``status`` is
    what an error before any item answers), ``"cancelled"`` (someone cancelled it) or ``"lost"`` (the worker
    that ran it stopped: its lease ran out)."""

    outcome: str
    detail: str
    status: int = 500

    def record(self) -> bytes:
        return json.dumps(
            {FAILURE_KEY: {"outcome": self.outcome, "status": self.status, "detail": self.detail}},
            separators=(",", ":"),
        ).encode()


def failure_from_record(data: bytes) -> JobFailure | None:
    """The failure a job's record states, or ``None`` for an item."""
    if not data.startswith(_FAILURE_PREFIX):
        return None
    try:
        fields = json.loads(data)[FAILURE_KEY]
        return JobFailure(str(fields["outcome"]), str(fields["detail"]), int(fields["status"]))
    except (ValueError, KeyError, TypeError):
        return None


class JobFailed(Exception):
    """Raised by a job's reader at its failure record."""

    def __init__(self, failure: JobFailure) -> None:
        super().__init__(failure.detail)
        self.failure = failure


class DurableLog(abc.ABC):
    """Where durable path operations keep their items: one log per job, read by any worker.

    ``owner``: a dependency whose value names the principal a job belongs to (``None``: the job's id, which is
    unguessable, is what lets a client read it); a route solves it for each request and passes its value."""

    owner: Callable[..., Any] | None = None

    @abc.abstractmethod
    async def open_job(self, owner: Any = None) -> str:
        """Make the log of a new job of ``owner``; its id (unguessable: it is what lets a client read the job)."""

    @abc.abstractmethod
    async def append_items(self, job: str, items: Sequence[bytes]) -> bool:
        """Append items (compact JSON each); ``False`` if the job was cancelled or its log deleted."""

    @abc.abstractmethod
    async def finish_job(self, job: str, failure: JobFailure | None = None) -> None:
        """End the job's log: complete, or with its failure record."""

    @abc.abstractmethod
    async def hold(self, job: str) -> None:
        """Hold the job's lease while it runs (readers elsewhere then know its worker lives); return once the
        job was cancelled (or its log deleted, or closed by someone else)."""

    @abc.abstractmethod
    def read_job(self, job: str, position: str | None) -> AsyncIterator[tuple[str, bytes]]:
        """The job's items after ``position`` (``None``: all), then live until its end: ``(position, item)``
        pairs, a position being what a client sends back (SSE ``Last-Event-ID``) to resume right after that
        item. Raises ``JobFailed`` at a failure record, ``LookupError`` if there is no such job."""

    @abc.abstractmethod
    async def ended_at(self, job: str, position: str) -> bool:
        """Whether the job's log is complete and holds nothing after ``position``: a client resuming there has it
        all (answered 204, which stops an ``EventSource``)."""

    @abc.abstractmethod
    def resume_point(self, last_event_id: str, owner: Any = None) -> tuple[str, str] | None:
        """The job and position a ``Last-Event-ID`` names, or ``None`` if it names none of this log's; raises
        ``LookupError`` for a job that is not ``owner``'s."""

    @abc.abstractmethod
    def job_url(self, request: Request, job: str) -> str | None:
        """The URL that reads the job's log on the protocol (its ``Location``), if the log is served."""
