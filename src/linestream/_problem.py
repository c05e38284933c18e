"""RFC 9457 problem details (``application/problem+json``) for every error linestream answers itself."""

from __future__ import annotations

import http
import logging
from collections.abc import Mapping
from typing import Any

import pydantic_core
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from linestream._fastapi import fastapi_jsonable
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


def _fastapi_app(request: Request) -> bool:
    """Whether the request's app answers as FastAPI (``compat="fastapi"``): then the default handlers, called by
    an app's own, answer as FastAPI's do."""
    return getattr(request.scope.get("app"), "compat", None) == "fastapi"


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _fastapi_app(request):
        return await fastapi_http_exception_handler(request, exc)
    return problem_response(exc.status_code, exc.detail, headers=exc.headers)


async def request_validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if _fastapi_app(request):
        return await fastapi_request_validation_handler(request, exc)
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


#: The shapes an app's error bodies may take: RFC 9457 problems, or FastAPI's ``{"detail": ...}``.
ERROR_FORMATS = ("problem", "fastapi")


def default_exception_handlers(error_format: str = "problem") -> dict[Any, Any]:
    """The handlers every app starts with: problem+json bodies, or FastAPI's shapes (``error_format="fastapi"``)
    for an app whose clients read ``detail`` while it migrates."""
    if error_format not in ERROR_FORMATS:
        raise ValueError(f"error_format must be one of {ERROR_FORMATS}, not {error_format!r}")
    if error_format == "fastapi":
        return {
            StarletteHTTPException: fastapi_http_exception_handler,
            RequestValidationError: fastapi_request_validation_handler,
            ResponseValidationError: fastapi_server_error_handler,
            StreamItemTooLarge: fastapi_server_error_handler,
            TopicBackendUnavailable: fastapi_server_error_handler,
            Exception: fastapi_server_error_handler,
        }
    return {
        StarletteHTTPException: http_exception_handler,
        RequestValidationError: request_validation_handler,
        ResponseValidationError: response_validation_handler,
        StreamItemTooLarge: item_too_large_handler,
        TopicBackendUnavailable: topic_backend_handler,
        Exception: server_error_handler,
    }


def _json(content: Any, status: int, headers: Mapping[str, str] | None = None) -> Response:
    body = pydantic_core.to_json(content, fallback=str)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


async def fastapi_http_exception_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's answer to an ``HTTPException``: ``{"detail": ...}`` (no body for 204 and 304)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (204, 304) or exc.status_code < 200:
        return Response(status_code=exc.status_code, headers=exc.headers)
    return _json({"detail": exc.detail}, exc.status_code, exc.headers)


async def fastapi_request_validation_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's 422: ``{"detail": [errors]}``, each error with ``type``, ``loc``, ``msg``, ``input``."""
    assert isinstance(exc, RequestValidationError)
    return _json({"detail": fastapi_jsonable(exc.errors)}, 422)


async def fastapi_server_error_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's (Starlette's) 500: the plain text ``Internal Server Error``; the error is logged."""
    if isinstance(exc, (ResponseValidationError, StreamItemTooLarge, TopicBackendUnavailable)):
        logger.error("%s %s: %s", request.method, request.url.path, exc, exc_info=exc)
    return PlainTextResponse("Internal Server Error", status_code=500)
