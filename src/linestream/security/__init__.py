"""Security: FastAPI's security utilities (same names, signatures and behaviour), and what streams need.

Each scheme is a dependency (``Depends(oauth2_scheme)``) that reads the credential and refuses a request
without one (401, with its ``WWW-Authenticate`` challenge, as a problem; ``auto_error=False``: ``None``
instead), and that the OpenAPI document lists in ``components.securitySchemes`` and the operation's
``security``. On a stream, it runs before the first item: a refused request gets a real 401, never a cut 200.

For streams: ``StreamTickets`` authorize an ``EventSource`` (which cannot send headers) with short-lived
signed tickets; ``credentials_expire_at`` ends a stream when the credential it was opened with expires.
docs/security.md explains each.
"""

from __future__ import annotations

from linestream._engine.expiry import credentials_expire_at
from linestream.params import Security, SecurityScopes
from linestream.security._api_key import APIKeyBase, APIKeyCookie, APIKeyHeader, APIKeyQuery
from linestream.security._base import SecurityBase, get_authorization_scheme_param
from linestream.security._http import (
    HTTPAuthorizationCredentials,
    HTTPBase,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
    HTTPDigest,
)
from linestream.security._oauth2 import (
    OAuth2,
    OAuth2AuthorizationCodeBearer,
    OAuth2PasswordBearer,
    OAuth2PasswordRequestForm,
    OAuth2PasswordRequestFormStrict,
    OpenIdConnect,
)
from linestream.security._tickets import StreamTickets

__all__ = [
    "APIKeyBase",
    "APIKeyCookie",
    "APIKeyHeader",
    "APIKeyQuery",
    "HTTPAuthorizationCredentials",
    "HTTPBase",
    "HTTPBasic",
    "HTTPBasicCredentials",
    "HTTPBearer",
    "HTTPDigest",
    "OAuth2",
    "OAuth2AuthorizationCodeBearer",
    "OAuth2PasswordBearer",
    "OAuth2PasswordRequestForm",
    "OAuth2PasswordRequestFormStrict",
    "OpenIdConnect",
    "Security",
    "SecurityBase",
    "SecurityScopes",
    "StreamTickets",
    "credentials_expire_at",
    "get_authorization_scheme_param",
]
