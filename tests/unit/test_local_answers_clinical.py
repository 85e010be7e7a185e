"""Local answers from page structure: lab rows, medications by status, patients kept apart."""

from __future__ import annotations

from docquery.adapters.local.summariser import LocalLanguageModel
from docquery.domain.reading import Block, BlockKind, Cell, PageReading, Row, Table
from docquery.domain.search import Draft, Passage
from docquery.services.citations import verify
from docquery.text.answers import NOT_FOUND_ANSWER

BOX = (0.0, 0.0, 100.0, 10.0)


def table(section: tuple[str, ...], header: list[str], rows: list[list[str]]) -> Block:
    head = Row(tuple(Cell(h) for h in header), is_header=True)
    body = [Row(tuple(Cell(t, h) for t, h in zip(row, header, strict=True))) for row in rows]
    text = "\n".join(" ".join(r) for r in [header, *rows])
    return Block(BlockKind.TABLE, text, BOX, section, table=Table((head, *body), "t1"))


def block(kind: BlockKind, text: str, section: tuple[str, ...] = ()) -> Block:
    return Block(kind, text, BOX, section)


def kv(key: str, value: str) -> Block:
    return Block(BlockKind.KEY_VALUE, f"{key}: {value}", BOX, (), key=key, value=value)


def page(blocks: list[Block], number: int = 1) -> PageReading:
    # As an extractor prints a grid whose every cell is a text object: one cell per line.
    lines = []
    for b in blocks:
        if b.table is not None:
            lines += [c.text for r in b.table.rows for c in r.cells]
        else:
            lines.append(b.text)
    return PageReading(number, "\n".join(lines), tuple(blocks), 600, 800)


def passage(n: int, document: str, title: str, reading: PageReading, patient: str = "") -> Passage:
    return Passage(
        n, document, title, reading.number, reading.text, reading=reading, patient=patient
    )


LAB = page(
    [
        block(BlockKind.FURNITURE, "Pinecrest Laboratory Page 1 of 1"),
        kv("Patient", "Maria Lopez"),
        block(BlockKind.HEADING, "Full blood count"),
        table(
            ("Full blood count",),
            ["Test", "Result", "Units", "Reference range", "Flag"],
            [
                ["Haemoglobin", "98", "g/L", "130-170", "L"],
                ["Platelet count", "4", "x10^9/L", "150-400", "L"],
                ["Sodium", "134", "mmol/L", "135-145", "L"],
                ["Potassium", "4.1", "mmol/L", "3.5-5.1", ""],
            ],
        ),
    ]
)

DISCHARGE = page(
    [
        kv("Patient", "John Smith"),
        block(BlockKind.HEADING, "Discharge medications"),
        table(
            ("Discharge medications",),
            ["Medicine", "Dose", "Frequency", "Status"],
            [
                ["Apixaban", "5 mg", "twice daily", "NEW"],
                ["Atorvastatin", "40 mg", "at night", "CONTINUED"],
                ["Aspirin", "75 mg", "once daily", "STOPPED"],
            ],
        ),
        block(BlockKind.HEADING, "Comment"),
        block(
            BlockKind.PARAGRAPH, "Mild anaemia, haemoglobin 10.2 g/dL on admission.", ("Comment",)
        ),
    ]
)

OTHER = page(
    [
        kv("Patient", "Ana Achterberg"),
        block(BlockKind.HEADING, "Discharge medications"),
        table(
            ("Discharge medications",),
            ["Medicine", "Dose", "Frequency", "Status"],
            [["Warfarin", "3 mg", "once daily", "STOPPED"], ["Ramipril", "5 mg", "daily", "NEW"]],
        ),
        block(BlockKind.PARAGRAPH, "No anticoagulant was started.", ("Discharge medications",)),
    ]
)


async def ask(question: str, passages: list[Passage]) -> Draft:
    draft = await LocalLanguageModel().answer(question, passages)
    texts = {(p.document_id, p.page): p.text for p in passages}
    verified = verify(draft, passages, texts)
    assert len(verified.citations) == len(draft.citations), "every quote verifies"
    return draft


