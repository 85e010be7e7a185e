"""Clinical answers end to end on the local model: lab rows from a generated PDF, one patient
at a time, and not found for what the documents do not say."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from support.api import settled, upload_ok, wait_for_document
from support.harness import Harness, HarnessFactory
from support.reading_pdfs import LAB_HEADER, LAB_X, Page, build_pdf, table_rows

pytestmark = pytest.mark.parametrize("profile", ["embedded"])


def lab_pdf(banner: str, rows: list[list[str]]) -> bytes:
    page = Page()
    page.text(54, 36, "Northfield Clinical Laboratory", size=11, bold=True)
    page.text(54, 56, banner, size=8)
    page.text(54, 80, "Renal and haematology profile", size=14, bold=True)
    table_rows(page, LAB_X, 110, [LAB_HEADER, *rows])
    page.text(510, 750, "Page 1 of 1", size=8)
    return build_pdf([page])


LOPEZ = lab_pdf(
    "Patient: LOPEZ, Maria   MRN: 4471203   DOB: 02/03/1951",
    [
        ["Sodium", "134", "L", "mmol/L", "135 - 145"],
        ["Potassium", "5.9", "H", "mmol/L", "3.5 - 5.1"],
        ["Platelet count", "4", "L", "x10^9/L", "150 - 400"],
    ],
)
HOLLOWAY = lab_pdf(
    "Patient: HOLLOWAY, Ruth   MRN: 5501888   DOB: 11/07/1949",
    [
        ["Sodium", "141", "", "mmol/L", "135 - 145"],
        ["Potassium", "3.2", "L", "mmol/L", "3.5 - 5.1"],
    ],
)


@pytest.fixture
async def labs(make_pipeline_harness: HarnessFactory) -> AsyncIterator[tuple[Harness, str, str]]:
    async with make_pipeline_harness() as h:
        ids = []
        for pdf, title in ((LOPEZ, "Renal panel A"), (HOLLOWAY, "Renal panel B")):
            document = await upload_ok(h.alice, pdf, data={"title": title})
            final = await wait_for_document(h.alice, document["id"], settled)
            assert final["status"] == "ready", final
            ids.append(document["id"])
        yield h, ids[0], ids[1]


async def ask(h: Harness, question: str, ids: list[str] | None = None) -> dict[str, object]:
    body: dict[str, object] = {"question": question}
    if ids is not None:
        body["document_ids"] = ids
    response = await h.alice.post("/v1/query", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_lab_values_are_answered_from_their_rows(labs: tuple[Harness, str, str]) -> None:
    h, lopez, _ = labs
    sodium = await ask(h, "What was the sodium?", [lopez])
    assert sodium["grounded"] is True
    assert "Sodium 134 L mmol/L (ref 135 - 145)" in str(sodium["answer"])
    platelets = await ask(h, "What was the platelet count?", [lopez])
    assert "Platelet count 4 L" in str(platelets["answer"])


async def test_an_abbreviation_finds_the_page_that_spells_the_analyte_out(
    labs: tuple[Harness, str, str],
) -> None:
    h, lopez, _ = labs
    # No page holds "na": the search is sent the analyte's names, so the table page is found.
    body = await ask(h, "What was the patient's na?", [lopez])
    assert "Sodium 134 L mmol/L" in str(body["answer"])


async def test_a_question_naming_a_patient_answers_from_that_patient_only(
    labs: tuple[Harness, str, str],
) -> None:
    h, lopez, holloway = labs
    body = await ask(h, "What was Maria Lopez's potassium?")
    assert body["grounded"] is True
    assert "5.9" in str(body["answer"])
    assert "3.2" not in str(body["answer"])
    cited = {c["document_id"] for c in body["citations"]}  # type: ignore[attr-defined]
    assert cited == {lopez}
    nobody = await ask(h, "What was Pedro Alvarez's potassium?")
    assert nobody["grounded"] is False
    assert holloway not in str(nobody)


async def test_two_patients_answers_are_attributed(labs: tuple[Harness, str, str]) -> None:
    h, _, _ = labs
    answer = str((await ask(h, "What was the potassium?"))["answer"])
    assert 'From "Renal panel A" (patient Maria LOPEZ):' in answer
    assert 'From "Renal panel B" (patient Ruth HOLLOWAY):' in answer


async def test_an_off_topic_question_is_not_found(labs: tuple[Harness, str, str]) -> None:
    h, _, _ = labs
    body = await ask(h, "What is the capital of France?")
    assert body["grounded"] is False
    assert body["citations"] == []
