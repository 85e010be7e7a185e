"""Medication status words: what a medication line says about whether it is taken now."""

from __future__ import annotations

import pytest

from docquery.text.medications import Status, is_current, is_status_header, medication_status


@pytest.mark.parametrize(
    ("line", "status"),
    [
        ("Aspirin 75 mg once daily STOPPED", Status.STOPPED),
        ("Ibuprofen - discontinued (AKI)", Status.STOPPED),
        ("Metformin: no longer required", Status.STOPPED),
        ("Do not take naproxen", Status.STOPPED),
        ("Ramipril withheld until review", Status.HELD),
        ("Warfarin on hold", Status.HELD),
        ("Apixaban 5 mg twice daily NEW", Status.NEW),
        ("Bisoprolol dose increased to 5 mg", Status.CHANGED),
        ("Atorvastatin 40 mg at night unchanged", Status.CONTINUED),
        ("Furosemide CONTINUED", Status.CONTINUED),
        ("Continue aspirin until Friday, then stop", Status.STOPPED),
        ("Paracetamol 1 g four times daily", None),
    ],
)
def test_status_of_a_line(line: str, status: Status | None) -> None:
    assert medication_status(line) is status


def test_stopped_and_held_are_not_current() -> None:
    assert not is_current(Status.STOPPED)
    assert not is_current(Status.HELD)
    assert is_current(Status.NEW)
    assert is_current(None)


def test_status_column_headers() -> None:
    assert is_status_header("Status")
    assert not is_status_header("Dose")
