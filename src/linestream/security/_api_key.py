"""API keys in a header, the query string or a cookie: ``APIKeyHeader``, ``APIKeyQuery``, ``APIKeyCookie``."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from linestream.security._base import SecurityBase

__all__ = ["APIKeyBase", "APIKeyCookie", "APIKeyHeader", "APIKeyQuery"]


class APIKeyBase(SecurityBase):
    """An API key named ``name`` in ``location`` (``header``, ``query`` or ``cookie``): gives the key as a string
    (401 with ``WWW-Authenticate: APIKey`` when absent, unless ``auto_error=False``: then ``None``)."""

    location = "header"

    def __init__(
        self, *, name: str, scheme_name: str | None = None, description: str | None = None, auto_error: bool = True
    ) -> None:
        super().__init__({"type": "apiKey", "in": self.location, "name": name}, scheme_name, description, auto_error)
        self.name = name

    def make_authenticate_headers(self) -> dict[str, str]:
        # No standard challenge exists for API keys, and a 401 must carry one (RFC 9110): this one names the scheme.
        return {"WWW-Authenticate": "APIKey"}

    def _found(self, request: HTTPConnection) -> str | None:
        raise NotImplementedError

    async def __call__(self, request: HTTPConnection) -> str | None:
        return self._given(self._found(request))


class APIKeyHeader(APIKeyBase):
    """An API key in the header ``name`` (``X-API-Key``)."""

    location = "header"

    def _found(self, request: HTTPConnection) -> str | None:
        return request.headers.get(self.name)


class APIKeyQuery(APIKeyBase):
    """An API key in the query parameter ``name`` (it ends up in logs and browser history: prefer a header)."""

    location = "query"

    def _found(self, request: HTTPConnection) -> str | None:
        return request.query_params.get(self.name)


class APIKeyCookie(APIKeyBase):
    """An API key in the cookie ``name`` (a session cookie)."""

    location = "cookie"

    def _found(self, request: HTTPConnection) -> str | None:
        return request.cookies.get(self.name)
