"""ReplicatedSearchIndex: the aws profile's SearchIndex, one Tantivy copy per task.

Every ECS task keeps the index on its own disk and answers searches from it. Whatever changes
the index in one task (the pipeline indexing a document, an edit, a delete) is also written to
a change feed in the table: an item per change, in a GSI partitioned by day and sorted by time.
Every task follows the feed and brings its copy up to date from the source of truth (the
record and the `pages.json` artifact), so a change made anywhere is searchable everywhere
within about a poll interval. A task that starts builds its copy from the records first and
is not ready until it has.

Feed items: `pk` = `CHG#<uuid>`, `feed` = `FEED#<yyyy-mm-dd>`, `feed_at` = `<time>#<uuid>`,
`document_id`, `owner` (when known), `kind`, `origin` (the task that wrote it), `expires_at`
(DynamoDB TTL: the feed keeps two days, far longer than a task takes to read it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from docquery.adapters.aws.dynamodb_items import CHANGES_INDEX, deserialize, serialize, translate
from docquery.adapters.local.search import TantivySearchIndex
from docquery.domain.documents import format_timestamp, utcnow
from docquery.domain.processing import Page
from docquery.domain.search import (
    DocumentHitPage,
    HitPage,
    SearchableDocument,
    SearchQuery,
    searchable,
)
from docquery.errors import NotFound, StoreUnavailable
from docquery.ports import BlobStore, DocumentStore
from docquery.services import reindex

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

FEED_TTL = timedelta(days=2)
# Changes are read again for this long after their time: the feed's GSI is eventually
# consistent, and the tasks' clocks differ by a little. Reading one twice is harmless.
OVERLAP = timedelta(seconds=30)
# Documents brought up to date at once, at start and while following.
CONCURRENCY = reindex.CONCURRENCY


class Change:
    PAGES = "pages"
    METADATA = "metadata"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class FeedItem:
    change_id: str
    document_id: str
    owner: str | None
    kind: str
    origin: str


class ReplicatedSearchIndex:
    """A local Tantivy index per task, kept in step with every other task's through the feed."""

    def __init__(
        self,
        local: TantivySearchIndex,
        client: DynamoDBClient,
        *,
        table: str,
        documents: DocumentStore,
        blobs: BlobStore,
        owners: Iterable[str],
        poll_seconds: float,
    ) -> None:
        self._local = local
        self._client = client
        self._table = table
        self._documents = documents
        self._blobs = blobs
        self._owners = sorted(set(owners))
        self._poll_seconds = poll_seconds
        self._origin = uuid.uuid4().hex
        self._ready = asyncio.Event()
        self._seen: dict[str, datetime] = {}
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(CONCURRENCY)

    async def start(self) -> None:
        """Build the local copy in the background, then follow the feed."""
        self._task = asyncio.create_task(self._run(), name="search-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # The port: writes go to the local copy and the feed; reads come from the local copy.

    async def replace(self, document: SearchableDocument, pages: Sequence[Page]) -> None:
        await self._local.replace(document, pages)
        await self._publish(document.id, document.owner, Change.PAGES)

    async def update_document(self, document: SearchableDocument) -> None:
        await self._local.update_document(document)
        await self._publish(document.id, document.owner, Change.METADATA)

    async def remove(self, document_id: str) -> None:
        owner = await self._local.owner_of(document_id)
        await self._local.remove(document_id)
        await self._publish(document_id, owner, Change.REMOVED)

    async def search(self, query: SearchQuery) -> HitPage:
        return await self._local.search(query)

    async def search_documents(
        self, query: SearchQuery, *, pages_per_document: int
    ) -> DocumentHitPage:
        return await self._local.search_documents(query, pages_per_document=pages_per_document)

    async def page_texts(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], str]:
        return await self._local.page_texts(keys)

    async def indexed_owners(self) -> dict[str, str]:
        return await self._local.indexed_owners()

    async def indexed_documents(self) -> dict[str, SearchableDocument]:
        return await self._local.indexed_documents()

    async def check(self) -> None:
        await self._local.check()
        if not self._ready.is_set():
            raise StoreUnavailable("the search index is still being built")

    # Following.

    async def _run(self) -> None:
        watermark = utcnow() - OVERLAP
        await self._rebuild()
        self._ready.set()
        while True:
            try:
                watermark = await self._follow(watermark)
            except Exception as exc:  # the loop must outlive any one poll
                log.warning("search_feed.poll_failed", extra={"error_type": type(exc).__name__})
            await asyncio.sleep(self._poll_seconds)

    async def _rebuild(self) -> None:
        """Every document of every known owner into the local copy (a new task's disk is empty)."""
        await reindex.rebuild(
            self._local, self._documents, self._blobs, owners=self._owners, persist=True
        )

    async def _follow(self, watermark: datetime) -> datetime:
        """Apply the changes since `watermark` other tasks made; the new watermark."""
        now = utcnow()
        items = []
        for day in _days(watermark - OVERLAP, now):
            items += await self._changes(day, since=watermark - OVERLAP)
        self._seen = {k: v for k, v in self._seen.items() if v > now - 2 * OVERLAP}
        fresh = [item for item in items if item.change_id not in self._seen]
        results = await asyncio.gather(
            *(self._apply(item) for item in fresh), return_exceptions=True
        )
        failed = 0
        for item, result in zip(fresh, results, strict=True):
            if isinstance(result, BaseException):
                failed += 1
            else:
                self._seen[item.change_id] = now
        if failed:
            # Not marked seen, and the watermark stays: the next poll tries them again.
            log.warning("search_feed.apply_failed", extra={"count": failed})
            return watermark
        return now

    async def _apply(self, item: FeedItem) -> None:
        if item.origin == self._origin:
            return  # this task's own change: its copy has it already
        if item.owner is None:
            await self._local.remove(item.document_id)
        elif item.kind == Change.METADATA and await self._local.owner_of(item.document_id):
            await self._update_metadata(item.owner, item.document_id)
        else:
            await self._bring_up_to_date(item.owner, item.document_id)

    async def _update_metadata(self, owner: str, document_id: str) -> None:
        try:
            record = await self._documents.get(owner=owner, document_id=document_id)
        except NotFound:
            await self._local.remove(document_id)
            return
        await self._local.update_document(searchable(record))

    async def _bring_up_to_date(self, owner: str, document_id: str) -> None:
        async with self._slots:
            await reindex.bring_up_to_date(
                self._local, self._documents, self._blobs, owner=owner, document_id=document_id
            )

    async def _changes(self, day: str, *, since: datetime) -> list[FeedItem]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": CHANGES_INDEX,
            "KeyConditionExpression": "feed = :feed AND feed_at > :since",
            "ExpressionAttributeValues": serialize(
                {":feed": f"FEED#{day}", ":since": format_timestamp(since)}
            ),
        }
        items: list[FeedItem] = []
        while True:
            try:
                response = await self._client.query(**request)
            except (ClientError, BotoCoreError) as exc:
                raise translate(exc) from exc
            for raw in response.get("Items", []):
                item = deserialize(raw)
                items.append(
                    FeedItem(
                        change_id=str(item["pk"]),
                        document_id=str(item["document_id"]),
                        owner=str(item["owner"]) if item.get("owner") else None,
                        kind=str(item.get("kind", Change.PAGES)),
                        origin=str(item.get("origin", "")),
                    )
                )
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    async def _publish(self, document_id: str, owner: str | None, kind: str) -> None:
        now = utcnow()
        change_id = uuid.uuid4().hex
        item: dict[str, Any] = {
            "pk": f"CHG#{change_id}",
            "feed": f"FEED#{now.date().isoformat()}",
            "feed_at": f"{format_timestamp(now)}#{change_id}",
            "document_id": document_id,
            "kind": kind,
            "origin": self._origin,
            "expires_at": int((now + FEED_TTL).timestamp()),
        }
        if owner is not None:
            item["owner"] = owner
        try:
            await self._client.put_item(TableName=self._table, Item=serialize(item))
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from exc


def _days(start: datetime, end: datetime) -> list[str]:
    """The feed partitions (UTC days) from start's to end's, in order."""
    days, day = [], start.date()
    while day <= end.date():
        days.append(day.isoformat())
        day += timedelta(days=1)
    return days
