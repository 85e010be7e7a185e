"""/v1/documents/bulk: one action on many documents, a result for each."""

from __future__ import annotations

from typing import Literal, Self

from fastapi import APIRouter, BackgroundTasks
from pydantic import BaseModel, Field, model_validator

from docquery.api.bounds import DocumentIdIn, TagIn
from docquery.api.deps import PrincipalDep, ServicesDep
from docquery.api.problems import problem_responses
from docquery.domain.uploads import MAX_TAG_LENGTH, MAX_TAGS, clean_text
from docquery.services.bulk import MAX_BULK_IDS, BulkAction, run_bulk

router = APIRouter(prefix="/v1/documents", tags=["documents"])


class BulkRequest(BaseModel):
    action: BulkAction
    ids: list[DocumentIdIn] = Field(
        min_length=1, max_length=MAX_BULK_IDS, description="Document ids"
    )
    tags: list[TagIn] | None = Field(
        None, max_length=MAX_TAGS, description="Tags to add or remove (add_tags, remove_tags)"
    )

    @model_validator(mode="after")
    def _tags_go_with_tag_actions(self) -> Self:
        needs_tags = self.action in (BulkAction.ADD_TAGS, BulkAction.REMOVE_TAGS)
        cleaned = [clean_text(tag) for tag in self.tags or []]
        if needs_tags and not any(cleaned):
            raise ValueError(f"{self.action.value} needs a non-empty `tags` list")
        if not needs_tags and self.tags is not None:
            raise ValueError(f"{self.action.value} takes no `tags`")
        if any(len(tag) > MAX_TAG_LENGTH for tag in cleaned):
            raise ValueError(f"a tag is longer than {MAX_TAG_LENGTH} characters")
        self.tags = [tag for tag in dict.fromkeys(cleaned) if tag] if needs_tags else None
        return self


class BulkItemOut(BaseModel):
    id: str
    status: Literal["ok", "error"]
    code: str | None = Field(None, description="The problem's stable code, e.g. not_found")
    detail: str | None = None


class BulkOut(BaseModel):
    """One result per requested id, in the order given (duplicates once)."""

    action: BulkAction
    succeeded: int
    failed: int
    results: list[BulkItemOut]


@router.post(
    "/bulk",
    response_model=BulkOut,
    summary="Delete, reprocess or tag up to 100 documents",
    description=(
        "Always 200 with a result per id: `ok`, or the problem code it hit (another owner's "
        "document is `not_found`, as everywhere). Nothing fails silently."
    ),
    responses=problem_responses(401, 422),
)
async def bulk_documents(
    request: BulkRequest,
    principal: PrincipalDep,
    services: ServicesDep,
    background: BackgroundTasks,
) -> BulkOut:
    ids = list(dict.fromkeys(request.ids))
    results = await run_bulk(
        owner=principal.owner,
        action=request.action,
        ids=ids,
        tags=request.tags or [],
        documents=services.documents,
        blobs=services.blobs,
        index=services.search_index,
    )
    if request.action is BulkAction.REPROCESS:
        background.add_task(services.notify_pipeline)
    succeeded = sum(result.ok for result in results)
    return BulkOut(
        action=request.action,
        succeeded=succeeded,
        failed=len(results) - succeeded,
        results=[
            BulkItemOut(
                id=result.id,
                status="ok" if result.ok else "error",
                code=result.code,
                detail=result.detail,
            )
            for result in results
        ],
    )
