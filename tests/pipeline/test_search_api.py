"""Search through the API on both profiles: ranking, syntax, filters, paging, isolation, and an
index that stays exact through edits, deletes and reprocessing."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from docquery.adapters.local.search import TantivySearchIndex
from docquery.cli import main
from docquery.domain.documents import utcnow
from docquery.domain.processing import Page
from docquery.domain.search import searchable
from support.api import assert_problem, settled, upload_ok, wait_for_document
from support.bad_pdfs import document_pdf, text_pdf
from support.harness import Harness, HarnessFactory
from support.settings import API_KEYS, TEST_SECRET

CARDIOLOGY = [
    "Discharge summary. The patient was admitted with atrial fibrillation and rapid "
    "ventricular response. Metoprolol was started and the heart rate improved.",
    "Echocardiogram showed a preserved ejection fraction. Warfarin anticoagulation was "
    "begun for stroke prevention, with INR monitoring in the anticoagulation clinic.",
    "Follow up with cardiology in two weeks. Continue metoprolol and warfarin.",
]
NEPHROLOGY = [
    "Renal clinic letter. Chronic kidney disease stage 3 with proteinuria. "
    "Lisinopril was increased to reduce protein leakage.",
    "Laboratory results: creatinine 1.9 mg/dL, potassium 5.1 mmol/L. COVID-19 PCR negative.",
]


async def ready(client: httpx.AsyncClient, pages: list[str], **fields: Any) -> dict[str, Any]:
    document = await upload_ok(client, document_pdf(pages), data=fields)
    final = await wait_for_document(client, document["id"], settled)
    assert final["status"] == "ready", final
    return final


async def search(client: httpx.AsyncClient, q: str, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def pages_of(body: dict[str, Any]) -> list[tuple[str, int]]:
    return [(hit["document_id"], hit["page"]) for hit in body["hits"]]


@pytest.fixture
async def library(
    make_pipeline_harness: HarnessFactory,
) -> AsyncIterator[tuple[Harness, dict[str, Any]]]:
    async with make_pipeline_harness() as h:
        cardiology, nephrology = await asyncio.gather(
            ready(h.alice, CARDIOLOGY, title="Cardiology discharge", tags="cardiology,inpatient"),
            ready(h.alice, NEPHROLOGY, title="Renal clinic", tags="renal"),
        )
        yield h, {"cardiology": cardiology, "nephrology": nephrology}


async def test_hits_are_pages_with_marked_snippets_best_first(
    library: tuple[Harness, dict[str, Any]],
) -> None:
    h, docs = library
    body = await search(h.alice, "warfarin anticoagulation")
    cardiology = docs["cardiology"]["id"]
    assert pages_of(body)[0] == (cardiology, 2)  # both words, twice
    assert (cardiology, 3) in pages_of(body)  # one word is enough: terms are ORed
    best = body["hits"][0]
    assert best["title"] == "Cardiology discharge"
    assert "<mark>Warfarin</mark>" in best["snippet"]
    assert best["score"] > body["hits"][-1]["score"] > 0
    assert body["next_cursor"] is None


async def test_any_word_matches_and_stemming_finds_other_forms(
    library: tuple[Harness, dict[str, Any]],
) -> None:
    h, docs = library
    body = await search(h.alice, "increasing zebrafish lisinopril")
    assert pages_of(body) == [(docs["nephrology"]["id"], 1)]  # "increased" via stemming too


async def test_phrases_and_exclusions(library: tuple[Harness, dict[str, Any]]) -> None:
    h, docs = library
    cardiology, nephrology = docs["cardiology"]["id"], docs["nephrology"]["id"]
    assert pages_of(await search(h.alice, '"heart rate improved"')) == [(cardiology, 1)]
    assert pages_of(await search(h.alice, '"rate heart"')) == []
    excluded = await search(h.alice, "metoprolol -warfarin")
    assert pages_of(excluded) == [(cardiology, 1)]
    assert pages_of(await search(h.alice, "covid-19")) == [(nephrology, 2)]


async def test_title_words_outrank_body_words(library: tuple[Harness, dict[str, Any]]) -> None:
    h, docs = library
    body = await search(h.alice, "renal")
    # "renal" is in the nephrology title (on every page) and in the body of its page 1 only.
    assert pages_of(body)[:2] == [(docs["nephrology"]["id"], 1), (docs["nephrology"]["id"], 2)]


@pytest.mark.parametrize(
    "query",
    [
        "AND",
        "OR OR NOT",
        "NEAR(warfarin metoprolol)",
        "title:warfarin",
        "warfarin*",
        "^warfarin",
        '"',
        '"""warfarin',
        "(",
        "a) OR (b",
        "{title body}: x",
        "'; DROP TABLE documents; --",
        "\u0000warfarin",
        "warfarin \U0001f489",
        "\u0645\u0631\u064a\u0636",
        "x" * 2000,
    ],
)
async def test_any_input_is_safe(library: tuple[Harness, dict[str, Any]], query: str) -> None:
    h, _ = library
    response = await h.alice.get("/v1/search", params={"q": query})
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert_problem(response, 422, "invalid_query")