async def test_lab_values_come_from_their_table_rows_with_header_and_flag() -> None:
    lab = [passage(1, "lab", "Lab report", LAB)]
    sodium = await ask("What was the sodium?", lab)
    assert sodium.text == "- Sodium 134 mmol/L (ref 135-145) L [1]"
    assert "Haemoglobin 98 g/L" in (await ask("What was the hemoglobin?", lab)).text
    assert "Platelet count 4 x10^9/L" in (await ask("What was the platelet count?", lab)).text


async def test_a_us_spelled_question_finds_the_uk_spelled_value_in_prose() -> None:
    draft = await ask("What was the hemoglobin?", [passage(1, "d", "Discharge", DISCHARGE)])
    assert "haemoglobin 10.2 g/dL" in draft.text


async def test_discharge_medications_leave_the_stopped_one_out() -> None:
    draft = await ask(
        "What medications was the patient discharged on?",
        [passage(1, "d", "Discharge", DISCHARGE)],
    )
    assert "Apixaban 5 mg" in draft.text
    assert "Atorvastatin 40 mg" in draft.text
    assert "Aspirin" not in draft.text


async def test_stopped_medications_are_the_stopped_ones() -> None:
    draft = await ask("Which medications were stopped?", [passage(1, "d", "Discharge", DISCHARGE)])
    assert draft.text == "- Aspirin 75 mg once daily STOPPED [1]"


async def test_two_patients_answers_are_attributed_not_merged() -> None:
    passages = [
        passage(1, "d1", "Discharge A", DISCHARGE, "John Smith"),
        passage(2, "d2", "Discharge B", OTHER, "Ana Achterberg"),
    ]
    draft = await ask("Which anticoagulant was started?", passages)
    first, *rest = draft.text.split("\n\n")
    assert first.startswith('From "Discharge A" (patient John Smith):')
    assert "Apixaban" in first
    assert "Warfarin" not in draft.text
    assert all("Apixaban" not in part for part in rest)


async def test_abnormal_results_are_the_flagged_rows() -> None:
    draft = await ask("Which results were abnormal?", [passage(1, "lab", "Lab", LAB)])
    assert "Sodium 134" in draft.text
    assert "Haemoglobin 98" in draft.text
    assert "Potassium" not in draft.text


async def test_an_off_topic_question_is_not_found() -> None:
    passages = [passage(1, "lab", "Lab", LAB), passage(2, "d", "Discharge", DISCHARGE)]
    assert await ask("What is the capital of France?", passages) == Draft(NOT_FOUND_ANSWER, ())


async def test_an_analyte_the_pages_do_not_hold_is_not_found() -> None:
    draft = await ask("What was the TSH?", [passage(1, "lab", "Lab", LAB)])
    assert draft == Draft(NOT_FOUND_ANSWER, ())


async def test_a_section_question_answers_with_the_section() -> None:
    note = page(
        [
            block(BlockKind.HEADING, "PREOPERATIVE DIAGNOSIS"),
            block(BlockKind.PARAGRAPH, "Left inguinal hernia.", ("PREOPERATIVE DIAGNOSIS",)),
            block(BlockKind.HEADING, "POSTOPERATIVE DIAGNOSIS"),
            block(
                BlockKind.PARAGRAPH,
                "Left indirect inguinal hernia, incarcerated.",
                ("POSTOPERATIVE DIAGNOSIS",),
            ),
            block(BlockKind.PARAGRAPH, "ANESTHESIA: General endotracheal anesthesia."),
        ]
    )
    notes = [passage(1, "n", "Operative note", note)]
    draft = await ask("What was the postoperative diagnosis?", notes)
    assert draft.text == "- Left indirect inguinal hernia, incarcerated. [1]"
    draft = await ask("What type of anaesthesia was used?", notes)
    assert draft.text == "- General endotracheal anesthesia. [1]"


async def test_no_longer_take_asks_for_the_stopped_ones() -> None:
    passages = [passage(1, "d", "Discharge", DISCHARGE)]
    draft = await ask("Which medicines should the patient no longer take?", passages)
    assert draft.text == "- Aspirin 75 mg once daily STOPPED [1]"


