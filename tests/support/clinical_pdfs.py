"""Generated clinical PDFs for the summary tests: a discharge summary, a lab report, a referral.

Drawn with support.reading_pdfs, read by the real reading engine in the tests; the furniture
(laboratory name, patient banner, page number) is on every page as in real documents.
"""

from __future__ import annotations

from support.reading_pdfs import LAB_HEADER, LAB_X, Page, build_pdf, furnish, table_rows

MEDS_X = [54.0, 180.0, 240.0, 290.0, 390.0, 470.0, 558.0]
MEDICATIONS = [
    ["Medicine", "Dose", "Route", "Frequency", "Status", "Notes"],
    ["Apixaban", "5 mg", "oral", "twice daily", "NEW", "started"],
    ["Bisoprolol", "2.5 mg", "oral", "once daily", "NEW", "rate control"],
    ["Ramipril", "5 mg", "oral", "once daily", "CHANGED", "increased"],
    ["Metformin", "500 mg", "oral", "twice daily", "CONTINUED", ""],
    ["Atorvastatin", "40 mg", "oral", "at night", "CONTINUED", "unchanged"],
    ["Aspirin", "75 mg", "oral", "once daily", "STOPPED", "on apixaban"],
]
DIAGNOSES = [
    "1. Atrial fibrillation with fast ventricular response",
    "2. Congestive cardiac failure",
    "3. Type 2 diabetes mellitus",
    "4. Chronic kidney disease stage 3",
    "5. Iron deficiency anaemia",
]
FOLLOW_UP = [
    "- Cardiology clinic in 6 weeks",
    "- GP review in 1 week with repeat U&E",
    "- Echocardiogram in 3 months",
    "- Anticoagulation clinic in 2 weeks",
]


def _heading(page: Page, top: float, text: str) -> float:
    page.text(54, top, text, size=11, bold=True)
    return top + 18


def discharge_pdf() -> bytes:
    page = furnish(Page(), 1, 1)
    top = _heading(page, 80, "Discharge Summary")
    top = _heading(page, top + 4, "Presenting Complaint")
    top = page.lines(54, top, ["Palpitations and breathlessness for three days."]) + 8
    top = _heading(page, top, "Discharge Diagnoses")
    top = page.lines(54, top, DIAGNOSES) + 8
    top = _heading(page, top, "Discharge Medications")
    top = table_rows(page, MEDS_X, top, MEDICATIONS) + 12
    top = _heading(page, top, "Follow-up")
    page.lines(54, top, FOLLOW_UP)
    return build_pdf([page])


def lab_pdf() -> bytes:
    page = furnish(Page(), 1, 1)
    top = _heading(page, 80, "Renal and Full Blood Count")
    rows = [
        LAB_HEADER,
        ["Sodium", "134", "L", "mmol/L", "135-145"],
        ["Potassium", "4.1", "", "mmol/L", "3.5-5.0"],
        ["Haemoglobin", "10.2", "L", "g/dL", "13.0-17.0"],
        ["Platelets", "512", "H", "x10^9/L", "150-400"],
        ["Creatinine", "131", "", "umol/L", "60-110"],
    ]
    top = table_rows(page, LAB_X, top, rows) + 12
    top = _heading(page, top, "Comment")
    page.lines(54, top, ["Anaemia with a raised platelet count; renal function is reduced."])
    return build_pdf([page])


def referral_pdf() -> bytes:
    page = Page()
    page.lines(
        54,
        60,
        ["Dr Helen Marsh", "Consultant Cardiologist", "Riverside Heart Centre", "12 Mill Lane"],
    )
    top = page.lines(54, 150, ["Dear Dr Marsh,"]) + 6
    top = page.lines(
        54,
        top,
        [
            "Thank you for seeing Mr Omar Said, who has had exertional chest pain for two months.",
            "His resting ECG showed lateral T wave inversion.",
        ],
    )
    top = _heading(page, top + 8, "Diagnosis")
    page.lines(54, top, ["1. Suspected stable angina"])
    return build_pdf([page])
