"""The OpenAPI document of an app, the offline interactive docs page, the live stream explorer, and a typed
TypeScript client generated from the document.

The default document is OpenAPI 3.1.0. A stream's response is documented under its media type
(``application/jsonl``) the way 3.1 allows and the OpenAPI media-type registry recommends for sequential JSON:
``schema`` models the whole stream as an array of items, and the registered extension ``x-oai-itemSchema``
gives the item schema. ``LineStream(openapi_version="3.2.0")`` emits a 3.2 document that uses the
specification's own ``itemSchema`` instead.
"""

from __future__ import annotations

from linestream.openapi._docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from linestream.openapi._explorer import explorer_html, explorer_static_path
from linestream.openapi._generate import OPENAPI_VERSIONS, DocumentedApp, build_openapi, get_openapi
from linestream.openapi._routes import DocumentationPages, documentation_routes
from linestream.openapi._typescript import typescript_client

__all__ = [
    "OPENAPI_VERSIONS",
    "DocumentationPages",
    "DocumentedApp",
    "build_openapi",
    "documentation_routes",
    "explorer_html",
    "explorer_static_path",
    "get_openapi",
    "get_redoc_html",
    "get_swagger_ui_html",
    "get_swagger_ui_oauth2_redirect_html",
    "typescript_client",
]
