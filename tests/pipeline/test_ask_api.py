"""POST /v1/query on both profiles: the local extractive model on embedded, Bedrock (the fake
server, real botocore) on aws. Every citation must be found in the stored page text."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator

import pytest

from support.api import assert_problem, settled, upload_ok, wait_for_document
from support.bad_pdfs import document_pdf
from support.fake_bedrock import FakeBedrock
from support.harness import Harness, HarnessFactory
from support.reading_pdfs import LAB_HEADER, LAB_X, Page, build_pdf, table_rows

QUESTION = "Which anticoagulant was started for stroke prevention?"
LETTER = [
    "Discharge summary. The patient was admitted with atrial fibrillation and rapid "
    "ventricular response. Metoprolol was started and the heart rate improved.",
    "Warfarin was started for stroke prevention, with INR checks in the anticoagulation "
    "clinic. The target INR is 2.0 to 3.0.",
]
NOT_FOUND = "I could not find support for an answer in the selected documents."


def normalised(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
async def clinic(make_pipeline_harness: HarnessFactory) -> AsyncIterator[tuple[Harness, str]]:
    async with make_pipeline_harness() as h:
        document = await upload_ok(h.alice, document_pdf(LETTER), data={"title": "AF discharge"})
        final = await wait_for_document(h.alice, document["id"], settled)
        assert final["status"] == "ready", final
        yield h, document["id"]


async def stored_page(h: Harness, document_id: str, page: int) -> str:
    response = await h.alice.get(f"/v1/documents/{document_id}/text?first_page={page}&limit=1")
    return str(response.json()["pages"][0]["text"])


async def test_an_answer_cites_pages_whose_text_holds_its_quotes(
    clinic: tuple[Harness, str],
) -> None:
    h, document_id = clinic
    response = await h.alice.post("/v1/query", json={"question": QUESTION})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["grounded"] is True
    assert body["citations"], body
    assert any(c["page"] == 2 for c in body["citations"])
    for citation in body["citations"]:
        assert citation["document_id"] == document_id
        assert citation["title"] == "AF discharge"
        page_text = await stored_page(h, document_id, citation["page"])
        assert normalised(citation["quote"]) in normalised(page_text)
        assert f"[{citation['source']}]" in body["answer"]
    assert "Warfarin" in body["answer"]


async def test_no_matching_pages_means_no_answer(clinic: tuple[Harness, str]) -> None:
    h, _ = clinic
    response = await h.alice.post("/v1/query", json={"question": "What is the bone density score?"})
    assert response.json() == {"answer": NOT_FOUND, "citations": [], "grounded": False}
    # Another owner's documents are never a source.
    bobs = await h.bob.post("/v1/query", json={"question": QUESTION})
    assert bobs.json() == {"answer": NOT_FOUND, "citations": [], "grounded": False}


async def test_filters_choose_the_documents_answered_from(clinic: tuple[Harness, str]) -> None:
    h, _ = clinic
    other = await upload_ok(h.alice, document_pdf(["Warfarin was stopped before surgery."]))
    await wait_for_document(h.alice, other["id"], settled)
    only = await h.alice.post(
        "/v1/query", json={"question": QUESTION, "document_ids": [other["id"]], "top_k": 1}
    )
    assert {c["document_id"] for c in only.json()["citations"]} <= {other["id"]}
    tagged = await h.alice.post("/v1/query", json={"question": QUESTION, "tags": ["nothing"]})
    assert tagged.json()["grounded"] is False


async def test_the_answer_streams_as_server_sent_events(clinic: tuple[Harness, str]) -> None:
    h, _ = clinic
    plain = (await h.alice.post("/v1/query", json={"question": QUESTION})).json()
    async with h.alice.stream(
        "POST", "/v1/query", json={"question": QUESTION}, headers={"Accept": "text/event-stream"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        raw = "".join([chunk async for chunk in response.aiter_text()])
    events = [
        (match["name"], json.loads(match["data"]))
        for match in re.finditer(r"event: (?P<name>\w+)\ndata: (?P<data>.*)\n\n", raw)
    ]
    names = [name for name, _ in events]
    assert names[-1] == "answer"
    assert set(names[:-1]) == {"delta"}, names
    streamed = "".join(data["text"] for name, data in events if name == "delta")
    assert "<citations>" not in streamed
    assert events[-1][1] == plain
    assert normalised(streamed).startswith(normalised(plain["answer"])[:20])


async def test_bad_questions_are_problems(clinic: tuple[Harness, str]) -> None:
    h, _ = clinic
    assert_problem(await h.alice.post("/v1/query", json={"question": "?!"}), 422, "invalid_query")
    assert_problem(await h.alice.post("/v1/query", json={"question": ""}), 422, "validation_error")
    too_many = {"question": QUESTION, "top_k": 21}
    assert_problem(await h.alice.post("/v1/query", json=too_many), 422, "validation_error")
    assert_problem(
        await h.anonymous.post("/v1/query", json={"question": QUESTION}), 401, "unauthenticated"
    )


async def test_patient_data_in_searches_and_answers_never_reaches_the_logs(
    make_pipeline_harness: HarnessFactory, json_log: io.StringIO
) -> None:
    canary = "Zyxwanderson"  # a patient's name: in the text, the title, the question
    async with make_pipeline_harness() as h:
        document = await upload_ok(
            h.alice,
            document_pdf([f"Patient {canary} was started on warfarin for stroke prevention."]),
            data={"title": f"Letter for {canary}", "tags": canary.lower()},
        )
        await wait_for_document(h.alice, document["id"], settled)
        question = {"question": f"Was {canary} started on warfarin?"}
        answered = await h.alice.post("/v1/query", json=question)
        assert canary in answered.text
        stream = await h.alice.post(
            "/v1/query", json=question, headers={"Accept": "text/event-stream"}
        )
        assert canary in stream.text
        found = await h.alice.get(
            "/v1/search", params={"q": f"{canary} -aspirin", "group": "document"}
        )
        assert canary in found.text
        await h.alice.post("/v1/search", json={"q": canary, "tags": [canary.lower()]})
        await h.alice.get("/v1/search", params={"q": f'"{canary}" OR NEAR('})
        await h.alice.delete(f"/v1/documents/{document['id']}")
    logged = json_log.getvalue()
    assert '"event": "ask.answered"' in logged
    assert '"event": "search.done"' in logged
    assert canary.lower() not in logged.lower()
    assert "warfarin" not in logged.lower()


async def test_without_a_model_answers_are_unavailable(
    make_pipeline_harness: HarnessFactory,
) -> None:
    async with make_pipeline_harness(language_model="disabled") as h:
        response = await h.alice.post("/v1/query", json={"question": QUESTION})
        assert_problem(response, 503, "model_disabled")


@pytest.mark.parametrize("profile", ["aws"])
async def test_fabricated_quotes_are_dropped(
    clinic: tuple[Harness, str], fake_bedrock: FakeBedrock
) -> None:
    h, _ = clinic
    # Source 1 is the best page (page 2); source 2 has no such sentence.
    fake_bedrock.respond_with(
        "Warfarin was started [1] and apixaban too [2].\n<citations>\n"
        '[1] "Warfarin was started for stroke prevention"\n'
        '[2] "Apixaban 5 mg twice daily was started"\n</citations>',
        times=1,
    )
    body = (await h.alice.post("/v1/query", json={"question": QUESTION, "top_k": 2})).json()
    assert body["grounded"] is True
    assert [(c["source"], c["page"], c["quote"]) for c in body["citations"]] == [
        (1, 2, "Warfarin was started for stroke prevention")
    ]
    assert "[1]" in body["answer"]
    assert "[2]" not in body["answer"]

    made_up = '[1] "Apixaban was started"'
    fake_bedrock.respond_with(f"Made up [1].\n<citations>\n{made_up}\n</citations>", times=1)
    body = (await h.alice.post("/v1/query", json={"question": QUESTION})).json()
    assert body == {"answer": NOT_FOUND, "citations": [], "grounded": False}


@pytest.mark.parametrize("profile", ["aws"])
async def test_a_model_outage_is_a_problem_not_a_guess(
    clinic: tuple[Harness, str], fake_bedrock: FakeBedrock
) -> None:
    h, _ = clinic
    fake_bedrock.fail_next(10, status=400, error_type="ValidationException")
    response = await h.alice.post("/v1/query", json={"question": QUESTION})
    assert_problem(response, 503, "model_unavailable")
    fake_bedrock.reset()
    fake_bedrock.fail_stream_after(3, error_type="validationException")
    async with h.alice.stream(
        "POST", "/v1/query", json={"question": QUESTION}, headers={"Accept": "text/event-stream"}
    ) as streamed:
        raw = "".join([chunk async for chunk in streamed.aiter_text()])
    assert "event: error" in raw
    error = json.loads(raw.split("event: error\ndata: ", 1)[1].split("\n", 1)[0])
    assert error["code"] == "model_unavailable"
    assert "event: answer" not in raw


@pytest.mark.parametrize("profile", ["aws"])
async def test_an_answer_is_asked_from_the_pages_markdown(
    make_pipeline_harness: HarnessFactory, fake_bedrock: FakeBedrock
) -> None:
    page = Page()
    page.text(54, 72, "Laboratory Results", size=16, bold=True)
    table_rows(page, LAB_X, 100, [LAB_HEADER, ["Potassium", "3.1", "L", "mmol/L", "3.5 - 5.1"]])
    async with make_pipeline_harness() as h:
        document = await upload_ok(h.alice, build_pdf([page]))
        final = await wait_for_document(h.alice, document["id"], settled)
        assert final["status"] == "ready", final
        fake_bedrock.reset()
        response = await h.alice.post("/v1/query", json={"question": "Potassium result?"})
    assert response.status_code == 200, response.text
    [request] = [r for r in fake_bedrock.requests if r.is_answer]
    assert "# Laboratory Results" in request.user_text
    assert (
        "| Test | Result | Flag | Units | Reference Range |\n|---|---|---|---|---|\n"
        "| Potassium | 3.1 | L | mmol/L | 3.5 - 5.1 |"
    ) in request.user_text