async def test_a_list_under_an_inline_heading_is_the_section() -> None:
    summary = page(
        [
            kv("Discharge diagnoses", "1. Alcohol-related liver disease"),
            block(BlockKind.LIST_ITEM, "2. Alcohol dependence"),
            block(BlockKind.PARAGRAPH, "COMPLICATIONS: None."),
            kv("Follow-up", "Hepatology clinic in 4 weeks"),
        ]
    )
    passages = [passage(1, "d", "Discharge", summary)]
    draft = await ask("What was the patient diagnosed with?", passages)
    assert "Alcohol-related liver disease" in draft.text
    assert "Alcohol dependence" in draft.text
    assert "Hepatology" not in draft.text
    # "None." is too short to prove anything alone: it is quoted with its heading.
    draft = await ask("Were there any complications?", passages)
    assert draft.text == "- None. [1]"
    assert draft.citations[0].quote == "COMPLICATIONS: None."
    draft = await ask("When should the patient be seen again?", passages)
    assert "Hepatology clinic in 4 weeks" in draft.text


async def test_a_line_with_its_own_topic_under_the_medications_is_no_medication() -> None:
    meds = ("Discharge medications",)
    summary = page(
        [
            block(BlockKind.HEADING, "Discharge medications"),
            Block(
                BlockKind.KEY_VALUE,
                "Colchicine: 0.6 mg twice daily - NEW",
                BOX,
                meds,
                key="Colchicine",
                value="0.6 mg twice daily - NEW",
            ),
            Block(
                BlockKind.KEY_VALUE,
                "Follow-up: Primary care visit in 4 weeks",
                BOX,
                meds,
                key="Follow-up",
                value="Primary care visit in 4 weeks",
            ),
        ]
    )
    draft = await ask(
        "What medications was the patient discharged on?", [passage(1, "d", "D", summary)]
    )
    assert draft.text == "- Colchicine: 0.6 mg twice daily - NEW [1]"


async def test_the_section_not_the_documents_title_answers() -> None:
    title = ("Procedure Note",)
    note = page(
        [
            block(BlockKind.FURNITURE, "Castlegate Royal Infirmary"),
            block(BlockKind.HEADING, "Procedure Note"),
            block(BlockKind.PARAGRAPH, "Castlegate Royal Infirmary", title),
            block(BlockKind.HEADING, "Procedure", title),
            block(BlockKind.PARAGRAPH, "Insertion of a central line.", (*title, "Procedure")),
        ]
    )
    draft = await ask("What procedure was performed?", [passage(1, "n", "Note", note)])
    assert draft.text == "- Insertion of a central line. [1]"


async def test_a_flag_column_holding_a_unit_is_no_flag() -> None:
    lab = page(
        [
            table(
                (),
                ["Test", "Result", "Flag", "Units", "Reference range"],
                [
                    ["Phosphate", "1.36", "mmol/L", "", "0.80-1.50"],
                    ["Urea", "2.1", "L", "mmol/L", "2.5-7.8"],
                ],
            )
        ]
    )
    draft = await ask("Which results were abnormal?", [passage(1, "lab", "Lab", lab)])
    assert draft.text == "- Urea 2.1 L mmol/L (ref 2.5-7.8) [1]"


async def test_discharge_medications_are_not_the_admission_ones() -> None:
    on_admission = ("Medications on admission",)
    summary = page(
        [
            block(BlockKind.HEADING, "Medications on admission"),
            block(BlockKind.LIST_ITEM, "Naproxen 500 mg twice daily", on_admission),
            block(BlockKind.HEADING, "Discharge medications"),
            block(
                BlockKind.LIST_ITEM, "Paracetamol 1 g four times daily", ("Discharge medications",)
            ),
        ]
    )
    draft = await ask(
        "What medications was the patient discharged on?", [passage(1, "d", "D", summary)]
    )
    assert draft.text == "- Paracetamol 1 g four times daily [1]"
