"""HTTP authentication schemes (RFC 9110): ``HTTPBasic``, ``HTTPBearer``, ``HTTPDigest``."""

from __future__ import annotations

import base64
import binascii

from pydantic import BaseModel
from starlette.requests import HTTPConnection

from linestream.security._base import SecurityBase, get_authorization_scheme_param

__all__ = ["HTTPAuthorizationCredentials", "HTTPBase", "HTTPBasic", "HTTPBasicCredentials", "HTTPBearer", "HTTPDigest"]


class HTTPBasicCredentials(BaseModel):
    """The user name and password of an ``Authorization: Basic`` header."""

    username: str
    password: str


class HTTPAuthorizationCredentials(BaseModel):
    """An ``Authorization`` header split at its first space: ``scheme`` (``Bearer``) and ``credentials``."""

    scheme: str
    credentials: str


class HTTPBase(SecurityBase):
    """An HTTP authentication ``scheme``: gives the ``Authorization`` header's scheme and credentials."""

    def __init__(
        self, *, scheme: str, scheme_name: str | None = None, description: str | None = None, auto_error: bool = True
    ) -> None:
        super().__init__({"type": "http", "scheme": scheme}, scheme_name, description, auto_error)

    def make_authenticate_headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": str(self.model["scheme"]).title()}

    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:
        return self._credentials(request, None)

    def _credentials(self, request: HTTPConnection, expected: str | None) -> HTTPAuthorizationCredentials | None:
        authorization = request.headers.get("authorization")
        scheme, credentials = get_authorization_scheme_param(authorization)
        if not (scheme and credentials) or (expected is not None and scheme.lower() != expected):
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        return HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)


class HTTPBasic(HTTPBase):
    """HTTP Basic authentication: gives ``HTTPBasicCredentials`` (401 with ``WWW-Authenticate: Basic``, and the
    ``realm`` when set, for a request without valid ones)."""

    def __init__(
        self,
        *,
        scheme_name: str | None = None,
        realm: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(scheme="basic", scheme_name=scheme_name, description=description, auto_error=auto_error)
        self.realm = realm

    def make_authenticate_headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": f'Basic realm="{self.realm}"' if self.realm else "Basic"}

    async def __call__(self, request: HTTPConnection) -> HTTPBasicCredentials | None:  # type: ignore[override]
        authorization = request.headers.get("authorization")
        scheme, param = get_authorization_scheme_param(authorization)
        if not authorization or scheme.lower() != "basic":
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        try:
            username, separator, password = base64.b64decode(param, validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise self.make_not_authenticated_error() from None
        if not separator:
            raise self.make_not_authenticated_error()
        return HTTPBasicCredentials(username=username, password=password)


class HTTPBearer(HTTPBase):
    """A bearer token (``Authorization: Bearer <token>``): gives ``HTTPAuthorizationCredentials``."""

    def __init__(
        self,
        *,
        bearerFormat: str | None = None,  # noqa: N803 - FastAPI's name (OpenAPI's)
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(scheme="bearer", scheme_name=scheme_name, description=description, auto_error=auto_error)
        if bearerFormat:
            self.model["bearerFormat"] = bearerFormat

    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:
        return self._credentials(request, "bearer")


class HTTPDigest(HTTPBase):
    """HTTP Digest authentication: gives the header's ``HTTPAuthorizationCredentials`` (to verify yourself)."""

    def __init__(
        self, *, scheme_name: str | None = None, description: str | None = None, auto_error: bool = True
    ) -> None:
        super().__init__(scheme="digest", scheme_name=scheme_name, description=description, auto_error=auto_error)

    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:
        return self._credentials(request, "digest")