async def test_a_query_with_nothing_to_find_is_invalid(
    library: tuple[Harness, dict[str, Any]],
) -> None:
    h, _ = library
    assert_problem(await h.alice.get("/v1/search", params={"q": "-warfarin"}), 422, "invalid_query")
    assert_problem(await h.alice.get("/v1/search", params={"q": "!!! ..."}), 422, "invalid_query")
    assert_problem(await h.alice.get("/v1/search", params={"q": ""}), 422, "validation_error")
    response = await h.alice.get("/v1/search", params={"q": "x" * 2001})
    assert_problem(response, 422, "validation_error")


async def test_filters_and_the_json_body_give_the_same_results(
    library: tuple[Harness, dict[str, Any]],
) -> None:
    h, docs = library
    cardiology, nephrology = docs["cardiology"]["id"], docs["nephrology"]["id"]
    q = "metoprolol creatinine"
    assert {d for d, _ in pages_of(await search(h.alice, q))} == {cardiology, nephrology}
    assert {d for d, _ in pages_of(await search(h.alice, q, tags="renal"))} == {nephrology}
    both_tags = await search(h.alice, q, tags=["cardiology", "inpatient"])
    assert {d for d, _ in pages_of(both_tags)} == {cardiology}
    assert pages_of(await search(h.alice, q, tags=["cardiology", "renal"])) == []
    only = await search(h.alice, q, document_ids=[nephrology])
    assert {d for d, _ in pages_of(only)} == {nephrology}
    created = docs["cardiology"]["created_at"]
    later = await search(h.alice, q, created_after=created)
    earlier = await search(h.alice, q, created_before=created)
    assert cardiology not in {d for d, _ in pages_of(later) + pages_of(earlier)}

    posted = await h.alice.post(
        "/v1/search", json={"q": q, "tags": ["renal"], "document_ids": [nephrology, cardiology]}
    )
    assert posted.status_code == 200, posted.text
    assert posted.json() == await search(
        h.alice, q, tags="renal", document_ids=[nephrology, cardiology]
    )
    naive = await h.alice.get("/v1/search", params={"q": q, "created_after": "2026-01-01T00:00:00"})
    assert_problem(naive, 400, "invalid_request")


