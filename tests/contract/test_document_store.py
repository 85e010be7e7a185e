"""DocumentStore contract: the same behaviour from SQLite and from DynamoDB."""

from __future__ import annotations

import dataclasses

import pytest

from docquery.domain.documents import DocumentChanges, DocumentStatus, ListQuery, utcnow
from docquery.errors import DuplicateContent, NotFound, PreconditionFailed
from docquery.ports import DocumentStore
from support.documents import make_document


async def test_create_then_get_round_trips_every_field(document_store: DocumentStore) -> None:
    document = make_document(page_count=None)
    await document_store.create(document)
    assert await document_store.get(owner="alice", document_id=document.id) == document


async def test_get_is_owner_scoped(document_store: DocumentStore) -> None:
    document = make_document()
    await document_store.create(document)
    with pytest.raises(NotFound):
        await document_store.get(owner="bob", document_id=document.id)
    with pytest.raises(NotFound):
        await document_store.get(owner="alice", document_id="no-such-id")


async def test_same_bytes_same_owner_is_duplicate(document_store: DocumentStore) -> None:
    first = make_document()
    await document_store.create(first)
    again = dataclasses.replace(make_document(n=1), sha256=first.sha256)
    with pytest.raises(DuplicateContent) as raised:
        await document_store.create(again)
    assert raised.value.existing_id == first.id
    with pytest.raises(NotFound):
        await document_store.get(owner="alice", document_id=again.id)


async def test_same_bytes_other_owner_is_separate(document_store: DocumentStore) -> None:
    first = make_document()
    await document_store.create(first)
    other = dataclasses.replace(make_document("bob"), sha256=first.sha256)
    await document_store.create(other)
    found = await document_store.find_by_sha256(owner="bob", sha256=first.sha256)
    assert found is not None
    assert found.id == other.id


async def test_find_by_sha256(document_store: DocumentStore) -> None:
    document = make_document()
    await document_store.create(document)
    assert await document_store.find_by_sha256(owner="alice", sha256=document.sha256) == document
    assert await document_store.find_by_sha256(owner="bob", sha256=document.sha256) is None
    assert await document_store.find_by_sha256(owner="alice", sha256="0" * 64) is None


async def test_list_pages_newest_first_without_gaps(document_store: DocumentStore) -> None:
    created = [make_document(n=n) for n in range(7)]
    for document in created:
        await document_store.create(document)
    await document_store.create(make_document("bob", n=99))
    seen: list[str] = []
    after = None
    while True:
        page = await document_store.list_page(ListQuery(owner="alice", limit=3, after=after))
        seen += [item.id for item in page.items]
        if not page.has_more:
            break
        after = page.items[-1].sort_key
    assert seen == [document.id for document in reversed(created)]


async def test_list_filters(document_store: DocumentStore) -> None:
    documents = [make_document(n=n) for n in range(6)]
    documents[1] = dataclasses.replace(documents[1], status=DocumentStatus.READY)
    for document in documents:
        await document_store.create(document)

    async def ids(**filters: object) -> list[str]:
        page = await document_store.list_page(ListQuery(owner="alice", limit=50, **filters))  # type: ignore[arg-type]
        return [item.id for item in page.items]

    assert await ids(status=DocumentStatus.READY) == [documents[1].id]
    assert await ids(tag="cardiology") == [documents[5].id, documents[3].id, documents[1].id]
    window = {"created_after": documents[1].created_at, "created_before": documents[4].created_at}
    assert await ids(**window) == [documents[3].id, documents[2].id]
    assert await ids(created_after=documents[4].created_at) == [documents[5].id]
    assert await ids(created_before=documents[1].created_at) == [documents[0].id]


