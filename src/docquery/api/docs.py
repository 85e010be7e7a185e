"""Swagger UI at /docs from files shipped in the package: it works with no internet."""

from __future__ import annotations

import hashlib
import os
from functools import cache
from os import PathLike
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

DOCS_PATH = "/docs"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
ASSETS_PATH = "/docs/assets"
STATIC_DIR = Path(__file__).parent / "static"
# The asset URLs carry a digest of the file, so a year's caching never serves a stale one.
_ASSET_CACHE = "public, max-age=31536000, immutable"
# Nothing on the page may come from another host; inline code is FastAPI's Swagger UI start-up.
_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
# Swagger UI's default validatorUrl would send the spec to a public validator.
_SWAGGER_PARAMETERS = {"validatorUrl": None}

router = APIRouter(include_in_schema=False)


class _Assets(StaticFiles):
    """The docs' static files, cached for a year and never content-sniffed."""

    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = _ASSET_CACHE
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI and its assets from the package; `/` leads to it. ReDoc stays off."""
    app.mount(ASSETS_PATH, _Assets(directory=STATIC_DIR), name="docs-assets")
    app.include_router(router)


@cache
def asset_url(name: str) -> str:
    """The URL of a static file, versioned by its content."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:16]
    return f"{ASSETS_PATH}/{name}?v={digest}"


@router.get(DOCS_PATH)
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for this app's OpenAPI document."""
    root = request.scope.get("root_path", "").rstrip("/")
    app: FastAPI = request.app
    page = get_swagger_ui_html(
        openapi_url=root + (app.openapi_url or "/openapi.json"),
        title=f"{app.title} - Swagger UI",
        swagger_js_url=root + asset_url("swagger-ui/swagger-ui-bundle.js"),
        swagger_css_url=root + asset_url("swagger-ui/swagger-ui.css"),
        swagger_favicon_url=root + asset_url("favicon.svg"),
        oauth2_redirect_url=root + OAUTH2_REDIRECT_PATH,
        swagger_ui_parameters=_SWAGGER_PARAMETERS,
    )
    page.headers.update(_page_headers())
    return page


@router.get(OAUTH2_REDIRECT_PATH)
async def swagger_ui_oauth2_redirect() -> HTMLResponse:
    """Where an OAuth2 provider returns to Swagger UI."""
    page = get_swagger_ui_oauth2_redirect_html()
    page.headers.update(_page_headers())
    return page


@router.get("/")
async def root(request: Request) -> RedirectResponse:
    """The service's front page is its API documentation."""
    root_path = request.scope.get("root_path", "").rstrip("/")
    return RedirectResponse(root_path + DOCS_PATH, status_code=307)


def _page_headers() -> dict[str, str]:
    # The page names versioned assets, so it must be revalidated to pick up new ones.
    return {
        "Cache-Control": "no-cache",
        "Content-Security-Policy": _DOCS_CSP,
        "X-Content-Type-Options": "nosniff",
    }
