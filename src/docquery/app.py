"""create_app(settings): lifespan, routers, middleware and error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from docquery import __version__
from docquery.api import bulk, documents, health, processing, search, uploads
from docquery.api.auth_gate import AuthGateMiddleware
from docquery.api.body_limits import BodyLimitMiddleware, BodyLimits
from docquery.api.docs import install_docs
from docquery.api.middleware import RequestContextMiddleware
from docquery.api.openapi import install_openapi
from docquery.api.problems import install_problem_handlers
from docquery.settings import Settings
from docquery.settings_checks import check_serving
from docquery.wiring import Services, open_services


class State(TypedDict):
    services: Services


def create_app(settings: Settings) -> FastAPI:
    """The docquery ASGI app for these settings; clients open in its lifespan."""
    check_serving(settings)  # raises InvalidSettings: nothing serves with unsafe settings

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        async with open_services(settings, pipeline=settings.pipeline_enabled) as services:
            yield {"services": services}

    app = FastAPI(
        title="docquery",
        version=__version__,
        summary="Store, read, search and question medical PDFs with page-exact citations.",
        lifespan=lifespan,
        # Served by install_docs from the package, not from a CDN; ReDoc is off.
        docs_url=None,
        redoc_url=None,
    )
    install_problem_handlers(app)
    install_docs(app)
    app.include_router(health.router)
    app.include_router(bulk.router)
    app.include_router(documents.router)
    app.include_router(processing.router)
    app.include_router(search.router)
    app.include_router(uploads.router)
    # The last added runs first: request id, CORS, the auth gate (an anonymous body is never
    # read, whatever its size), the body limits, then routing.
    app.add_middleware(BodyLimitMiddleware, limits=BodyLimits.of(settings))
    app.add_middleware(AuthGateMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "X-API-Key",
                "Content-Type",
                "If-Match",
                "If-None-Match",
                "X-Request-ID",
            ],
            expose_headers=["ETag", "Location", "X-Request-ID", "Content-Disposition"],
            max_age=600,
        )
    app.add_middleware(RequestContextMiddleware)
    install_openapi(app)
    return app
