"""/v1/documents: upload, list, read, download, edit, delete."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Header, Path, Query, Request, Response
from starlette.responses import RedirectResponse, StreamingResponse

from docquery.api.deps import (
    BlobStoreDep,
    DocumentStoreDep,
    PrincipalDep,
    SearchIndexDep,
    ServicesDep,
)
from docquery.api.multipart import boundary_of, upload_events
from docquery.api.problems import problem_responses
from docquery.api.schemas import (
    CREATED_AFTER_HELP,
    CREATED_BEFORE_HELP,
    DocumentListOut,
    DocumentOut,
    DocumentUpdate,
    Moment,
    require_time_zones,
)
from docquery.domain.documents import DocumentChanges, DocumentStatus
from docquery.domain.uploads import clean_text, parse_tags
from docquery.errors import FileTooLarge, InvalidField, InvalidRequest
from docquery.services import deletes
from docquery.services import documents as service
from docquery.services.uploads import upload_document as upload_use_case

router = APIRouter(prefix="/v1/documents", tags=["documents"])

DocumentId = Annotated[str, Path(min_length=1, max_length=128, description="Document id")]

_UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "contentMediaType": "application/pdf",
                        "description": "The PDF",
                    },
                    # Empty defaults, not examples: Swagger UI pre-fills its form with an
                    # example (or "string"), which a real upload would then be labelled with.
                    "title": {
                        "type": "string",
                        "maxLength": 500,
                        "default": "",
                        "description": (
                            "Display title, e.g. `CBC panel 2026-03-14`; "
                            "empty: the file name without its extension"
                        ),
                    },
                    "tags": {
                        "type": "array",
                        "items": {"type": "string"},
                        "default": [],
                        "description": "Tags, e.g. `lab`; repeated or comma-separated",
                    },
                },
            },
            "encoding": {"file": {"contentType": "application/pdf"}},
        }
    },
}


@router.post(
    "",
    status_code=201,
    response_model=DocumentOut,
    summary="Upload a PDF",
    description=(
        "Streams the file into storage as it arrives. The same bytes uploaded again by the "
        "same owner answer 200 with the existing document."
    ),
    openapi_extra={"requestBody": _UPLOAD_BODY},
    responses={
        200: {"description": "Already uploaded: the existing document", "model": DocumentOut},
        **problem_responses(400, 401, 413, 415, 422),
    },
)
async def upload_document(
    request: Request,
    response: Response,
    principal: PrincipalDep,
    services: ServicesDep,
    background: BackgroundTasks,
) -> DocumentOut:
    # Not UploadFile: that would spool the whole body to disk before this handler runs.
    declared = _content_length(request)
    max_body = services.settings.max_request_size
    if declared is not None and declared > max_body:
        raise FileTooLarge(f"the request body exceeds {max_body} bytes")
    events = upload_events(
        request.stream(),
        boundary=boundary_of(request.headers.get("content-type")),
        max_body=max_body,
        declared_length=declared,
    )
    result = await upload_use_case(
        owner=principal.owner,
        events=events,
        policy=services.upload_policy,
        blobs=services.blobs,
        documents=services.documents,
    )
    document = result.document
    if result.created:
        background.add_task(services.notify_pipeline)
    response.status_code = 201 if result.created else 200
    response.headers["Location"] = f"/v1/documents/{document.id}"
    response.headers["ETag"] = document.etag
    return DocumentOut.of(document)


@router.get(
    "",
    response_model=DocumentListOut,
    summary="List documents, newest first",
    responses=problem_responses(400, 401, 422),
)
async def list_documents(
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
    status: DocumentStatus | None = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    created_after: Annotated[Moment | None, Query(description=CREATED_AFTER_HELP)] = None,
    created_before: Annotated[Moment | None, Query(description=CREATED_BEFORE_HELP)] = None,
) -> DocumentListOut:
    require_time_zones(created_after, created_before)
    page = await service.list_documents(
        owner=principal.owner,
        limit=limit,
        cursor=cursor,
        filters=service.ListFilters(
            status=status,
            tag=clean_text(tag) if tag else None,
            created_after=created_after,
            created_before=created_before,
        ),
        documents=services.documents,
        cursors=services.cursors,
    )
    return DocumentListOut(
        items=[DocumentOut.of(item) for item in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/{document_id}",
    response_model=DocumentOut,
    summary="Get a document",
    responses=problem_responses(401, 404),
)
async def get_document(
    document_id: DocumentId,
    principal: PrincipalDep,
    documents: DocumentStoreDep,
    response: Response,
) -> DocumentOut:
    document = await service.get_document(
        owner=principal.owner, document_id=document_id, documents=documents
    )
    response.headers["ETag"] = document.etag
    return DocumentOut.of(document)


@router.get(
    "/{document_id}/content",
    summary="Download the original PDF",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The original bytes"},
        304: {"description": "Not modified (If-None-Match)"},
        307: {"description": "Redirect to a short-lived presigned URL (AWS, ?redirect=true)"},
        **problem_responses(401, 404),
    },
)
async def download_document(
    document_id: DocumentId,
    principal: PrincipalDep,
    services: ServicesDep,
    redirect: bool = False,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    document = await service.get_document(
        owner=principal.owner, document_id=document_id, documents=services.documents
    )
    if redirect:
        url = await service.presigned_content_url(
            document=document,
            disposition=content_disposition(document.filename),
            expires_in=services.settings.presigned_url_ttl,
            blobs=services.blobs,
        )
        if url is not None:
            return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    headers = {
        "ETag": document.content_etag,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }
    if if_none_match is not None and document.content_etag in _etags(if_none_match):
        return Response(status_code=304, headers=headers)
    chunks = await service.open_content(document=document, blobs=services.blobs)
    headers |= {
        "Content-Disposition": content_disposition(document.filename),
        "Content-Length": str(document.size),
    }
    return StreamingResponse(chunks, media_type="application/pdf", headers=headers)


@router.patch(
    "/{document_id}",
    response_model=DocumentOut,
    summary="Edit title and tags",
    description="Send `If-Match` with the document's ETag to refuse the edit if it changed since.",
    responses=problem_responses(401, 404, 412, 422),
)
async def update_document(
    document_id: DocumentId,
    changes: DocumentUpdate,
    principal: PrincipalDep,
    documents: DocumentStoreDep,
    index: SearchIndexDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> DocumentOut:
    try:
        title = clean_text(changes.title) if changes.title is not None else None
        tags = parse_tags(changes.tags) if changes.tags is not None else None
    except ValueError as exc:
        raise InvalidField(str(exc)) from exc
    if title == "":
        raise InvalidField("title must not be blank")
    document = await service.update_document(
        owner=principal.owner,
        document_id=document_id,
        changes=DocumentChanges(title=title, tags=tags),
        if_match=_etags(if_match) if if_match is not None else None,
        documents=documents,
        index=index,
    )
    response.headers["ETag"] = document.etag
    return DocumentOut.of(document)


@router.delete(
    "/{document_id}",
    status_code=204,
    summary="Delete a document, its bytes and everything derived from it",
    responses=problem_responses(401, 404),
)
async def delete_document(
    document_id: DocumentId,
    principal: PrincipalDep,
    documents: DocumentStoreDep,
    blobs: BlobStoreDep,
    index: SearchIndexDep,
) -> Response:
    await deletes.delete_document(
        owner=principal.owner,
        document_id=document_id,
        documents=documents,
        blobs=blobs,
        index=index,
    )
    return Response(status_code=204)


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback and the exact name in RFC 5987 form."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;%' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _etags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def _content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidRequest("Content-Length is not a number")
    return int(raw)
