"""Reading quality on ../shared/data/clinical: table cells, furniture, OCR character error rate.

Run from the repository root:

    python bench/reading_quality.py                  # tables + furniture + CER (a few minutes)
    python bench/reading_quality.py --no-ocr         # born-digital figures only
    python bench/reading_quality.py --json out.json

Ground truth, and what each figure counts:

Table cells. Every `lab_value` question of questions.jsonl has its gold analyte (`printed_name`),
`value`, `unit`, `flag` and `page`. On that page of the reading, the analyte's row is the
table row whose first cell is the printed name (or the `key_value` block whose key is). The
row is right when its value, unit and flag are each a cell of their own, in the column whose
header names it ("Result"/"Value", "Unit(s)", "Flag"; a table without a header row is
checked by cells alone), and no other cell holds a flag the gold does not have. A `key_value`
line is right when its value reads `value unit ... flag` in that order. A gold analyte printed
only in prose (a discharge summary's hospital course) is not a table cell and is counted apart.

Furniture. Ground truth by geometry, independent of the furniture code: every text line whose
box lies in the top or bottom 7% of a born-digital page (the running header and footer band
of every document of this set: clinic name, banner line, "Page n of m", printed date). A leak
is a content block (anything but furniture) whose text contains such a line.

OCR character error rate. The scanned documents have no text layer, so no exact twin exists.
Two honest stand-ins: (a) born-digital pages of this set rendered at 150 dpi, tilted 0.6
degrees, blurred and given speckle noise (like the scans), read by OCR and compared with the
same pages' text-layer reading: CER = Levenshtein distance / reference length, over the page
text with whitespace runs made one space; (b) on the real scans, every gold `section` text of
questions.jsonl (the printed section, by the data set's authors) is aligned to the OCR text of
its page (the best-matching substring) and the edit distance is counted the same way.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
from PIL import Image, ImageFilter

from docquery.domain.reading import Block, BlockKind, PageReading
from docquery.pipeline.reading import read_document
from docquery.pipeline.reading.lines import build_lines
from docquery.pipeline.reading.ocr import despeckle, read_image
from docquery.pipeline.reading.text_layer import page_content

REPO = Path(__file__).resolve().parents[1]
CLINICAL = REPO.parent / "shared" / "data" / "clinical"
EDGE = 0.07
_SPACE = re.compile(r"\s+")


def norm(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def load_jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (CLINICAL / name).read_text().splitlines() if line]


# ---- table cells -----------------------------------------------------------------------------

_HEADERS = {"value": ("result", "value"), "unit": ("unit",), "flag": ("flag",)}


def _header_ok(header: str, field: str) -> bool:
    return not header or any(word in norm(header) for word in _HEADERS[field])


def row_verdict(blocks: tuple[Block, ...], gold: dict[str, Any]) -> str:
    """'right', 'wrong' or 'absent' (the analyte is in no table row or label line)."""
    name = norm(gold["printed_name"])
    verdict = "absent"
    for block in blocks:
        if block.kind is BlockKind.TABLE and block.table is not None:
            for row in block.table.body:
                if row.cells and norm(row.cells[0].text) == name:
                    if _row_right(row.cells, gold):
                        return "right"
                    verdict = "wrong"
        elif block.kind is BlockKind.KEY_VALUE and norm(block.key) == name:
            if _value_right(block.value, gold):
                return "right"
            verdict = "wrong"
    return verdict


def _row_right(cells: Any, gold: dict[str, Any]) -> bool:
    def has(text: str, field: str) -> bool:
        return any(norm(c.text) == norm(text) and _header_ok(c.header, field) for c in cells[1:])

    if not has(gold["value"], "value"):
        return False
    if gold["unit"] and not has(gold["unit"], "unit"):
        return False
    flags = [c for c in cells[1:] if norm(c.text) in ("h", "l", "hh", "ll", "high", "low")]
    if gold["flag"]:
        return has(gold["flag"], "flag")
    return not flags


def _value_right(value: str, gold: dict[str, Any]) -> bool:
    tokens = norm(value).split()
    want = [norm(gold["value"])] + ([norm(gold["unit"])] if gold["unit"] else [])
    text = " ".join(tokens)
    if not text.startswith(" ".join(want)):
        return False
    return (tokens[-1] == norm(gold["flag"])) if gold["flag"] else tokens[-1] not in ("h", "l")


def table_cells(readings: dict[str, list[PageReading]], docs: dict[str, Any]) -> dict[str, Any]:
    counts: dict[str, dict[str, int]] = {}
    misses: list[str] = []
    for q in load_jsonl("questions.jsonl"):
        if q["kind"] != "lab_value" or q["file"] not in readings:
            continue
        gold = q["gold"]
        page = readings[q["file"]][gold["page"] - 1]
        verdict = row_verdict(page.blocks, gold)
        group = ("scanned " if docs[q["file"]]["scanned"] else "") + docs[q["file"]]["type"]
        counts.setdefault(group, {"right": 0, "wrong": 0, "absent": 0})[verdict] += 1
        if verdict != "right":
            misses.append(f"{q['file']} p{gold['page']} {gold['printed_name']}: {verdict}")
    return {"counts": counts, "misses": misses}


# ---- furniture ------------------------------------------------------------------------------


def furniture_leaks(paths: list[Path], readings: dict[str, list[PageReading]]) -> dict[str, Any]:
    lines_checked = 0
    leaks: list[str] = []
    for path in paths:
        key = f"pdfs/{path.name}"
        pdf = pdfium.PdfDocument(str(path))
        try:
            for index in range(len(pdf)):
                content = page_content(pdf[index])
                edge = [
                    norm(line.text)
                    for line in build_lines(content.words)
                    if line.bottom <= EDGE * content.height
                    or line.top >= (1 - EDGE) * content.height
                ]
                lines_checked += len(edge)
                for block in readings[key][index].blocks:
                    if block.is_content and any(e and e in norm(block.text) for e in edge):
                        leaks.append(f"{key} p{index + 1}: {block.kind.value}")
        finally:
            pdf.close()
    return {"edge_lines": lines_checked, "leaks": len(leaks), "where": leaks}


# ---- OCR character error rate ---------------------------------------------------------------


def levenshtein(a: str, b: str, *, free_ends: bool = False) -> int:
    """Edit distance; with free_ends, of `a` against the best-matching substring of `b`."""
    previous = [0] * (len(b) + 1) if free_ends else list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return min(previous) if free_ends else previous[-1]


def degrade(image: Image.Image, rng: random.Random) -> Image.Image:
    """A scanner's look: a small tilt, blur and speckle."""
    tilted = image.rotate(rng.uniform(-0.8, 0.8), resample=Image.BICUBIC, fillcolor=255)
    blurred = tilted.filter(ImageFilter.GaussianBlur(0.7))
    pixels = blurred.load()
    width, height = blurred.size
    for _ in range(width * height // 400):
        pixels[rng.randrange(width), rng.randrange(height)] = rng.choice((0, 90, 200))
    return blurred


def synthetic_cer(paths: list[Path], pages: int, dpi: int) -> dict[str, Any]:
    rng = random.Random(11)
    rates: list[float] = []
    seconds = 0.0
    chosen = paths[:: max(1, len(paths) // pages)][:pages]
    for path in chosen:
        pdf = pdfium.PdfDocument(str(path))
        try:
            page = pdf[0]
            # The text layer's own words are the reference (not the reading's table text).
            reference = " ".join(w.text for w in page_content(page).words)
            width, height = page.get_size()
            image = page.render(scale=150 / 72, grayscale=True).to_pil()
        finally:
            pdf.close()
        image = degrade(image, rng).resize(
            (round(width * dpi / 72), round(height * dpi / 72)), Image.BICUBIC
        )
        started = time.perf_counter()
        result = read_image(despeckle(image), width, height, dpi / 72, 60)
        seconds += time.perf_counter() - started
        hypothesis = " ".join(w.text for w in result.content.words)
        ref = " ".join(norm(reference).split())
        hyp_lines = " ".join(norm(hypothesis).split())
        rates.append(_bag_cer(ref, hyp_lines))
        print(f"  CER {path.name}: {rates[-1]:.2%}", file=sys.stderr)
    return {
        "pages": len(rates),
        "cer_mean": statistics.fmean(rates) if rates else None,
        "cer_max": max(rates) if rates else None,
        "ocr_seconds_per_page": seconds / len(rates) if rates else None,
    }


def _bag_cer(reference: str, hypothesis: str) -> float:
    # Word order between two readings of one page can differ where a line breaks; compare the
    # words sorted so a moved word costs nothing, a misread character costs one.
    ref = " ".join(sorted(reference.split()))
    hyp = " ".join(sorted(hypothesis.split()))
    return levenshtein(ref, hyp) / max(1, len(ref))


def scanned_section_cer(readings: dict[str, list[PageReading]]) -> dict[str, Any]:
    errors = total = 0
    for q in load_jsonl("questions.jsonl"):
        if q["kind"] != "section" or q["file"] not in readings:
            continue
        gold = q["gold"]
        if len(gold.get("pages", [gold["page"]])) != 1:
            continue
        text = norm(gold["text"])
        page_text = norm(readings[q["file"]][gold["page"] - 1].text)
        errors += levenshtein(text, page_text, free_ends=True)
        total += len(text)
    return {"gold_chars": total, "cer": errors / total if total else None}


# ---- run ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-ocr", action="store_true", help="skip the scanned documents and CER")
    parser.add_argument("--cer-pages", type=int, default=12, help="synthetic scans for CER (a)")
    parser.add_argument("--dpi", type=int, default=200, help="OCR resolution")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    docs = {d["file"]: d for d in load_jsonl("documents.jsonl")}
    readings: dict[str, list[PageReading]] = {}
    started = time.perf_counter()
    for key, doc in docs.items():
        if doc["scanned"] and args.no_ocr:
            continue
        readings[key] = read_document(CLINICAL / key)
    print(
        f"read {len(readings)} documents in {time.perf_counter() - started:.1f} s", file=sys.stderr
    )
    born = [CLINICAL / k for k, d in docs.items() if not d["scanned"]]
    report: dict[str, Any] = {
        "table_cells": table_cells(readings, docs),
        "furniture": furniture_leaks(born, readings),
    }
    if not args.no_ocr:
        scanned = {k: v for k, v in readings.items() if docs[k]["scanned"]}
        report["cer_synthetic"] = synthetic_cer(born, args.cer_pages, args.dpi)
        report["cer_scanned_sections"] = scanned_section_cer(scanned)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def print_report(report: dict[str, Any]) -> None:
    print(
        "| Table cells (gold lab values) | right | wrong row/columns | in no table or label line |"
    )
    print("|---|---:|---:|---:|")
    for group, c in sorted(report["table_cells"]["counts"].items()):
        print(f"| {group} | {c['right']} | {c['wrong']} | {c['absent']} |")
    tables = [c for g, c in report["table_cells"]["counts"].items() if g.endswith("lab_report")]
    right = sum(c["right"] for c in tables)
    found = sum(c["right"] + c["wrong"] for c in tables)
    every = sum(c["right"] + c["wrong"] + c["absent"] for c in tables)
    if every:
        print(
            f"\nlab reports: {right}/{every} = {right / every:.1%} right (target >= 95%); "
            f"{right}/{found} of the rows found"
        )
    f = report["furniture"]
    print(
        f"furniture: {f['leaks']} content blocks hold one of {f['edge_lines']} header/footer "
        "lines (target 0)"
    )
    if "cer_synthetic" in report:
        s = report["cer_synthetic"]
        print(
            f"OCR CER, synthetic scans of born-digital pages: mean {s['cer_mean']:.2%}, "
            f"max {s['cer_max']:.2%} over {s['pages']} pages; "
            f"{s['ocr_seconds_per_page']:.2f} s/page OCR (target CER <= 2%)"
        )
        g = report["cer_scanned_sections"]
        print(
            f"OCR CER, real scans against gold section texts: {g['cer']:.2%} "
            f"over {g['gold_chars']} characters"
        )


if __name__ == "__main__":
    sys.exit(main())
