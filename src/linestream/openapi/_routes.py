"""The routes that document an app: ``/openapi.json``, the ``/docs`` page and the ``/explorer`` page, with their
static assets (shipped in packages, never from a CDN).

The two pages load only same-origin assets, so they are served with a strict Content-Security-Policy (scripts
from the app only, plus the one inline script of ``/docs`` by its hash; requests to the app only; no framing),
``X-Content-Type-Options: nosniff`` and ``X-Frame-Options: DENY``: a page that lets anyone call the API must not
be framed by another site or run anything it did not ship.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from linestream.openapi._docs import docs_static_path, swagger_ui_html
from linestream.openapi._explorer import explorer_html, explorer_static_path

__all__ = ["documentation_routes", "page_headers"]


def page_headers(inline_scripts: tuple[str, ...] = (), *, styles_inline: bool = False) -> dict[str, str]:
    """The security headers of a documentation page whose own inline scripts are ``inline_scripts``."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in inline_scripts
    )
    policy = [
        "default-src 'none'",
        f"script-src 'self' {hashes}".rstrip(),
        "style-src 'self' 'unsafe-inline'" if styles_inline else "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return {
        "content-security-policy": "; ".join(policy),
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "same-origin",
        "cache-control": "no-cache",
    }


def documentation_routes(
    *,
    title: str,
    document: Callable[[], dict[str, Any]],
    openapi_url: str | None,
    docs_url: str | None,
    explorer_url: str | None,
) -> list[BaseRoute]:
    """The routes serving ``document()`` at ``openapi_url`` and the pages that read it (none without it)."""
    if openapi_url is None:
        return []

    async def openapi_document(request: Request) -> Response:
        return JSONResponse(document(), headers={"x-content-type-options": "nosniff"})

    routes: list[BaseRoute] = [Route(openapi_url, openapi_document, include_in_schema=False, name="linestream-openapi")]
    if docs_url is not None:
        docs_static = docs_url.rstrip("/") + "/static"

        async def docs_page(request: Request) -> Response:
            root = request.scope.get("root_path", "")
            page, script = swagger_ui_html(title, root + openapi_url, root + docs_static)
            # Swagger UI sets style attributes from its scripts: its page needs inline styles.
            return HTMLResponse(page, headers=page_headers((script,), styles_inline=True))

        routes.append(Route(docs_url, docs_page, include_in_schema=False, name="linestream-docs"))
        routes.append(Mount(docs_static, StaticFiles(directory=docs_static_path()), name="linestream-docs-static"))
    if explorer_url is not None:
        explorer_static = explorer_url.rstrip("/") + "/static"

        async def explorer_page(request: Request) -> Response:
            root = request.scope.get("root_path", "")
            page = explorer_html(title, root + openapi_url, root + explorer_static, root)
            return HTMLResponse(page, headers=page_headers())

        routes.append(Route(explorer_url, explorer_page, include_in_schema=False, name="linestream-explorer"))
        static = StaticFiles(directory=explorer_static_path())
        routes.append(Mount(explorer_static, static, name="linestream-explorer-static"))
    return routes
