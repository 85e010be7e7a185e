"""DynamoDbUploadTickets: direct uploads' tickets, items `UPL#<id>` in the documents table.

A ticket is read by its id alone (an S3 event names a key, not an owner); the API scopes it
to the owner. DynamoDB's TTL removes it two days after it was made, long after the client has
read its outcome.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from docquery.adapters.aws.dynamodb_items import deserialize, error_code, serialize, translate
from docquery.domain.documents import format_timestamp, parse_timestamp
from docquery.ports.direct_uploads import UploadState, UploadTicket

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

TICKET_TTL = timedelta(days=2)


def ticket_pk(upload_id: str) -> str:
    return f"UPL#{upload_id}"


class DynamoDbUploadTickets:
    """Tickets in the documents table; state changes are conditional updates."""

    def __init__(self, client: DynamoDBClient, *, table: str) -> None:
        self._client = client
        self._table = table

    async def put(self, ticket: UploadTicket) -> None:
        try:
            await self._client.put_item(
                TableName=self._table,
                Item=serialize(_to_item(ticket)),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from exc

    async def get(self, upload_id: str) -> UploadTicket | None:
        try:
            response = await self._client.get_item(
                TableName=self._table,
                Key=serialize({"pk": ticket_pk(upload_id)}),
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from exc
        raw: Any = response.get("Item")
        return _from_item(deserialize(raw)) if raw else None

    async def begin_check(
        self, upload_id: str, *, now: datetime, until: datetime
    ) -> UploadTicket | None:
        values = {
            ":pending": UploadState.PENDING.value,
            ":checking": UploadState.CHECKING.value,
            ":now": format_timestamp(now),
            ":until": format_timestamp(until),
        }
        return await self._update(
            upload_id,
            condition=(
                "attribute_exists(pk) AND (#state = :pending OR "
                "(#state = :checking AND checking_until < :now))"
            ),
            update="SET #state = :checking, checking_until = :until",
            values=values,
        )

    async def finish(self, ticket: UploadTicket) -> None:
        values: dict[str, Any] = {
            ":state": ticket.state.value,
            ":checking": UploadState.CHECKING.value,
        }
        sets = ["#state = :state"]
        for name in ("document_id", "failure_code", "failure_message"):
            value = getattr(ticket, name)
            if value is not None:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = value
        await self._update(
            ticket.id,
            condition="#state = :checking",
            update=f"SET {', '.join(sets)} REMOVE checking_until",
            values=values,
        )

    async def _update(
        self, upload_id: str, *, condition: str, update: str, values: dict[str, Any]
    ) -> UploadTicket | None:
        try:
            response = await self._client.update_item(
                TableName=self._table,
                Key=serialize({"pk": ticket_pk(upload_id)}),
                ConditionExpression=condition,
                UpdateExpression=update,
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=serialize(values),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise translate(exc) from exc
        except BotoCoreError as exc:
            raise translate(exc) from exc
        return _from_item(deserialize(response["Attributes"]))


def _to_item(ticket: UploadTicket) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": ticket_pk(ticket.id),
        "owner": ticket.owner,
        "key": ticket.key,
        "filename": ticket.filename,
        "title": ticket.title,
        "tags": list(ticket.tags),
        "state": ticket.state.value,
        "created_at": format_timestamp(ticket.created_at),
        "post_expires_at": format_timestamp(ticket.post_expires_at),
        "due_at": format_timestamp(ticket.due_at),
        "expires_at": int((ticket.created_at + TICKET_TTL).timestamp()),
    }
    for name in ("document_id", "failure_code", "failure_message"):
        if (value := getattr(ticket, name)) is not None:
            item[name] = value
    return item


def _from_item(item: dict[str, Any]) -> UploadTicket:
    return UploadTicket(
        id=str(item["pk"]).removeprefix("UPL#"),
        owner=item["owner"],
        key=item["key"],
        filename=item["filename"],
        title=item["title"],
        tags=tuple(item.get("tags", [])),
        state=UploadState(item["state"]),
        created_at=parse_timestamp(item["created_at"]),
        post_expires_at=parse_timestamp(item["post_expires_at"]),
        due_at=parse_timestamp(item["due_at"]),
        document_id=item.get("document_id"),
        failure_code=item.get("failure_code"),
        failure_message=item.get("failure_message"),
        checking_until=(
            parse_timestamp(item["checking_until"]) if item.get("checking_until") else None
        ),
    )
