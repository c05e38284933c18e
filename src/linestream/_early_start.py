"""``response_may_start()``: a generator's way to let its response start before its first item.

A leaf module: the stream that is producing its first item offers a hook in a context variable, and code far
from the server (a topic subscription, a user's generator) may call it without knowing the server.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

__all__ = ["offering_early_start", "response_may_start"]

_REQUEST_START: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "linestream_request_start", default=None
)


def response_may_start() -> None:
    """Tell the stream being produced in this context that its response may start before its first item.

    For a generator about to wait a long time for its first item (a topic subscription) once nothing can fail
    with an error status any more: the client gets the response head at once instead of after the first item
    (or the first keep-alive). Errors after this point abort the stream like any error after the start. Outside
    of the first item's production, this does nothing:

    ```python
    @app.get("/jobs/{job_id}/progress")
    async def progress(job_id: str) -> AsyncIterable[Progress]:
        job = find_job(job_id)  # may still raise HTTPException(404)
        response_may_start()  # the 200 and headers go out now; the first update may take minutes
        async for update in job.updates():
            yield update
    ```
    """
    request_start = _REQUEST_START.get()
    if request_start is not None:
        request_start()


@contextlib.contextmanager
def offering_early_start(request_start: Callable[[], None]) -> Iterator[None]:
    """While the first item is produced, ``response_may_start()`` calls ``request_start``."""
    token = _REQUEST_START.set(request_start)
    try:
        yield
    finally:
        _REQUEST_START.reset(token)
