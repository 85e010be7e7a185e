"""Scores never reveal other owners' documents: BM25's statistics are per owner, so what Alice
uploads cannot move Bob's scores (once it did: 6.86 -> 6.87 -> 4.38, a test of whether any
tenant's documents contain a patient's name)."""

from __future__ import annotations

import httpx

from support.api import settled, upload_ok, wait_for_document
from support.bad_pdfs import document_pdf
from support.harness import HarnessFactory

BOBS = ["Clinic note. Patient Zebulon Quartermaine reported chest pain after exercise."]
WITHOUT_THE_WORD = [f"Routine note {n}. Blood pressure normal, chest clear." for n in range(6)]
WITH_THE_WORD = [f"Referral {n}. Zebulon Quartermaine seen for chest pain." for n in range(6)]


async def _ready(client: httpx.AsyncClient, pages: list[str]) -> None:
    document = await upload_ok(client, document_pdf(pages))
    assert (await wait_for_document(client, document["id"], settled))["status"] == "ready"


async def _bobs_scores(client: httpx.AsyncClient) -> list[tuple[str, int, float]]:
    response = await client.get("/v1/search", params={"q": "quartermaine chest pain"})
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert hits
    return [(hit["document_id"], hit["page"], hit["score"]) for hit in hits]


async def test_another_owners_uploads_leave_my_scores_unchanged(
    make_pipeline_harness: HarnessFactory,
) -> None:
    async with make_pipeline_harness() as h:
        await _ready(h.bob, BOBS)
        alone = await _bobs_scores(h.bob)
        await _ready(h.alice, WITHOUT_THE_WORD)
        assert await _bobs_scores(h.bob) == alone
        await _ready(h.alice, WITH_THE_WORD)
        assert await _bobs_scores(h.bob) == alone
        alices = await h.alice.get("/v1/search", params={"q": "quartermaine"})
        assert len(alices.json()["hits"]) == len(WITH_THE_WORD)
