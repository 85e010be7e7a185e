"""A discharge summary's summary through the API: from its stored reading, on both profiles.

Embedded: the local summariser reads the stored blocks. aws: the fake Bedrock is asked through
the record_summary tool and answers from the page Markdown, through botocore's real shapes.
"""

from __future__ import annotations

from typing import Any

import pytest

from support.api import settled, upload_ok, wait_for_document
from support.clinical_pdfs import MEDICATIONS, discharge_pdf
from support.harness import HarnessFactory


def _texts(summary: dict[str, Any], name: str) -> list[str]:
    sections = {section["name"]: section for section in summary["sections"]}
    return [st["text"] for st in sections[name]["statements"]] if name in sections else []


@pytest.mark.parametrize("profile", ["embedded", "aws"])
async def test_a_discharge_summary_lists_every_medication_with_its_status(
    make_pipeline_harness: HarnessFactory, profile: str
) -> None:
    async with make_pipeline_harness() as h:
        document = await upload_ok(h.alice, discharge_pdf())
        final = await wait_for_document(h.alice, document["id"], settled)
        assert final["summary_status"] == "ready", final
        response = await h.alice.get(f"/v1/documents/{document['id']}/summary")
    assert response.status_code == 200, response.text
    summary = response.json()
    medications = _texts(summary, "medications")
    for name, dose, _route, _frequency, status, _notes in MEDICATIONS[1:]:
        assert any(text.startswith(f"{name} {dose}: {status}") for text in medications), (
            name,
            medications,
        )
    assert not any("Northfield" in text for text in _texts(summary, "overview"))
    cited = {p for s in summary["sections"] for st in s["statements"] for p in st["pages"]}
    assert cited == {1}
