"""The pipeline's side of the DynamoDB document store: claims, fenced writes, expiry, and
the sweeper's queries for unfinished reservations and deletes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from docquery.adapters.aws.dynamodb_items import (
    WORK_INDEX,
    deserialize,
    doc_pk,
    error_code,
    serialize,
    to_document,
    translate,
)
from docquery.adapters.records import WORK_FIELDS, work_record
from docquery.domain.documents import Document, Lease, WorkState, format_timestamp, utcnow
from docquery.errors import LeaseLost

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

# Queued documents looked at per claim: the index is eventually consistent, and another worker
# may win any one of them.
_CLAIM_CANDIDATES = 5


class DynamoDbWorkQueue:
    """Mixed into DynamoDbDocumentStore: the document records are the pipeline's queue."""

    _client: DynamoDBClient
    _table: str

    async def claim(self, *, worker: str, now: datetime, lease_seconds: float) -> Document | None:
        candidates = await self._work_due(WorkState.QUEUED, before=now, limit=_CLAIM_CANDIDATES)
        expires = format_timestamp(now + timedelta(seconds=lease_seconds))
        for candidate in candidates:
            values = {
                ":queued": WorkState.QUEUED.value,
                ":leased": WorkState.LEASED.value,
                ":now": format_timestamp(now),
                ":seen": candidate.attempts,
                ":worker": worker,
                ":expires": expires,
                ":one": 1,
            }
            try:
                response = await self._client.update_item(
                    TableName=self._table,
                    Key=serialize({"pk": doc_pk(candidate.id)}),
                    # The index is eventually consistent: the condition re-checks the item.
                    ConditionExpression=(
                        "work_state = :queued AND work_due_at <= :now AND attempts = :seen"
                    ),
                    UpdateExpression=(
                        "SET work_state = :leased, lease_owner = :worker, "
                        "lease_expires_at = :expires, work_due_at = :expires, "
                        "attempts = attempts + :one, version = version + :one"
                    ),
                    ExpressionAttributeValues=serialize(values),
                    ReturnValues="ALL_NEW",
                )
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    continue  # another worker won this one
                raise translate(exc) from exc
            return to_document(deserialize(response["Attributes"]))
        return None

    async def save_work(self, document: Document, *, lease: Lease) -> Document:
        work = work_record(document)
        present = [name for name in WORK_FIELDS if work[name] is not None]
        absent = [name for name in WORK_FIELDS if work[name] is None]
        values = {f":{name}": work[name] for name in present} | {
            ":now": format_timestamp(utcnow()),
            ":one": 1,
            ":fence_worker": lease.worker,
            ":fence_attempt": lease.attempt,
            ":fence_expires": format_timestamp(lease.expires_at),
        }
        # Every name goes through a placeholder: some (status) are DynamoDB reserved words.
        sets = [f"#{name} = :{name}" for name in present]
        expression = "SET " + ", ".join([*sets, "#updated_at = :now", "#version = #version + :one"])
        if absent:
            expression += " REMOVE " + ", ".join(f"#{name}" for name in absent)
        names = {f"#{name}": name for name in (*WORK_FIELDS, "updated_at", "version")}
        try:
            response = await self._client.update_item(
                TableName=self._table,
                Key=serialize({"pk": doc_pk(document.id)}),
                ConditionExpression=(
                    "#lease_owner = :fence_worker AND #attempts = :fence_attempt "
                    "AND #lease_expires_at = :fence_expires"
                ),
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise LeaseLost(f"lease on {document.id} is gone") from exc
            raise translate(exc) from exc
        return to_document(deserialize(response["Attributes"]))

    async def expired_leases(self, *, now: datetime, limit: int) -> list[Document]:
        return await self._work_due(WorkState.LEASED, before=now, limit=limit)

    async def hidden_due(self, *, now: datetime, limit: int) -> list[Document]:
        deleting = await self._work_due(WorkState.DELETING, before=now, limit=limit)
        uploading = await self._work_due(WorkState.UPLOADING, before=now, limit=limit)
        return [*deleting, *uploading][:limit]

    async def _work_due(self, state: WorkState, *, before: datetime, limit: int) -> list[Document]:
        try:
            response = await self._client.query(
                TableName=self._table,
                IndexName=WORK_INDEX,
                KeyConditionExpression="work_state = :state AND work_due_at <= :before",
                ExpressionAttributeValues=serialize(
                    {":state": state.value, ":before": format_timestamp(before)}
                ),
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from exc
        return [to_document(deserialize(raw)) for raw in response.get("Items", [])]
