"""The ``/docs`` page: Swagger UI served from the installed ``swagger_ui_bundle`` package, never a CDN."""

from __future__ import annotations

import html
import json
from pathlib import Path

import swagger_ui_bundle

__all__ = ["docs_static_path", "swagger_ui_html"]


def docs_static_path() -> Path:
    """The folder of Swagger UI's static files inside the installed package."""
    return Path(str(swagger_ui_bundle.swagger_ui_path))


def swagger_ui_html(title: str, openapi_url: str, static_url: str) -> tuple[str, str]:
    """The docs page, loading Swagger UI's assets from ``static_url`` and the document from ``openapi_url``, and
    the text of its inline script (for the page's Content-Security-Policy)."""
    config = json.dumps({"url": openapi_url, "dom_id": "#swagger-ui", "deepLinking": True}).replace("<", "\\u003c")
    static = html.escape(static_url, quote=True)
    script = f"""
const config = {config};
config.presets = [SwaggerUIBundle.presets.apis];
window.ui = SwaggerUIBundle(config);
"""
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} - API docs</title>
<link rel="stylesheet" href="{static}/swagger-ui.css">
<link rel="icon" type="image/png" href="{static}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{static}/swagger-ui-bundle.js"></script>
<script>{script}</script>
</body>
</html>
"""
    return page, script
