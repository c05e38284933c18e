"""A stream in a format with a transcoder (an LLM protocol): the generator's items pass through it, one new
transcoder per stream, and what it returns is what the item source frames (as it is).

The lifecycle holds as for any stream: nothing is yielded before the first item the transcoder sends (so an
error before it is still a real status); an error after it is sent as the protocol's own error event, then
raised, so the stream ends as failed (logged, and cleanly closed: the plan's record after it is empty); closing
the stream closes the generator (a client that left cancels the upstream model call).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import Any

from linestream._compile.encoders import failure_problem
from linestream.streams import Transcoder

__all__ = ["transcoded", "transcoded_sync"]


async def transcoded(items: AsyncIterator[Any], transcoder: Transcoder) -> AsyncGenerator[bytes, None]:
    """The frames of an async generator's items, through ``transcoder``."""
    count = 0
    started = False
    try:
        async for item in items:
            frames = transcoder.encode(item)
            count += 1
            if frames:
                started = True
                yield frames
        yield transcoder.end()
    except Exception as exc:
        if not started:
            raise
        yield transcoder.error(failure_problem(exc, count))
        raise
    finally:
        close = getattr(items, "aclose", None)
        if close is not None:
            await close()


def transcoded_sync(items: Iterator[Any], transcoder: Transcoder) -> Generator[bytes, None, None]:
    """The frames of a ``def`` generator's items, through ``transcoder`` (in the generator's worker thread)."""
    count = 0
    started = False
    try:
        for item in items:
            frames = transcoder.encode(item)
            count += 1
            if frames:
                started = True
                yield frames
        yield transcoder.end()
    except Exception as exc:
        if not started:
            raise
        yield transcoder.error(failure_problem(exc, count))
        raise
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()
