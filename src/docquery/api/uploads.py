"""/v1/uploads: direct uploads to S3 with a presigned POST, for large files and browsers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from docquery.api.bounds import DocumentIdIn, TagIn
from docquery.api.deps import PrincipalDep, ServicesDep
from docquery.api.problems import problem_responses
from docquery.api.schemas import DocumentOut
from docquery.domain.uploads import MAX_FILENAME_LENGTH, MAX_TAGS, MAX_TITLE_LENGTH
from docquery.errors import DirectUploadsUnavailable
from docquery.ports.direct_uploads import UploadState
from docquery.services import presigned_uploads as service
from docquery.services.presigned_uploads import DirectUploadPorts, UploadOutcome

router = APIRouter(prefix="/v1/uploads", tags=["uploads"])

UploadId = Annotated[DocumentIdIn, Path(description="Upload id (the document's id to be)")]


async def get_direct_uploads(services: ServicesDep) -> DirectUploadPorts:
    if services.direct_uploads is None:
        raise DirectUploadsUnavailable("direct uploads need the aws profile; POST /v1/documents")
    return services.direct_uploads


DirectUploadsDep = Annotated[DirectUploadPorts, Depends(get_direct_uploads)]


class UploadRequest(BaseModel):
    """What the file will be called and tagged; the key is the server's."""

    model_config = ConfigDict(extra="forbid")

    filename: str | None = Field(None, max_length=4 * MAX_FILENAME_LENGTH)
    title: str | None = Field(None, max_length=MAX_TITLE_LENGTH)
    tags: list[TagIn] = Field(default_factory=list, max_length=MAX_TAGS)


class PresignedPostOut(BaseModel):
    url: str = Field(description="POST a multipart form here: `fields`, then `file` last")
    fields: dict[str, str]


class UploadStarted(BaseModel):
    id: str
    status: UploadState
    upload: PresignedPostOut
    expires_at: datetime = Field(description="S3 refuses the POST after this")
    max_size: int = Field(description="Largest file S3 accepts for this form, in bytes")


class UploadFailureOut(BaseModel):
    code: str = Field(description="Stable reason code, e.g. `not_a_pdf`, `file_too_large`")
    message: str


class UploadOut(BaseModel):
    id: str
    status: UploadState
    document_id: str | None = Field(description="The document it became (or duplicates)")
    document: DocumentOut | None
    failure: UploadFailureOut | None

    @classmethod
    def of(cls, outcome: UploadOutcome) -> UploadOut:
        ticket = outcome.ticket
        failure = (
            UploadFailureOut(code=ticket.failure_code, message=ticket.failure_message or "")
            if ticket.state is UploadState.FAILED and ticket.failure_code
            else None
        )
        return cls(
            id=ticket.id,
            status=ticket.state,
            document_id=ticket.document_id,
            document=DocumentOut.of(outcome.document) if outcome.document else None,
            failure=failure,
        )


@router.post(
    "",
    status_code=201,
    response_model=UploadStarted,
    summary="Start a direct upload: a presigned POST to S3",
    description=(
        "Answers a form to POST the PDF straight to S3 (at most `MAX_FILE_SIZE`, "
        "`Content-Type: application/pdf`, at a key the server chose, for `PRESIGNED_URL_TTL` "
        "seconds). When the file lands it is checked like a streamed upload and queued; "
        "`POST /v1/uploads/{id}/complete` checks it at once, `GET /v1/uploads/{id}` tells."
    ),
    responses=problem_responses(401, 413, 415, 422, 501, 503),
)
async def start_upload(
    body: UploadRequest,
    principal: PrincipalDep,
    services: ServicesDep,
    ports: DirectUploadsDep,
    response: Response,
) -> UploadStarted:
    started = await service.start_upload(
        owner=principal.owner,
        filename=body.filename,
        title=body.title,
        tags=list(body.tags),
        expires_in=services.settings.presigned_url_ttl,
        ports=ports,
    )
    response.headers["Location"] = f"/v1/uploads/{started.ticket.id}"
    return UploadStarted(
        id=started.ticket.id,
        status=started.ticket.state,
        upload=PresignedPostOut(url=started.post.url, fields=started.post.fields),
        expires_at=started.ticket.post_expires_at,
        max_size=ports.policy.max_file_size,
    )


@router.get(
    "/{upload_id}",
    response_model=UploadOut,
    summary="What became of a direct upload",
    description=(
        "`pending` (no file checked yet), `checking`, `stored` (see `document`), "
        "`duplicate` (the same bytes were uploaded before: `document` is that one), "
        "`failed` (`failure.code`: `not_a_pdf`, `empty_file`, `file_too_large`, "
        "`upload_expired`)."
    ),
    responses=problem_responses(401, 404, 501),
)
async def get_upload(
    upload_id: UploadId, principal: PrincipalDep, ports: DirectUploadsDep
) -> UploadOut:
    outcome = await service.upload_status(owner=principal.owner, upload_id=upload_id, ports=ports)
    return UploadOut.of(outcome)


@router.post(
    "/{upload_id}/complete",
    response_model=UploadOut,
    summary="Check and register a direct upload now",
    description=(
        "Call after S3 accepted the POST: the file is checked and queued at once (an S3 "
        "event does the same where one is configured; calling both is harmless). "
        "409 `upload_not_received` if no file has arrived."
    ),
    responses=problem_responses(401, 404, 409, 501, 503),
)
async def complete_upload(
    upload_id: UploadId,
    principal: PrincipalDep,
    services: ServicesDep,
    ports: DirectUploadsDep,
    background: BackgroundTasks,
) -> UploadOut:
    outcome = await service.complete_upload(owner=principal.owner, upload_id=upload_id, ports=ports)
    if outcome.ticket.state is UploadState.STORED:
        background.add_task(services.notify_pipeline)
    return UploadOut.of(outcome)
