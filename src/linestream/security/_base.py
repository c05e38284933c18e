"""What every security scheme shares: its OpenAPI description, and how it refuses a request."""

from __future__ import annotations

from typing import Any

from linestream.exceptions import HTTPException

__all__ = ["SecurityBase", "get_authorization_scheme_param"]


class SecurityBase:
    """A security scheme used as a dependency. ``model`` is its OpenAPI Security Scheme Object, published under
    ``components.securitySchemes[scheme_name]``; every operation that depends on it lists it in ``security``."""

    model: dict[str, Any]
    scheme_name: str
    auto_error: bool

    def __init__(self, model: dict[str, Any], scheme_name: str | None, description: str | None, auto_error: bool):
        self.model = {**model, **({"description": description} if description else {})}
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    def make_authenticate_headers(self) -> dict[str, str]:
        """The ``WWW-Authenticate`` challenge a 401 of this scheme carries."""
        return {"WWW-Authenticate": "Bearer"}

    def make_not_authenticated_error(self) -> HTTPException:
        """The 401 for a request without (valid) credentials of this scheme."""
        return HTTPException(401, "Not authenticated", headers=self.make_authenticate_headers())

    def _given(self, value: str | None) -> str | None:
        """``value`` when the request carries it; else a 401, or ``None`` with ``auto_error=False``."""
        if not value:
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scheme_name={self.scheme_name!r})"


def get_authorization_scheme_param(authorization: str | None) -> tuple[str, str]:
    """``("Bearer", "token")`` of an ``Authorization`` value ``"Bearer token"``; ``("", "")`` when absent."""
    if not authorization:
        return "", ""
    scheme, _, param = authorization.partition(" ")
    return scheme, param.strip()
