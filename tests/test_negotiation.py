"""Accept -> the stream format a route serves: q-values, wildcards, specificity, the server's order, limits."""

from __future__ import annotations

import pytest

from linestream._negotiation import MAX_ACCEPT_LENGTH, MAX_RANGES, negotiate
from linestream.exceptions import HTTPException
from linestream.streams import FORMATS, JSON_ARRAY, JSON_LINES, NDJSON, SSE


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON_LINES),
        ("", JSON_LINES),
        ("*/*", JSON_LINES),
        ("text/event-stream", SSE),
        ("application/json", JSON_ARRAY),
        ("application/*", JSON_LINES),
        ("application/x-ndjson, text/event-stream;q=0.5", NDJSON),
        ("application/x-ndjson;q=0.2, text/event-stream;q=0.5", SSE),
        ("text/*;q=0.3, application/jsonl;q=0.1", SSE),
        ("text/event-stream;q=0, */*;q=0.1", JSON_LINES),  # q=0: not acceptable, whatever the wildcard says
        ("TEXT/Event-Stream", SSE),
        ("application/jsonl;q=oops, text/event-stream", SSE),
        ("image/png", None),
        ("text/event-stream;q=0", None),
        ("garbage, text/event-stream", SSE),
    ],
)
def test_the_client_preference_then_the_servers_order_decides(accept: str | None, chosen: object) -> None:
    assert negotiate(accept, FORMATS) is chosen


def test_only_offered_formats_are_chosen() -> None:
    assert negotiate("*/*", (SSE,)) is SSE
    assert negotiate("application/jsonl", (SSE,)) is None


def test_absurd_accept_headers_are_refused_before_they_are_parsed() -> None:
    with pytest.raises(HTTPException) as too_long:
        negotiate("a" * (MAX_ACCEPT_LENGTH + 1), FORMATS)
    assert too_long.value.status_code == 431
    with pytest.raises(HTTPException) as too_many:
        negotiate(",".join(["text/plain"] * (MAX_RANGES + 1)), FORMATS)
    assert too_many.value.status_code == 400
