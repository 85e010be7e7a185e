"""/v1/documents/{id}/text, /summary and /reprocess: what the pipeline made of a document."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Response

from docquery.api.deps import PrincipalDep, ServicesDep
from docquery.api.documents import DocumentId
from docquery.api.problems import problem_responses
from docquery.api.reading_schemas import BlockOut, TextInclude
from docquery.api.schemas import DocumentOut, DocumentTextOut, PageOut, SummaryOut
from docquery.domain.reading import PageReading
from docquery.services import documents as service
from docquery.text.markdown import page_markdown

INCLUDE_HELP = (
    "Add to each page: `blocks` (its blocks in reading order, with `source` and "
    "`ocr_confidence`) and/or `markdown` (its content as Markdown); repeat for both."
)

router = APIRouter(prefix="/v1/documents", tags=["processing"])


@router.get(
    "/{document_id}/text",
    response_model=DocumentTextOut,
    # Pages carry blocks, source and markdown only when `include` asks for them.
    response_model_exclude_unset=True,
    summary="Extracted text, page by page, with blocks and Markdown on request",
    description="Available once the document is `ready`; 409 `not_ready` before.",
    responses=problem_responses(401, 404, 409),
)
async def get_document_text(
    document_id: DocumentId,
    principal: PrincipalDep,
    services: ServicesDep,
    first_page: Annotated[int, Query(ge=1, description="First page of the range")] = 1,
    limit: Annotated[int, Query(ge=1, le=100, description="Pages in the range")] = 20,
    include: Annotated[
        list[TextInclude] | None, Query(max_length=2, description=INCLUDE_HELP)
    ] = None,
) -> DocumentTextOut:
    parts = set(include or ())
    text = await service.document_text(
        owner=principal.owner,
        document_id=document_id,
        first_page=first_page,
        limit=limit,
        documents=services.documents,
        blobs=services.blobs,
    )
    return DocumentTextOut(
        document_id=document_id,
        page_count=text.page_count,
        pages=[_page(page, parts) for page in text.pages],
        next_page=text.next_page,
    )


def _page(page: PageReading, parts: set[TextInclude]) -> PageOut:
    extra: dict[str, Any] = {}
    if TextInclude.BLOCKS in parts:
        extra |= {
            "source": page.source,
            "ocr_confidence": page.ocr_confidence,
            "blocks": [BlockOut.of(block) for block in page.blocks],
        }
    if TextInclude.MARKDOWN in parts:
        extra["markdown"] = page_markdown(page)
    return PageOut(number=page.number, text=page.text, **extra)


@router.get(
    "/{document_id}/summary",
    response_model=SummaryOut,
    summary="Clinical summary with page citations",
    description="Available once `summary_status` is `ready`; 409 `not_ready` before or on failure.",
    responses=problem_responses(401, 404, 409),
)
async def get_document_summary(
    document_id: DocumentId, principal: PrincipalDep, services: ServicesDep
) -> SummaryOut:
    summary = await service.document_summary(
        owner=principal.owner,
        document_id=document_id,
        documents=services.documents,
        blobs=services.blobs,
    )
    return SummaryOut.of(document_id, summary)


@router.post(
    "/{document_id}/reprocess",
    status_code=202,
    response_model=DocumentOut,
    summary="Extract and summarise the document again",
    responses=problem_responses(401, 404, 409),
)
async def reprocess_document(
    document_id: DocumentId,
    principal: PrincipalDep,
    services: ServicesDep,
    background: BackgroundTasks,
    response: Response,
) -> DocumentOut:
    document = await service.reprocess_document(
        owner=principal.owner, document_id=document_id, documents=services.documents
    )
    background.add_task(services.notify_pipeline)
    response.headers["ETag"] = document.etag
    return DocumentOut.of(document)
