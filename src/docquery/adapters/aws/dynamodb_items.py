"""The DynamoDB items of a document, and the errors of DynamoDB calls as domain errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from docquery.adapters.records import from_record, to_record
from docquery.domain.documents import Document
from docquery.domain.uploads import fold_tag
from docquery.errors import StorageError, StoreUnavailable

OWNER_CREATED_INDEX = "owner-created-index"
WORK_INDEX = "work-index"
# The search index's change feed (adapters/aws/search_feed.py).
CHANGES_INDEX = "changes-index"
TTL_ATTRIBUTE = "expires_at"
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def doc_pk(document_id: str) -> str:
    return f"DOC#{document_id}"


def sha_pk(owner: str, sha256: str) -> str:
    return f"SHA#{owner}#{sha256}"


def to_item(document: Document) -> dict[str, Any]:
    # Absent, not NULL: the work index is sparse, and a key attribute cannot be NULL.
    record = {key: value for key, value in to_record(document).items() if value is not None}
    return {
        "pk": doc_pk(document.id),
        "created_sk": document.sort_key,
        "tags_folded": folded_tags(document.tags),
        **record,
    }


def folded_tags(tags: Sequence[str]) -> list[str]:
    """What the tag filter matches: DynamoDB's contains() only compares exactly."""
    return sorted({fold_tag(tag) for tag in tags})


def to_document(item: dict[str, Any]) -> Document:
    return from_record(item)


def serialize(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in values.items()}


def deserialize(raw: dict[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in raw.items()}


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: ClientError | BotoCoreError) -> Exception:
    if isinstance(exc, ClientError) and error_code(exc) == "ResourceNotFoundException":
        return StoreUnavailable("DynamoDB table not found")
    if isinstance(exc, BotoCoreError):
        return StoreUnavailable("DynamoDB does not answer")
    return StorageError(f"DynamoDB request failed: {error_code(exc) or 'unknown error'}")
