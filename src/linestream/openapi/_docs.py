"""The ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) pages, from assets shipped in this package (``assets/``,
fetched from the npm registry by ``scripts/vendor-docs-assets``): never a CDN, and they work offline.

``get_swagger_ui_html`` and ``get_redoc_html`` take FastAPI's arguments, for apps that serve their own docs
pages ("Custom Docs UI Static Assets"); they return an ``HTMLResponse`` with the page's security headers.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from pathlib import Path
from typing import Any

from starlette.responses import HTMLResponse

__all__ = ["ASSETS", "get_redoc_html", "get_swagger_ui_html", "page_headers", "redoc_html", "swagger_ui_html"]

#: The folder of the shipped assets: ``swagger-ui/`` and ``redoc/``.
ASSETS = Path(__file__).parent / "assets"

#: Swagger UI's parameters, as FastAPI sets them by default.
SWAGGER_UI_DEFAULTS: dict[str, Any] = {
    "dom_id": "#swagger-ui",
    "layout": "BaseLayout",
    "deepLinking": True,
    "showExtensions": True,
    "showCommonExtensions": True,
}


def page_headers(
    inline_scripts: tuple[str, ...] = (),
    *,
    styles_inline: bool = False,
    workers: bool = False,
    external: bool = False,
) -> dict[str, str]:
    """The security headers of a documentation page whose own inline scripts are ``inline_scripts``.

    ``styles_inline``: its scripts set style attributes (Swagger UI, ReDoc); ``workers``: it starts web workers
    from blobs (ReDoc); ``external``: it loads scripts and styles from another origin (a CDN the app chose)."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in inline_scripts
    )
    elsewhere = " https:" if external else ""
    policy = [
        "default-src 'none'",
        f"script-src 'self'{elsewhere} {hashes}".rstrip(),
        ("style-src 'self' 'unsafe-inline'" if styles_inline else "style-src 'self'") + elsewhere,
        "img-src 'self' data:",
        "font-src 'self'" + elsewhere,
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    if workers:
        policy.append("worker-src 'self' blob:")
    return {
        "content-security-policy": "; ".join(policy),
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "same-origin",
        "cache-control": "no-cache",
    }


def _script(value: Any) -> str:
    return json.dumps(value).replace("<", "\\u003c")


def swagger_ui_html(
    title: str,
    openapi_url: str,
    static_url: str,
    *,
    parameters: dict[str, Any] | None = None,
    oauth2_redirect_url: str | None = None,
    init_oauth: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """The docs page, loading Swagger UI's assets from ``static_url`` and the document from ``openapi_url``, and
    the text of its inline script (for the page's Content-Security-Policy)."""
    config = {**SWAGGER_UI_DEFAULTS, **(parameters or {}), "url": openapi_url}
    if oauth2_redirect_url:
        config["oauth2RedirectUrl"] = oauth2_redirect_url
    static = html.escape(static_url, quote=True)
    script = f"""
const config = {_script(config)};
window.ui = SwaggerUIBundle({{
  ...config,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
}});
"""
    if init_oauth:
        script += f"window.ui.initOAuth({_script(init_oauth)});\n"
    head = f'<link rel="stylesheet" href="{static}/swagger-ui.css">\n'
    head += f'<link rel="icon" type="image/png" href="{static}/favicon-32x32.png">'
    return _page(title, head, "swagger-ui", f"{static}/swagger-ui-bundle.js", script), script


def redoc_html(title: str, openapi_url: str, static_url: str) -> tuple[str, str]:
    """The ReDoc page, loading ReDoc from ``static_url`` and the document from ``openapi_url``, and its inline
    script."""
    static = html.escape(static_url, quote=True)
    script = f"\nRedoc.init({_script(openapi_url)}, {{}}, document.getElementById('redoc'));\n"
    return _page(title, '<link rel="icon" href="data:,">', "redoc", f"{static}/redoc.standalone.js", script), script


def _page(title: str, head: str, root: str, bundle: str, script: str) -> str:
    """A page that loads ``bundle`` into ``<div id="{root}">`` and runs ``script``."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
{head}
</head>
<body>
<div id="{root}"></div>
<script src="{bundle}"></script>
<script>{script}</script>
</body>
</html>
"""


def get_swagger_ui_html(
    *,
    openapi_url: str,
    title: str,
    swagger_js_url: str | None = None,
    swagger_css_url: str | None = None,
    swagger_favicon_url: str | None = None,
    oauth2_redirect_url: str | None = None,
    init_oauth: dict[str, Any] | None = None,
    swagger_ui_parameters: dict[str, Any] | None = None,
    static_url: str = "/docs/static",
) -> HTMLResponse:
    """A Swagger UI page (FastAPI's function of the same name): the shipped assets under ``static_url``, or the
    ``swagger_js_url``/``swagger_css_url``/``swagger_favicon_url`` given."""
    page, script = swagger_ui_html(
        title,
        openapi_url,
        static_url,
        parameters=swagger_ui_parameters,
        oauth2_redirect_url=oauth2_redirect_url,
        init_oauth=init_oauth,
    )
    static = html.escape(static_url, quote=True)
    for name, given in (
        ("swagger-ui-bundle.js", swagger_js_url),
        ("swagger-ui.css", swagger_css_url),
        ("favicon-32x32.png", swagger_favicon_url),
    ):
        if given is not None:
            page = page.replace(f"{static}/{name}", html.escape(given, quote=True))
    external = any(url is not None and "://" in url for url in (swagger_js_url, swagger_css_url))
    return HTMLResponse(page, headers=page_headers((script,), styles_inline=True, external=external))


def get_swagger_ui_oauth2_redirect_html() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page (FastAPI's function of the same name), its script inline (and allowed by
    the page's Content-Security-Policy), for an app that serves its docs pages itself."""
    script = (ASSETS / "swagger-ui" / "oauth2-redirect.js").read_text()
    page = f'<!doctype html>\n<html lang="en-US"><body><script>{script}</script></body></html>\n'
    return HTMLResponse(page, headers=page_headers((script,)))


def get_redoc_html(
    *,
    openapi_url: str,
    title: str,
    redoc_js_url: str | None = None,
    static_url: str = "/redoc/static",
) -> HTMLResponse:
    """A ReDoc page (FastAPI's function of the same name): the shipped bundle under ``static_url``, or the one at
    ``redoc_js_url``."""
    page, script = redoc_html(title, openapi_url, static_url)
    if redoc_js_url is not None:
        page = page.replace(f"{html.escape(static_url, quote=True)}/redoc.standalone.js", html.escape(redoc_js_url))
    external = redoc_js_url is not None and "://" in redoc_js_url
    return HTMLResponse(page, headers=page_headers((script,), styles_inline=True, workers=True, external=external))
