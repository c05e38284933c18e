"""The protocol's answers over HTTP: every one with the browser security headers, errors as problem+json bodies
beside the headers the protocol asks for."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from linestream.durable._protocol import ProtocolError

__all__ = ["SECURITY_HEADERS", "problem", "reply"]

#: Sent on every answer (the protocol's browser security headers).
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Cross-Origin-Resource-Policy": "cross-origin"}


def reply(status: int, headers: dict[str, str], body: bytes = b"") -> Response:
    response = Response(body, status_code=status, headers={**headers, **SECURITY_HEADERS})
    if "Content-Type" not in headers:
        # Starlette names no media type for a body-less answer; drop the length header it adds for 204/304.
        response.raw_headers = [(name, value) for name, value in response.raw_headers if name != b"content-type"]
    return response


def problem(error: ProtocolError) -> Response:
    fields: dict[str, Any] = {
        "type": "about:blank",
        "status": error.status,
        "title": TITLES.get(error.status, "Error"),
        "detail": error.detail,
    }
    if error.errors is not None:
        fields["errors"] = error.errors
    body = json.dumps(fields).encode()
    return reply(error.status, {"Content-Type": "application/problem+json", **error.headers}, body)


TITLES = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    410: "Gone",
    413: "Content Too Large",
    422: "Unprocessable Content",
    503: "Service Unavailable",
}
