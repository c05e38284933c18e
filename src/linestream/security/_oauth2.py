"""OAuth2 and OpenID Connect: the bearer-token schemes, and the password flow's form."""

from __future__ import annotations

from typing import Annotated, Any

from starlette.requests import HTTPConnection

from linestream.params import Form
from linestream.security._base import SecurityBase, get_authorization_scheme_param

__all__ = [
    "OAuth2",
    "OAuth2AuthorizationCodeBearer",
    "OAuth2PasswordBearer",
    "OAuth2PasswordRequestForm",
    "OAuth2PasswordRequestFormStrict",
    "OpenIdConnect",
]


class OAuth2PasswordRequestForm:
    """The form of OAuth2's password flow (RFC 6749 section 4.3), as a dependency: ``username``, ``password``,
    ``scopes`` (the ``scope`` field split at spaces), ``grant_type`` (``"password"`` if sent), ``client_id`` and
    ``client_secret``. A token route takes it with ``Annotated[OAuth2PasswordRequestForm, Depends()]``."""

    def __init__(
        self,
        *,
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        username: Annotated[str, Form()],
        password: Annotated[str, Form(json_schema_extra={"format": "password"})],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form(json_schema_extra={"format": "password"})] = None,
    ) -> None:
        self.grant_type = grant_type
        self.username = username
        self.password = password
        self.scopes = scope.split()
        self.client_id = client_id
        self.client_secret = client_secret


class OAuth2PasswordRequestFormStrict(OAuth2PasswordRequestForm):
    """``OAuth2PasswordRequestForm`` that requires ``grant_type=password``, as the specification does."""

    def __init__(
        self,
        grant_type: Annotated[str, Form(pattern="^password$")],
        username: Annotated[str, Form()],
        password: Annotated[str, Form(json_schema_extra={"format": "password"})],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form(json_schema_extra={"format": "password"})] = None,
    ) -> None:
        super().__init__(
            grant_type=grant_type,
            username=username,
            password=password,
            scope=scope,
            client_id=client_id,
            client_secret=client_secret,
        )


class OAuth2(SecurityBase):
    """OAuth2 with the given ``flows`` (an OpenAPI OAuth Flows Object): gives the ``Authorization`` header."""

    def __init__(
        self,
        *,
        flows: dict[str, Any] | None = None,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__({"type": "oauth2", "flows": flows or {}}, scheme_name, description, auto_error)

    async def __call__(self, request: HTTPConnection) -> str | None:
        return self._given(request.headers.get("authorization"))

    def _bearer(self, request: HTTPConnection) -> str | None:
        scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
        return self._given(token if scheme.lower() == "bearer" else None)


class _BearerFlow(OAuth2):
    """An OAuth2 flow whose tokens come as ``Authorization: Bearer <token>``: gives the token."""

    def __init__(
        self,
        flow: str,
        urls: dict[str, str | None],
        scopes: dict[str, str] | None,
        scheme_name: str | None,
        description: str | None,
        auto_error: bool,
    ) -> None:
        described = {key: value for key, value in urls.items() if value is not None}
        super().__init__(
            flows={flow: {**described, "scopes": dict(scopes or {})}},
            scheme_name=scheme_name,
            description=description,
            auto_error=auto_error,
        )

    async def __call__(self, request: HTTPConnection) -> str | None:
        return self._bearer(request)


class OAuth2PasswordBearer(_BearerFlow):
    """A bearer token obtained with the password flow at ``tokenUrl`` (the route taking an
    ``OAuth2PasswordRequestForm``): gives the token (401 with ``WWW-Authenticate: Bearer`` without one). The
    API's documentation (``/docs``) gets an Authorize button that logs in against ``tokenUrl``."""

    def __init__(
        self,
        tokenUrl: str,  # noqa: N803 - FastAPI's name (OpenAPI's)
        scheme_name: str | None = None,
        scopes: dict[str, str] | None = None,
        description: str | None = None,
        auto_error: bool = True,
        refreshUrl: str | None = None,  # noqa: N803
    ) -> None:
        urls = {"tokenUrl": tokenUrl, "refreshUrl": refreshUrl}
        super().__init__("password", urls, scopes, scheme_name, description, auto_error)


class OAuth2AuthorizationCodeBearer(_BearerFlow):
    """A bearer token obtained with the authorization code flow (``authorizationUrl``, ``tokenUrl``)."""

    def __init__(
        self,
        authorizationUrl: str,  # noqa: N803 - FastAPI's names (OpenAPI's)
        tokenUrl: str,  # noqa: N803
        refreshUrl: str | None = None,  # noqa: N803
        scheme_name: str | None = None,
        scopes: dict[str, str] | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        urls = {"authorizationUrl": authorizationUrl, "tokenUrl": tokenUrl, "refreshUrl": refreshUrl}
        super().__init__("authorizationCode", urls, scopes, scheme_name, description, auto_error)


class OpenIdConnect(SecurityBase):
    """OpenID Connect, discovered at ``openIdConnectUrl``: gives the ``Authorization`` header (to verify)."""

    def __init__(
        self,
        *,
        openIdConnectUrl: str,  # noqa: N803 - FastAPI's name (OpenAPI's)
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        model = {"type": "openIdConnect", "openIdConnectUrl": openIdConnectUrl}
        super().__init__(model, scheme_name, description, auto_error)

    async def __call__(self, request: HTTPConnection) -> str | None:
        return self._given(request.headers.get("authorization"))
