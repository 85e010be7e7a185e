"""Hidden records in DynamoDB: an upload's reservation, and a document being deleted.

Both live on the sparse `work-index` (`work_state` = `uploading` or `deleting`, `work_due_at` =
when the sweeper should act), so the sweeper finds them with a Query, never a Scan. Marking a
document deleting removes its `SHA#` item in the same transaction: the same bytes can be
uploaded again at once, and the lookup by sha256 never returns the dying document.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from docquery.adapters.aws.dynamodb_items import (
    deserialize,
    doc_pk,
    error_code,
    serialize,
    sha_pk,
    to_document,
    to_item,
    translate,
)
from docquery.domain.documents import Document, WorkState, format_timestamp
from docquery.errors import NotFound, StorageError

if TYPE_CHECKING:
    from datetime import datetime

    from types_aiobotocore_dynamodb import DynamoDBClient

# Condition of every read and edit: neither a reservation nor a document being deleted.
VISIBLE = "(attribute_not_exists(work_state) OR work_state IN (:visible_queued, :visible_leased))"
VISIBLE_VALUES = {
    ":visible_queued": WorkState.QUEUED.value,
    ":visible_leased": WorkState.LEASED.value,
}
_HIDE = (
    "SET work_state = :hidden, work_due_at = :now, updated_at = :now, version = version + :one "
    "REMOVE lease_owner, lease_expires_at"
)
# A delete's mark also writes a token of its own, read back at once: of racing marks, the one
# whose token stands is the one delete that proceeds. DynamoDB's condition already lets only one
# through; the read-back keeps that true where conditions are not isolated (moto's server runs
# racing transactions side by side) at no cost, since the mark reads the record back anyway.
_MARK = _HIDE.replace(
    "version = version + :one ", "version = version + :one, delete_token = :token "
)
# Racing transactions on one item may be cancelled with TransactionConflict: tried again.
# Racing deletes of one document conflict in DynamoDB until the winner's transaction commits;
# then every retry reads the record as hidden and answers not found. Under load the winner may
# take a second or more, so losers keep retrying (jittered, capped backoff, ~3 s in all) rather
# than fail a DELETE that should be a plain 404.
_MARK_ATTEMPTS = 8
_MARK_BACKOFF_CAP = 0.5


class DynamoDbHiddenRecords:
    """Mixed into DynamoDbDocumentStore: reservations and deletes the sweeper can finish."""

    _client: DynamoDBClient
    _table: str

    if TYPE_CHECKING:

        async def get(self, *, owner: str, document_id: str) -> Document: ...

    async def reserve(self, document: Document) -> None:
        try:
            await self._client.put_item(
                TableName=self._table,
                Item=serialize(to_item(document)),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from exc

    async def mark_deleting(self, *, owner: str, document_id: str, now: datetime) -> Document:
        attempt = 0
        while True:
            document = await self.get(owner=owner, document_id=document_id)
            try:
                return await self._mark(document, now)
            except BotoCoreError as exc:
                raise translate(exc) from exc
            except ClientError as exc:
                reasons = _reasons(exc)
                if reasons[:1] == ["ConditionalCheckFailed"]:
                    raise NotFound(f"document {document_id} not found") from exc
                attempt += 1
                if "TransactionConflict" not in reasons or attempt == _MARK_ATTEMPTS:
                    raise _transaction_error(exc) from exc
            await asyncio.sleep(
                random.uniform(0.5, 1.0) * min(_MARK_BACKOFF_CAP, 0.05 * 2**attempt)  # noqa: S311 - jitter
            )

    async def _mark(self, document: Document, now: datetime) -> Document:
        token = uuid.uuid4().hex
        moment = format_timestamp(now)
        values = {":owner": document.owner, ":hidden": WorkState.DELETING.value, ":now": moment}
        await self._client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": serialize({"pk": doc_pk(document.id)}),
                        "ConditionExpression": f"#owner = :owner AND {VISIBLE}",
                        "UpdateExpression": _MARK,
                        "ExpressionAttributeNames": {"#owner": "owner"},
                        "ExpressionAttributeValues": serialize(
                            values | VISIBLE_VALUES | {":one": 1, ":token": token}
                        ),
                    }
                },
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": serialize({"pk": sha_pk(document.owner, document.sha256)}),
                        "ConditionExpression": "attribute_not_exists(pk) OR document_id = :id",
                        "ExpressionAttributeValues": serialize({":id": document.id}),
                    }
                },
            ]
        )
        item = await self._item(document.id)
        if item.get("delete_token") != token:
            raise NotFound(f"document {document.id} not found")
        return to_document(item)

    async def abandon_reservation(self, document: Document, *, now: datetime) -> Document:
        values = {
            ":hidden": WorkState.DELETING.value,
            ":uploading": WorkState.UPLOADING.value,
            ":now": format_timestamp(now),
            ":one": 1,
        }
        try:
            response = await self._client.update_item(
                TableName=self._table,
                Key=serialize({"pk": doc_pk(document.id)}),
                ConditionExpression="work_state = :uploading AND work_due_at <= :now",
                UpdateExpression=_HIDE,
                ExpressionAttributeValues=serialize(values),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise NotFound(f"document {document.id} not found") from exc
            raise translate(exc) from exc
        except BotoCoreError as exc:
            raise translate(exc) from exc
        return to_document(deserialize(response["Attributes"]))

    async def delete(self, *, owner: str, document_id: str) -> Document:
        values = {
            ":owner": owner,
            ":uploading": WorkState.UPLOADING.value,
            ":deleting": WorkState.DELETING.value,
        }
        try:
            response = await self._client.delete_item(
                TableName=self._table,
                Key=serialize({"pk": doc_pk(document_id)}),
                ConditionExpression="#owner = :owner AND work_state IN (:uploading, :deleting)",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues=serialize(values),
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise NotFound(f"document {document_id} not found") from exc
            raise translate(exc) from exc
        except BotoCoreError as exc:
            raise translate(exc) from exc
        return to_document(deserialize(response["Attributes"]))

    async def _item(self, document_id: str) -> dict[str, Any]:
        try:
            response = await self._client.get_item(
                TableName=self._table,
                Key=serialize({"pk": doc_pk(document_id)}),
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from exc
        raw: Any = response.get("Item")
        if not raw:
            raise NotFound(f"document {document_id} not found")
        item: dict[str, Any] = deserialize(raw)
        return item


def _reasons(exc: ClientError) -> list[str]:
    if error_code(exc) != "TransactionCanceledException":
        return []
    return [str(r.get("Code", "")) for r in exc.response.get("CancellationReasons", [])]


def _transaction_error(exc: ClientError) -> Exception:
    if error_code(exc) == "TransactionCanceledException":
        return StorageError("DynamoDB transaction was cancelled")
    return translate(exc)
