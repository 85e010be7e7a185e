"""DocumentStore contract: the tag filter matches in any case; tags are kept as given."""

from __future__ import annotations

from pathlib import Path

from docquery.adapters.aws.dynamodb_items import doc_pk, serialize
from docquery.domain.documents import DocumentChanges, ListQuery
from docquery.ports import DocumentStore
from docquery.wiring import open_aws_clients, open_services
from support.documents import make_document
from support.settings import aws_settings


async def _tagged(store: DocumentStore, tag: str) -> list[str]:
    page = await store.list_page(ListQuery(owner="alice", limit=50, tag=tag))
    return [document.id for document in page.items]


async def test_the_tag_filter_matches_in_any_case(document_store: DocumentStore) -> None:
    document = make_document(tags=("Cardiology", "Straße"))
    other = make_document(n=1, tags=("cardiology-2",))
    for created in (document, other):
        await document_store.create(created)
    for spelling in ("Cardiology", "cardiology", "CARDIOLOGY", "STRASSE", "strasse"):
        assert await _tagged(document_store, spelling) == [document.id], spelling
    assert await _tagged(document_store, "cardio") == []
    stored = await document_store.get(owner="alice", document_id=document.id)
    assert stored.tags == ("Cardiology", "Straße")


async def test_edited_tags_match_in_any_case(document_store: DocumentStore) -> None:
    document = make_document(tags=("lab",))
    await document_store.create(document)
    await document_store.update(
        owner="alice",
        document_id=document.id,
        changes=DocumentChanges(tags=("ICU", "Ärzte")),
        expected_version=None,
    )
    assert await _tagged(document_store, "icu") == [document.id]
    assert await _tagged(document_store, "ärzte") == [document.id]
    assert await _tagged(document_store, "LAB") == []


async def test_a_dynamodb_item_written_before_tags_were_folded_still_matches_exactly(
    moto_endpoint: str, tmp_path: Path
) -> None:
    settings = await aws_settings(moto_endpoint, data_dir=tmp_path / "data")
    document = make_document(tags=("Cardiology",))
    async with open_services(settings) as services, open_aws_clients(settings) as clients:
        await services.documents.create(document)
        # What an older release wrote: the item without tags_folded.
        await clients.dynamodb.update_item(
            TableName=settings.dynamodb_table,
            Key=serialize({"pk": doc_pk(document.id)}),
            UpdateExpression="REMOVE tags_folded",
        )
        assert await _tagged(services.documents, "Cardiology") == [document.id]
        # Its next tag edit writes tags_folded: from then on any case matches.
        await services.documents.update(
            owner="alice",
            document_id=document.id,
            changes=DocumentChanges(tags=("Cardiology",)),
            expected_version=None,
        )
        assert await _tagged(services.documents, "cardiology") == [document.id]
