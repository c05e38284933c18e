"""The httpx options the clients pass on, typed: a misspelt or mistyped one fails type checking, as it would on
httpx itself (``client.get_stream(url, heders=...)`` is an error, not silently ignored)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from http.cookiejar import CookieJar
from typing import Any

import httpx
from typing_extensions import TypedDict

__all__ = ["ClientOptions", "RequestOptions"]

Primitive = str | int | float | bool | None
QueryParams = (
    httpx.QueryParams
    | Mapping[str, Primitive | Sequence[Primitive]]
    | list[tuple[str, Primitive]]
    | tuple[tuple[str, Primitive], ...]
    | str
    | bytes
)
Headers = httpx.Headers | Mapping[str, str] | Mapping[bytes, bytes] | Sequence[tuple[str, str]]
Cookies = httpx.Cookies | CookieJar | dict[str, str] | list[tuple[str, str]]
Auth = httpx.Auth | tuple[str | bytes, str | bytes] | Callable[[httpx.Request], httpx.Request]
Timeout = httpx.Timeout | float | tuple[float | None, float | None, float | None, float | None] | None


class RequestOptions(TypedDict, total=False):
    """What one request may set, as on ``httpx.Client.request``."""

    params: QueryParams
    headers: Headers
    cookies: Cookies
    content: str | bytes | Iterable[bytes] | AsyncIterable[bytes]
    data: Mapping[str, Any]
    files: Any
    json: Any
    auth: Auth
    follow_redirects: bool
    timeout: Timeout
    extensions: Mapping[str, Any]


class ClientOptions(TypedDict, total=False):
    """What a client made from a base URL passes to the ``httpx.Client`` (or ``httpx.AsyncClient``) it makes."""

    auth: Auth
    params: QueryParams
    headers: Headers
    cookies: Cookies
    verify: Any
    cert: Any
    trust_env: bool
    http1: bool
    http2: bool
    proxy: str | httpx.URL | httpx.Proxy
    mounts: Mapping[str, Any]
    timeout: Timeout
    follow_redirects: bool
    limits: httpx.Limits
    max_redirects: int
    event_hooks: Mapping[str, list[Callable[..., Any]]]
    transport: Any
    default_encoding: str | Callable[[bytes], str]
