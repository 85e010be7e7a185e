"""Liveness and readiness."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from starlette.responses import JSONResponse

from docquery.api.deps import ServicesDep
from docquery.api.problems import problem_response, problem_responses
from docquery.api.schemas import HealthOut, ReadyOut

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

READY_TIMEOUT_SECONDS = 3.0


@router.get("/healthz", response_model=HealthOut, summary="Liveness: the process answers")
async def get_liveness() -> HealthOut:
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    response_model=ReadyOut,
    summary="Readiness: the stores answer and the search index answers a search",
    responses=problem_responses(503),
)
async def get_readiness(services: ServicesDep) -> ReadyOut | JSONResponse:
    checks = {
        "blob_store": services.blobs.check,
        "document_store": services.documents.check,
        "search_index": services.search_index.check,
    }
    results = await asyncio.gather(*(_probe(name, check) for name, check in checks.items()))
    status = dict(zip(checks, results, strict=True))
    if all(result == "ok" for result in results):
        return ReadyOut(status="ready", checks=status)
    down = ", ".join(name for name, result in status.items() if result != "ok")
    return problem_response(
        status=503, code="not_ready", title="Not ready", detail=f"down: {down}", checks=status
    )


async def _probe(name: str, check: Callable[[], Awaitable[None]]) -> str:
    try:
        await asyncio.wait_for(check(), READY_TIMEOUT_SECONDS)
    except Exception as exc:
        log.warning(
            "readiness.check_failed", extra={"check": name, "error_type": type(exc).__name__}
        )
        return "down"
    return "ok"
