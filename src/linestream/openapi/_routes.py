"""The routes that document an app: ``/openapi.json``, the ``/docs`` (Swagger UI), ``/redoc`` and ``/explorer``
pages, with their static assets (shipped in this package, never from a CDN).

The pages load only same-origin assets, so they are served with a strict Content-Security-Policy (scripts from
the app only, plus a page's own inline script by its hash; requests to the app only; no framing),
``X-Content-Type-Options: nosniff`` and ``X-Frame-Options: DENY``: a page that lets anyone call the API must not
be framed by another site or run anything it did not ship.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from linestream.openapi._docs import ASSETS, page_headers, redoc_html, swagger_ui_html
from linestream.openapi._explorer import explorer_html, explorer_static_path

__all__ = ["DocumentationPages", "documentation_routes"]


@dataclasses.dataclass(frozen=True)
class DocumentationPages:
    """Where an app serves its document and pages (``None``: not at all), and how."""

    openapi_url: str | None = "/openapi.json"
    docs_url: str | None = "/docs"
    redoc_url: str | None = "/redoc"
    explorer_url: str | None = "/explorer"
    swagger_ui_parameters: dict[str, Any] | None = None
    swagger_ui_oauth2_redirect_url: str | None = "/docs/oauth2-redirect"
    swagger_ui_init_oauth: dict[str, Any] | None = None
    #: The request's ``root_path`` (behind a proxy that mounts the app under a prefix) as the document's server.
    root_path_in_servers: bool = True


def _static(url: str) -> str:
    return url.rstrip("/") + "/static"


def documentation_routes(
    title: str, document: Callable[[], dict[str, Any]], pages: DocumentationPages
) -> list[BaseRoute]:
    """The routes serving ``document()`` (called for each request, so an app may replace its ``openapi``) at
    ``pages.openapi_url`` and the pages that read it (none without it)."""
    openapi_url = pages.openapi_url
    if not openapi_url:
        return []

    async def openapi_document(request: Request) -> Response:
        content = document()
        root = request.scope.get("root_path", "")
        if root and pages.root_path_in_servers:
            servers = content.get("servers", [])
            if not any(server.get("url") == root for server in servers):
                content = {**content, "servers": [{"url": root}, *servers]}
        return JSONResponse(content, headers={"x-content-type-options": "nosniff"})

    routes: list[BaseRoute] = [Route(openapi_url, openapi_document, include_in_schema=False, name="linestream-openapi")]
    if pages.docs_url:
        docs_static = _static(pages.docs_url)
        redirect = pages.swagger_ui_oauth2_redirect_url

        async def docs_page(request: Request) -> Response:
            root = request.scope.get("root_path", "")
            page, script = swagger_ui_html(
                f"{title} - Swagger UI",
                root + openapi_url,
                root + docs_static,
                parameters=pages.swagger_ui_parameters,
                oauth2_redirect_url=root + redirect if redirect else None,
                init_oauth=pages.swagger_ui_init_oauth,
            )
            # Swagger UI sets style attributes from its scripts: its page needs inline styles.
            return HTMLResponse(page, headers=page_headers((script,), styles_inline=True))

        routes.append(Route(pages.docs_url, docs_page, include_in_schema=False, name="linestream-docs"))
        if redirect:

            async def oauth2_redirect(request: Request) -> Response:
                # Swagger UI's own redirect page, its script from the shipped assets (no inline script).
                script = html.escape(request.scope.get("root_path", "") + docs_static + "/oauth2-redirect.js")
                page = f'<!doctype html>\n<html lang="en-US"><body><script src="{script}"></script></body></html>\n'
                return HTMLResponse(page, headers=page_headers())

            routes.append(Route(redirect, oauth2_redirect, include_in_schema=False, name="linestream-docs-oauth2"))
        swagger_assets = StaticFiles(directory=ASSETS / "swagger-ui")
        routes.append(Mount(docs_static, swagger_assets, name="linestream-docs-static"))
    if pages.redoc_url:
        redoc_static = _static(pages.redoc_url)

        async def redoc_page(request: Request) -> Response:
            root = request.scope.get("root_path", "")
            page, script = redoc_html(f"{title} - ReDoc", root + openapi_url, root + redoc_static)
            return HTMLResponse(page, headers=page_headers((script,), styles_inline=True, workers=True))

        routes.append(Route(pages.redoc_url, redoc_page, include_in_schema=False, name="linestream-redoc"))
        routes.append(Mount(redoc_static, StaticFiles(directory=ASSETS / "redoc"), name="linestream-redoc-static"))
    if pages.explorer_url:
        explorer_static = _static(pages.explorer_url)

        async def explorer_page(request: Request) -> Response:
            root = request.scope.get("root_path", "")
            page = explorer_html(title, root + openapi_url, root + explorer_static, root)
            return HTMLResponse(page, headers=page_headers())

        routes.append(Route(pages.explorer_url, explorer_page, include_in_schema=False, name="linestream-explorer"))
        static = StaticFiles(directory=explorer_static_path())
        routes.append(Mount(explorer_static, static, name="linestream-explorer-static"))
    return routes
