"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) served from the package, so the API's manual works offline.

FastAPI's built-in pages load both libraries (and ReDoc's Google fonts) from a CDN; an analyst on a closed
network got a blank page. The bundles are vendored by ``scripts/vendor_apidocs.sh`` into ``web/apidocs/``
(with their licences) and served by the ``/web`` static mount the dashboard already has; the HTML pages
themselves are still FastAPI's own generators, pointed at the local files.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

__all__ = ["APIDOCS", "mount_api_docs"]

#: Where the vendored bundles are served (under the ``/web`` static mount).
APIDOCS = "/web/apidocs"


def mount_api_docs(app: FastAPI) -> None:
    """Add ``/docs`` and ``/redoc``; the app must be built with ``docs_url=None, redoc_url=None`` (else
    FastAPI's CDN pages answer first)."""
    title = app.title
    openapi_url = app.openapi_url or "/openapi.json"

    def root(request: Request) -> str:   # behind a proxy that mounts the app under a prefix
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        base = root(request)
        return get_swagger_ui_html(
            openapi_url=base + openapi_url, title=f"{title} — API",
            swagger_js_url=f"{base}{APIDOCS}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{base}{APIDOCS}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{base}{APIDOCS}/swagger-ui/favicon-32x32.png",
            # Swagger UI would otherwise send the schema to validator.swagger.io for its badge.
            swagger_ui_parameters={"validatorUrl": None})

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        base = root(request)
        return get_redoc_html(openapi_url=base + openapi_url, title=f"{title} — API reference",
                              redoc_js_url=f"{base}{APIDOCS}/redoc/redoc.standalone.js",
                              redoc_favicon_url=f"{base}{APIDOCS}/swagger-ui/favicon-32x32.png",
                              with_google_fonts=False)
