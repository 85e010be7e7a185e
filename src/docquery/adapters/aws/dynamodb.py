"""DynamoDbDocumentStore: document records in one DynamoDB table, every write conditional.

Items (key `pk` only):
- `DOC#<id>`: the document; `owner` + `created_sk` feed the `owner-created-index` GSI used for
  listing, `work_state` + `work_due_at` the sparse `work-index` GSI the pipeline sweeps.
- `SHA#<owner>#<sha256>`: makes (owner, bytes) unique and answers the lookup by sha256.
Reservations and documents being deleted are hidden from every read (dynamodb_hidden.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from docquery.adapters.aws.dynamodb_hidden import VISIBLE, VISIBLE_VALUES, DynamoDbHiddenRecords
from docquery.adapters.aws.dynamodb_items import (
    OWNER_CREATED_INDEX,
    deserialize,
    doc_pk,
    error_code,
    folded_tags,
    serialize,
    sha_pk,
    to_document,
    to_item,
    translate,
)
from docquery.adapters.aws.dynamodb_work import DynamoDbWorkQueue
from docquery.domain.documents import (
    Document,
    DocumentChanges,
    DocumentPage,
    ListQuery,
    WorkState,
    format_timestamp,
    utcnow,
)
from docquery.domain.pipeline_rules import requeued
from docquery.domain.uploads import fold_tag
from docquery.errors import (
    AlreadyExists,
    DocumentBusy,
    DuplicateContent,
    NotFound,
    PreconditionFailed,
    StorageError,
    StoreUnavailable,
)

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

_BATCH_GET_ATTEMPTS = 5


class DynamoDbDocumentStore(DynamoDbWorkQueue, DynamoDbHiddenRecords):
    """Document records in DynamoDB; no Scan anywhere."""

    def __init__(self, client: DynamoDBClient, *, table: str) -> None:
        self._client = client
        self._table = table

    async def create(self, document: Document) -> None:
        item = to_item(document)
        try:
            await self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": serialize(item),
                            # New, or completing the upload's reservation.
                            "ConditionExpression": (
                                "attribute_not_exists(pk) OR work_state = :uploading"
                            ),
                            "ExpressionAttributeValues": serialize(
                                {":uploading": WorkState.UPLOADING.value}
                            ),
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": serialize(
                                {
                                    "pk": sha_pk(document.owner, document.sha256),
                                    "document_id": document.id,
                                }
                            ),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise translate(exc) from exc
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                existing = await self._sha_item(document.owner, document.sha256)
                raise DuplicateContent(existing or "unknown") from exc
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise AlreadyExists(f"document {document.id} exists") from exc
            raise StorageError("DynamoDB transaction was cancelled") from exc

    async def get(self, *, owner: str, document_id: str) -> Document:
        item = await self._get_item(doc_pk(document_id))
        if item is None or item.get("owner") != owner:
            raise NotFound(f"document {document_id} not found")
        document = to_document(item)
        if document.hidden:
            raise NotFound(f"document {document_id} not found")
        return document

    async def get_many(self, *, owner: str, document_ids: Sequence[str]) -> dict[str, Document]:
        keys: list[Any] = [serialize({"pk": doc_pk(i)}) for i in dict.fromkeys(document_ids)]
        found: dict[str, Document] = {}
        for attempt in range(_BATCH_GET_ATTEMPTS):
            if not keys:
                break
            if attempt:
                await asyncio.sleep(min(1.0, 0.05 * 2**attempt))
            try:
                response = await self._client.batch_get_item(
                    RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}}
                )
            except (ClientError, BotoCoreError) as exc:
                raise translate(exc) from exc
            for raw in response.get("Responses", {}).get(self._table, []):
                item = deserialize(raw)
                if item.get("owner") == owner:
                    document = to_document(item)
                    if not document.hidden:
                        found[document.id] = document
            # DynamoDB may hand back part of a batch unprocessed when it is busy.
            pending = response.get("UnprocessedKeys", {}).get(self._table)
            keys = list(pending["Keys"]) if pending else []
        if keys:
            raise StorageError("DynamoDB left part of a batch read unprocessed")
        return found

    async def find_by_sha256(self, *, owner: str, sha256: str) -> Document | None:
        document_id = await self._sha_item(owner, sha256)
        if document_id is None:
            return None
        try:
            return await self.get(owner=owner, document_id=document_id)
        except NotFound:
            return None

    async def list_page(self, query: ListQuery) -> DocumentPage:
        request = self._list_request(query)
        found: list[Document] = []
        while len(found) <= query.limit:
            try:
                response = await self._client.query(**request)
            except (ClientError, BotoCoreError) as exc:
                raise translate(exc) from exc
            found += [to_document(deserialize(raw)) for raw in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return DocumentPage(items=found[: query.limit], has_more=len(found) > query.limit)

    async def update(
        self,
        *,
        owner: str,
        document_id: str,
        changes: DocumentChanges,
        expected_version: int | None,
    ) -> Document:
        sets = ["updated_at = :now", "version = version + :one"]
        values: dict[str, Any] = {":now": format_timestamp(utcnow()), ":one": 1, ":owner": owner}
        if changes.title is not None:
            sets.append("title = :title")
            values[":title"] = changes.title
        if changes.tags is not None:
            sets.append("tags = :tags, tags_folded = :tags_folded")
            values[":tags"] = list(changes.tags)
            values[":tags_folded"] = folded_tags(changes.tags)
        condition = f"attribute_exists(pk) AND #owner = :owner AND {VISIBLE}"
        values |= VISIBLE_VALUES
        if expected_version is not None:
            condition += " AND version = :expected"
            values[":expected"] = expected_version
        try:
            response = await self._client.update_item(
                TableName=self._table,
                Key=serialize({"pk": doc_pk(document_id)}),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues=serialize(values),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise translate(exc) from exc
            old: Any = exc.response.get("Item")
            current = deserialize(old) if old else await self._get_item(doc_pk(document_id))
            if current is None or current.get("owner") != owner or to_document(current).hidden:
                raise NotFound(f"document {document_id} not found") from exc
            raise PreconditionFailed("the document changed since that ETag was issued") from exc
        return to_document(deserialize(response["Attributes"]))

    async def check(self) -> None:
        try:
            response = await self._client.describe_table(TableName=self._table)
        except (ClientError, BotoCoreError) as exc:
            raise StoreUnavailable("DynamoDB table does not answer") from exc
        if response["Table"].get("TableStatus") not in ("ACTIVE", "UPDATING"):
            raise StoreUnavailable("DynamoDB table is not active")

    async def requeue(self, *, owner: str, document_id: str, now: datetime) -> Document:
        current = await self.get(owner=owner, document_id=document_id)
        if current.work_state is WorkState.LEASED:
            raise DocumentBusy("the document is being processed; try again when it is done")
        fresh = requeued(current, now=now, from_scratch=True)
        item = to_item(replace(fresh, updated_at=now, version=current.version + 1))
        try:
            await self._client.put_item(
                TableName=self._table,
                Item=serialize(item),
                ConditionExpression="version = :version",
                ExpressionAttributeValues=serialize({":version": current.version}),
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise DocumentBusy("the document changed while being reset; try again") from exc
            raise translate(exc) from exc
        return to_document(item)

    def _list_request(self, query: ListQuery) -> dict[str, Any]:
        key_condition = "#owner = :owner"
        values: dict[str, Any] = {":owner": query.owner}
        names = {"#owner": "owner"}
        low = format_timestamp(query.created_after) + "$" if query.created_after else None
        high = format_timestamp(query.created_before) if query.created_before else None
        # "<ts>#<id>" sorts before "<ts>$" and after "<ts>": both bounds stay exclusive.
        if low and high:
            key_condition += " AND created_sk BETWEEN :low AND :high"
            values |= {":low": low, ":high": high}
        elif low:
            key_condition += " AND created_sk > :low"
            values[":low"] = low
        elif high:
            key_condition += " AND created_sk < :high"
            values[":high"] = high
        filters = []
        if query.status is not None:
            filters.append("#status = :status")
            names["#status"] = "status"
            values[":status"] = query.status.value
        if query.tag is not None:
            # Items written before tags_folded existed match as before (exactly) until their
            # tags are next written.
            filters.append(
                "(contains(tags_folded, :tag_folded) OR "
                "(attribute_not_exists(tags_folded) AND contains(tags, :tag)))"
            )
            values |= {":tag_folded": fold_tag(query.tag), ":tag": query.tag}
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": OWNER_CREATED_INDEX,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": serialize(values),
            "ScanIndexForward": False,
            # With a filter, DynamoDB counts the items it reads, not the ones it keeps.
            "Limit": query.limit + 1 if not filters else max(query.limit + 1, 100),
        }
        # Hidden records are rare: filtered out without reading more per page.
        request["FilterExpression"] = " AND ".join([VISIBLE, *filters])
        values |= VISIBLE_VALUES
        request["ExpressionAttributeValues"] = serialize(values)
        if query.after is not None:
            document_id = query.after.rpartition("#")[2]
            request["ExclusiveStartKey"] = serialize(
                {"pk": doc_pk(document_id), "owner": query.owner, "created_sk": query.after}
            )
        return request

    async def _get_item(self, pk: str) -> dict[str, Any] | None:
        try:
            response = await self._client.get_item(
                TableName=self._table, Key=serialize({"pk": pk}), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from exc
        raw = response.get("Item")
        return deserialize(raw) if raw else None

    async def _sha_item(self, owner: str, sha256: str) -> str | None:
        item = await self._get_item(sha_pk(owner, sha256))
        return str(item["document_id"]) if item else None
