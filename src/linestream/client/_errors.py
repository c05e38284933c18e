"""The clients' HTTP error, shared by their streams and their WebSocket streams."""

from __future__ import annotations

from typing import Any

import httpx
import pydantic_core

from linestream.exceptions import LineStreamError

__all__ = ["HTTPStatusError"]


class HTTPStatusError(httpx.HTTPStatusError, LineStreamError):
    """The server answered a stream request with a non-2xx status. ``problem`` is its problem-JSON body (or
    ``None`` when the body is not JSON)."""

    def __init__(self, response: httpx.Response, body: bytes) -> None:
        self.problem: dict[str, Any] | None = None
        try:
            value = pydantic_core.from_json(body)
        except ValueError:
            value = None
        if isinstance(value, dict):
            self.problem = value
        detail = (self.problem or {}).get("detail") or body[:200].decode("utf-8", "replace") or response.reason_phrase
        super().__init__(
            f"{response.status_code} {response.reason_phrase} for {response.request.method} {response.request.url}: "
            f"{detail}",
            request=response.request,
            response=response,
        )
