"""RFC 9457 problem details (``application/problem+json``) for every error linestream answers itself."""

from __future__ import annotations

import http
import logging
from collections.abc import Mapping
from typing import Any

import pydantic_core
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from linestream.exceptions import (
    RequestValidationError,
    ResponseValidationError,
    StreamItemTooLarge,
    TopicBackendUnavailable,
)

__all__ = ["PROBLEM_MEDIA_TYPE", "default_exception_handlers", "problem_body", "problem_response"]

PROBLEM_MEDIA_TYPE = "application/problem+json"
logger = logging.getLogger("linestream")


def problem_body(status: int, detail: Any = None, **extensions: Any) -> dict[str, Any]:
    """The RFC 9457 problem object: ``type``, ``title`` (the reason phrase), ``status``, ``detail``, extensions."""
    try:
        title = http.HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    body.update(extensions)
    return body


def problem_response(
    status: int,
    detail: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """A problem-JSON response: ``type``, ``title`` (the reason phrase), ``status``, ``detail`` and extensions."""
    if status in (204, 304) or status < 200:
        return Response(status_code=status, headers=headers)
    content = pydantic_core.to_json(problem_body(status, detail, **extensions), fallback=str)
    return Response(content, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(exc.status_code, exc.detail, headers=exc.headers)


async def request_validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if exc.errors_omitted:
        return problem_response(422, exc.detail, errors=exc.errors, errors_omitted=exc.errors_omitted)
    return problem_response(422, exc.detail, errors=exc.errors)


async def item_too_large_handler(request: Request, exc: Exception) -> Response:
    logger.error("%s %s: %s", request.method, request.url.path, exc)
    return problem_response(500, "The server produced an item larger than it allows.")


async def response_validation_handler(request: Request, exc: Exception) -> Response:
    logger.error("%s %s: %s", request.method, request.url.path, exc, exc_info=exc)
    return problem_response(500, "The server produced a response that does not match its declared type.")


async def topic_backend_handler(request: Request, exc: Exception) -> Response:
    logger.error("%s %s: %s", request.method, request.url.path, exc)
    return problem_response(
        503, "A backend this request needs is unavailable; retry later.", headers={"retry-after": "1"}
    )


async def server_error_handler(request: Request, exc: Exception) -> Response:
    return problem_response(500, "The server failed to process the request.")


def default_exception_handlers() -> dict[Any, Any]:
    return {
        StarletteHTTPException: http_exception_handler,
        RequestValidationError: request_validation_handler,
        ResponseValidationError: response_validation_handler,
        StreamItemTooLarge: item_too_large_handler,
        TopicBackendUnavailable: topic_backend_handler,
        Exception: server_error_handler,
    }
