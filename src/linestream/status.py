"""HTTP status codes by name (``status.HTTP_404_NOT_FOUND``), as FastAPI and Starlette name them."""

from __future__ import annotations

from starlette.status import *  # noqa: F403 - the module is the list of names
from starlette.status import __all__ as __all__