async def test_cursor_pages_through_without_overlap_and_is_bound_to_the_query(
    library: tuple[Harness, dict[str, Any]],
) -> None:
    h, _ = library
    q = "metoprolol warfarin creatinine lisinopril cardiology"
    everything = pages_of(await search(h.alice, q, limit=50))
    assert len(everything) == 5
    seen: list[tuple[str, int]] = []
    cursor = None
    while True:
        body = await search(h.alice, q, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += pages_of(body)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == everything
    first = await search(h.alice, q, limit=2)
    other = await h.alice.get(
        "/v1/search", params={"q": "warfarin", "cursor": first["next_cursor"]}
    )
    assert_problem(other, 400, "invalid_cursor")
    stolen = await h.bob.get("/v1/search", params={"q": q, "cursor": first["next_cursor"]})
    assert_problem(stolen, 400, "invalid_cursor")


async def test_group_by_document_gives_each_document_once_with_its_best_pages(
    library: tuple[Harness, dict[str, Any]],
) -> None:
    h, docs = library
    body = await search(h.alice, "metoprolol warfarin creatinine", group="document")
    by_id = {hit["document_id"]: hit for hit in body["hits"]}
    assert sorted(by_id) == sorted([docs["cardiology"]["id"], docs["nephrology"]["id"]])
    assert len(body["hits"]) == 2
    best_scores = [hit["score"] for hit in body["hits"]]
    assert best_scores == sorted(best_scores, reverse=True)
    cardiology = by_id[docs["cardiology"]["id"]]
    assert cardiology["pages"][0]["page"] == cardiology["page"]
    assert sorted(p["page"] for p in cardiology["pages"]) == [1, 2, 3]
    scores = [p["score"] for p in cardiology["pages"]]
    assert scores == sorted(scores, reverse=True)
    assert [p["page"] for p in by_id[docs["nephrology"]["id"]]["pages"]] == [2]


async def test_another_owners_documents_never_appear(
    library: tuple[Harness, dict[str, Any]],
) -> None:
    h, docs = library
    assert (await search(h.bob, "warfarin metoprolol creatinine"))["hits"] == []
    only_alices = await search(h.bob, "warfarin", document_ids=[docs["cardiology"]["id"]])
    assert only_alices["hits"] == []
    mine = await ready(h.bob, ["Bob's own note about warfarin dosing."])
    assert pages_of(await search(h.bob, "warfarin")) == [(mine["id"], 1)]
    assert mine["id"] not in {d for d, _ in pages_of(await search(h.alice, "warfarin"))}


async def test_edits_deletes_and_reprocessing_keep_the_index_exact(
    library: tuple[Harness, dict[str, Any]],
) -> None:
    h, docs = library
    cardiology, nephrology = docs["cardiology"]["id"], docs["nephrology"]["id"]

    renamed = await h.alice.patch(
        f"/v1/documents/{nephrology}", json={"title": "Kidney letter", "tags": ["kidney"]}
    )
    assert renamed.status_code == 200, renamed.text
    hits = (await search(h.alice, "kidney", tags="kidney"))["hits"]
    assert {hit["document_id"] for hit in hits} == {nephrology}
    assert {hit["title"] for hit in hits} == {"Kidney letter"}
    assert (await search(h.alice, "creatinine", tags="renal"))["hits"] == []

    before = pages_of(await search(h.alice, "metoprolol warfarin", limit=50))
    reprocess = await h.alice.post(f"/v1/documents/{cardiology}/reprocess")
    assert reprocess.status_code == 202, reprocess.text
    await wait_for_document(
        h.alice,
        cardiology,
        lambda d: settled(d) and d["updated_at"] > docs["cardiology"]["updated_at"],
    )
    assert pages_of(await search(h.alice, "metoprolol warfarin", limit=50)) == before

    deleted = await h.alice.delete(f"/v1/documents/{cardiology}")
    assert deleted.status_code == 204
    assert pages_of(await search(h.alice, "metoprolol warfarin")) == []
    bulk = await h.alice.post("/v1/documents/bulk", json={"action": "delete", "ids": [nephrology]})
    assert bulk.json()["succeeded"] == 1
    assert (await search(h.alice, "creatinine kidney"))["hits"] == []


async def test_a_document_deleted_behind_the_index_is_never_a_hit(
    library: tuple[Harness, dict[str, Any]],
) -> None:
    """The records are the truth: hits whose record is gone are dropped (and unindexed), as when
    a delete races the pipeline, or another replica's index has not caught up yet."""
    h, docs = library
    nephrology = docs["nephrology"]["id"]
    await h.stores.documents.mark_deleting(owner="alice", document_id=nephrology, now=utcnow())
    await h.stores.documents.delete(owner="alice", document_id=nephrology)
    assert (await search(h.alice, "creatinine"))["hits"] == []
    # Unindexed too: on aws, the harness's own replica hears of it through the change feed.
    for _ in range(100):
        if await h.stores.search_index.page_texts([(nephrology, 2)]) == {}:
            break
        await asyncio.sleep(0.1)
    assert await h.stores.search_index.page_texts([(nephrology, 2)]) == {}


@pytest.mark.parametrize("profile", ["embedded"])
async def test_the_index_survives_a_restart(make_pipeline_harness: HarnessFactory) -> None:
    async with make_pipeline_harness() as first:
        document = await ready(first.alice, NEPHROLOGY)
        before = await search(first.alice, "lisinopril creatinine")
    async with make_pipeline_harness() as second:
        assert await search(second.alice, "lisinopril creatinine") == before
        assert {d for d, _ in pages_of(before)} == {document["id"]}


@pytest.mark.parametrize("profile", ["embedded"])
async def test_at_start_the_index_is_brought_in_line_with_the_records(
    make_pipeline_harness: HarnessFactory,
) -> None:
    """What a crash between commits could lose comes back at the next start, by document:
    pages missing from the index are indexed from the stored pages, tags and titles edited
    behind it are applied, and what has no record is dropped."""
    async with make_pipeline_harness() as first:
        kept = await ready(first.alice, NEPHROLOGY, tags="renal")
        edited = await ready(first.alice, CARDIOLOGY, tags="cardiology")
        before = await search(first.alice, "lisinopril creatinine")
        data_dir = first.settings.data_dir
        # The index as a crash could leave it: one document's pages never committed, another's
        # tag edit never committed, and a document it holds whose record is gone.
        index = first.stores.search_index
        await index.remove(kept["id"])
        record = await first.stores.documents.get(owner="alice", document_id=edited["id"])
        await index.replace(searchable(replace(record, tags=("stale",))), [Page(1, "warfarin")])
        ghost = replace(searchable(record), id="ghost")
        await index.replace(ghost, [Page(1, "lisinopril ghost")])
    assert (data_dir / "search").is_dir()
    async with make_pipeline_harness() as second:
        assert await search(second.alice, "lisinopril creatinine") == before
        tagged = await search(second.alice, "warfarin", tags=["cardiology"])
        assert {d for d, _ in pages_of(tagged)} == {edited["id"]}
        indexed = await second.stores.search_index.indexed_owners()
        assert indexed == {kept["id"]: "alice", edited["id"]: "alice"}


async def test_a_document_deleted_while_it_is_processed_leaves_nothing_searchable(
    make_pipeline_harness: HarnessFactory,
) -> None:
    async with make_pipeline_harness() as h:
        document = await upload_ok(h.alice, text_pdf(pages=1500))
        await wait_for_document(h.alice, document["id"], lambda d: d["status"] == "processing")
        assert (await h.alice.delete(f"/v1/documents/{document['id']}")).status_code == 204
        keys = [(document["id"], page) for page in (1, 750, 1500)]
        for _ in range(100):  # the worker notices at its next write, and cleans up
            if await h.stores.search_index.page_texts(keys) == {} and not any(
                document["id"] in key for key in await h.blob_keys()
            ):
                break
            await asyncio.sleep(0.1)
        assert await h.stores.search_index.page_texts(keys) == {}
        assert not any(document["id"] in key for key in await h.blob_keys())
        assert (await search(h.alice, "marker200 word5"))["hits"] == []


@pytest.mark.parametrize("profile", ["embedded"])
async def test_reindex_rebuilds_a_lost_index_from_the_stored_pages(
    make_pipeline_harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with make_pipeline_harness() as first:
        kept = await ready(first.alice, NEPHROLOGY)
        gone = await ready(first.bob, CARDIOLOGY)
        before = await search(first.alice, "lisinopril creatinine")
        data_dir = first.settings.data_dir
        await first.stores.documents.mark_deleting(
            owner="bob", document_id=gone["id"], now=utcnow()
        )
        await first.stores.documents.delete(owner="bob", document_id=gone["id"])
    monkeypatch.setenv("DOCQUERY_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DOCQUERY_AUTH", "api_key")
    monkeypatch.setenv("DOCQUERY_API_KEYS", ",".join(f"{o}={d}" for o, d in API_KEYS.items()))
    # Once with bob's pages left in the index behind his record, once with the index lost.
    assert await asyncio.to_thread(main, ["reindex"]) == 0
    index = TantivySearchIndex(data_dir / "search")
    await index.open()
    assert await index.indexed_owners() == {kept["id"]: "alice"}
    await index.close()
    shutil.rmtree(data_dir / "search")
    assert await asyncio.to_thread(main, ["reindex"]) == 0
    async with make_pipeline_harness() as second:
        # The same hits, scores too: bob's documents never counted in alice's statistics.
        assert await search(second.alice, "lisinopril creatinine") == before
        assert {d for d, _ in pages_of(before)} == {kept["id"]}
        assert await second.stores.search_index.indexed_owners() == {kept["id"]: "alice"}


async def test_reindex_is_for_the_embedded_profile_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCQUERY_PROFILE", "aws")
    monkeypatch.setenv("DOCQUERY_AUTH", "api_key")
    monkeypatch.setenv("DOCQUERY_API_KEYS", ",".join(f"{o}={d}" for o, d in API_KEYS.items()))
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    assert main(["reindex"]) == 2
