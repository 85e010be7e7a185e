"""A discharge summary through the whole pipeline: cited summary, and no patient data in logs."""

from __future__ import annotations

import io

from support.api import settled, upload_ok, wait_for_document
from support.bad_pdfs import document_pdf
from support.harness import Harness

CANARY = "Zebulon-Quartermaine-7731"

DISCHARGE_SUMMARY = [
    f"Discharge summary for {CANARY}. The patient was admitted with acute chest pain and "
    "shortness of breath. Troponin was elevated at 0.9 ng/mL on admission. "
    "Echocardiogram showed an ejection fraction of 40 percent.",
    "Assessment: the diagnosis is non-ST elevation myocardial infarction. "
    "Secondary diagnosis of type 2 diabetes mellitus. Coronary angiography revealed a "
    "70 percent stenosis of the left anterior descending artery.",
    "Discharge medications: aspirin 81 mg daily, atorvastatin 80 mg at night, "
    "metoprolol 25 mg twice daily, metformin 500 mg twice daily.",
    "Follow-up: return to cardiology clinic in two weeks. Schedule a repeat echocardiogram "
    "in three months. Recheck lipid panel in six weeks.",
]


def normalised(text: str) -> str:
    return " ".join(text.split()).lower()


async def test_discharge_summary_is_summarised_with_citations_and_never_logged(
    pipeline_harness: Harness, json_log: io.StringIO
) -> None:
    h = pipeline_harness
    document = await upload_ok(h.alice, document_pdf(DISCHARGE_SUMMARY), filename="ds.pdf")
    final = await wait_for_document(h.alice, document["id"], settled)
    assert final["status"] == "ready"
    assert final["page_count"] == 4
    assert final["summary_status"] == "ready", final

    text = (await h.alice.get(f"/v1/documents/{document['id']}/text")).json()
    pages = {page["number"]: normalised(page["text"]) for page in text["pages"]}
    assert CANARY.lower() in pages[1]

    summary = (await h.alice.get(f"/v1/documents/{document['id']}/summary")).json()
    sections = {section["name"]: section["statements"] for section in summary["sections"]}
    assert "overview" in sections
    for statements in sections.values():
        for statement in statements:
            assert statement["pages"]
            # Every statement is supported by a page it cites.
            words = normalised(statement["text"]).split()[:6]
            assert any(" ".join(words) in pages[number] for number in statement["pages"]), (
                statement,
                pages,
            )
    if h.settings.profile == "embedded":  # the extractive model's sections are predictable
        assert any("aspirin" in normalised(s["text"]) for s in sections["medications"])
        assert all(s["pages"] == [3] for s in sections["medications"])
        assert any("myocardial" in normalised(s["text"]) for s in sections["diagnoses"])
        assert any("cardiology clinic" in normalised(s["text"]) for s in sections["follow_up"])

    logged = json_log.getvalue()
    assert "pipeline.extracted" in logged  # the pipeline did log, just never the text
    assert CANARY not in logged
    assert "atorvastatin" not in logged