async def test_filtered_list_pages_through_sparse_matches(document_store: DocumentStore) -> None:
    documents = [make_document(n=n) for n in range(12)]
    for document in documents:
        await document_store.create(document)
    expected = [d.id for d in reversed(documents) if "cardiology" in d.tags]
    page = await document_store.list_page(ListQuery(owner="alice", limit=2, tag="cardiology"))
    assert [item.id for item in page.items] == expected[:2]
    assert page.has_more
    rest = await document_store.list_page(
        ListQuery(owner="alice", limit=10, tag="cardiology", after=page.items[-1].sort_key)
    )
    assert [item.id for item in rest.items] == expected[2:]
    assert not rest.has_more


async def test_update_bumps_version_and_keeps_other_fields(document_store: DocumentStore) -> None:
    document = make_document()
    await document_store.create(document)
    updated = await document_store.update(
        owner="alice",
        document_id=document.id,
        changes=DocumentChanges(title="New title"),
        expected_version=1,
    )
    assert updated.title == "New title"
    assert updated.tags == document.tags
    assert updated.version == 2
    assert updated.etag != document.etag
    assert updated.updated_at > document.updated_at
    assert await document_store.get(owner="alice", document_id=document.id) == updated


async def test_update_with_stale_version_fails(document_store: DocumentStore) -> None:
    document = make_document()
    await document_store.create(document)
    await document_store.update(
        owner="alice",
        document_id=document.id,
        changes=DocumentChanges(tags=("x",)),
        expected_version=1,
    )
    with pytest.raises(PreconditionFailed):
        await document_store.update(
            owner="alice",
            document_id=document.id,
            changes=DocumentChanges(title="late"),
            expected_version=1,
        )
    current = await document_store.get(owner="alice", document_id=document.id)
    assert current.title == document.title
    assert current.tags == ("x",)


async def test_update_is_owner_scoped(document_store: DocumentStore) -> None:
    document = make_document()
    await document_store.create(document)
    for owner, document_id in (("bob", document.id), ("alice", "missing")):
        with pytest.raises(NotFound):
            await document_store.update(
                owner=owner,
                document_id=document_id,
                changes=DocumentChanges(title="x"),
                expected_version=None,
            )
    assert (await document_store.get(owner="alice", document_id=document.id)).version == 1


async def test_delete_removes_record_and_frees_the_bytes(document_store: DocumentStore) -> None:
    document = make_document()
    await document_store.create(document)
    with pytest.raises(NotFound):
        await document_store.mark_deleting(owner="bob", document_id=document.id, now=utcnow())
    # Only a record marked for deletion is removed: a visible document is never deleted whole.
    with pytest.raises(NotFound):
        await document_store.delete(owner="alice", document_id=document.id)
    await document_store.mark_deleting(owner="alice", document_id=document.id, now=utcnow())
    with pytest.raises(NotFound):
        await document_store.delete(owner="bob", document_id=document.id)
    assert (await document_store.delete(owner="alice", document_id=document.id)).id == document.id
    with pytest.raises(NotFound):
        await document_store.get(owner="alice", document_id=document.id)
    with pytest.raises(NotFound):
        await document_store.delete(owner="alice", document_id=document.id)
    # The same bytes may be uploaded again once the first copy is gone.
    await document_store.create(dataclasses.replace(make_document(n=5), sha256=document.sha256))


async def test_get_many_returns_the_owners_documents_that_exist(
    document_store: DocumentStore,
) -> None:
    mine = [make_document(n=n) for n in range(3)]
    theirs = make_document("bob", n=9)
    for document in [*mine, theirs]:
        await document_store.create(document)
    await document_store.mark_deleting(owner="alice", document_id=mine[2].id, now=utcnow())
    asked = [mine[0].id, theirs.id, mine[1].id, "no-such-id", mine[2].id, mine[0].id]
    found = await document_store.get_many(owner="alice", document_ids=asked)
    assert found == {mine[0].id: mine[0], mine[1].id: mine[1]}
    assert await document_store.get_many(owner="alice", document_ids=[]) == {}
    hundred = [make_document(n=100 + n) for n in range(100)]
    for document in hundred:
        await document_store.create(document)
    every = await document_store.get_many(owner="alice", document_ids=[d.id for d in hundred])
    assert len(every) == 100
