"""Summaries as structured output: the Converse API's tool use with one tool, `record_summary`.

The model is made to call the tool (`toolChoice`); its `input` is validated here and rendered
into summary statements, each citing pages that were sent. A stopped or held medicine is
rendered with its status beside its name ("Aspirin 75 mg: STOPPED"), so it never reads as taken.
"""

from __future__ import annotations

import json
from typing import Any

from docquery.text.prompts_summary import Sections, parse_summary

TOOL_NAME = "record_summary"
STATUSES = ("new", "changed", "continued", "stopped", "held")

_PAGES = {
    "type": "array",
    "items": {"type": "integer"},
    "minItems": 1,
    "description": "The page numbers this statement comes from.",
}


def _items(properties: dict[str, Any], required: list[str], description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "description": description,
        "items": {
            "type": "object",
            "properties": {**properties, "pages": _PAGES},
            "required": [*required, "pages"],
        },
    }


_TEXT = {"text": {"type": "string"}}
SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "document": {
            "type": "object",
            "description": "What the document is, and whose: as printed in it.",
            "properties": {
                "title": {"type": "string"},
                "patient": {"type": "string", "description": "The patient's name, if printed."},
                "pages": _PAGES,
            },
            "required": ["title", "pages"],
        },
        "overview": _items(_TEXT, ["text"], "The document's key points, in short prose."),
        "diagnoses": _items(_TEXT, ["text"], "Every diagnosis, impression or assessment."),
        "medications": _items(
            {
                "name": {"type": "string"},
                "dose": {"type": "string"},
                "status": {"type": "string", "enum": list(STATUSES)},
                "details": {"type": "string", "description": "Route, frequency, reason."},
            },
            ["name", "status"],
            "Every medication listed, with its status; stopped and held ones included as such.",
        ),
        "abnormal_results": _items(
            {
                "analyte": {"type": "string"},
                "value": {"type": "string", "description": "Exactly as printed."},
                "unit": {"type": "string"},
                "reference_range": {"type": "string"},
                "flag": {"type": "string"},
            },
            ["analyte", "value"],
            "Every abnormal result: flagged, or outside its printed range.",
        ),
        "findings": _items(_TEXT, ["text"], "Other key examination or imaging findings."),
        "follow_up": _items(
            {"text": {"type": "string"}, "when": {"type": "string"}},
            ["text"],
            "Follow-up appointments, actions and pending results, with their dates.",
        ),
    },
    "required": ["overview", "diagnoses", "medications", "abnormal_results", "follow_up"],
}


def tool_config() -> dict[str, Any]:
    """The Converse `toolConfig`: the one summary tool, which the model must call."""
    return {
        "tools": [
            {
                "toolSpec": {
                    "name": TOOL_NAME,
                    "description": "Record the clinical summary of the document.",
                    "inputSchema": {"json": SUMMARY_SCHEMA},
                }
            }
        ],
        "toolChoice": {"tool": {"name": TOOL_NAME}},
    }


def tool_input(response: dict[str, Any]) -> dict[str, Any] | None:
    """The input of the response's `record_summary` call, if it made one."""
    content = response.get("output", {}).get("message", {}).get("content", [])
    for block in content:
        use = block.get("toolUse") if isinstance(block, dict) else None
        if isinstance(use, dict) and use.get("name") == TOOL_NAME:
            data = use.get("input")
            return data if isinstance(data, dict) else None
    return None


def parse_tool_summary(data: dict[str, Any], valid_pages: frozenset[int]) -> Sections | None:
    """The sections of a tool call's input, validated as a text summary is; None if malformed."""
    if not isinstance(data.get("overview", []), list):
        return None
    sections = {
        "overview": _document(data.get("document")) + _texts(data.get("overview")),
        "findings": _each(data.get("abnormal_results"), _result) + _texts(data.get("findings")),
        "diagnoses": _texts(data.get("diagnoses")),
        "medications": _ranked_medications(data.get("medications")),
        "follow_up": _each(data.get("follow_up"), _follow_up),
    }
    return parse_summary(json.dumps({"sections": sections}), valid_pages)


def _document(item: Any) -> list[dict[str, Any]]:
    if not isinstance(item, dict) or not _string(item.get("title")):
        return []
    text = _string(item.get("title"))
    if patient := _string(item.get("patient")):
        text += f", patient {patient}"
    return [{"text": text + ".", "pages": item.get("pages")}]


def _texts(items: Any) -> list[dict[str, Any]]:
    return _each(items, lambda item: _string(item.get("text")))


def _each(items: Any, render: Any) -> list[dict[str, Any]]:
    """Each well-formed item as {text, pages}; pages are checked by parse_summary."""
    if not isinstance(items, list):
        return []
    out = []
    for item in items:
        if isinstance(item, dict) and (text := render(item)):
            out.append({"text": text, "pages": item.get("pages")})
    return out


def _ranked_medications(items: Any) -> list[dict[str, Any]]:
    rendered = _each(items, _medication)
    # Changes first: new, changed, stopped, held, then continued.
    order = {status.upper(): rank for rank, status in enumerate(("new", "changed", "stopped"))}
    return sorted(rendered, key=lambda item: _status_rank(item["text"], order))


def _status_rank(text: str, order: dict[str, int]) -> int:
    for status, rank in order.items():
        if f": {status}" in text:
            return rank
    return len(order) + (0 if ": HELD" in text else 1)


def _medication(item: dict[str, Any]) -> str:
    name, status = _string(item.get("name")), _string(item.get("status")).casefold()
    if not name or status not in STATUSES:
        return ""
    head = " ".join(part for part in (name, _string(item.get("dose"))) if part)
    text = f"{head}: {status.upper()}"
    if details := _string(item.get("details")):
        text += f", {details}"
    return text


def _result(item: dict[str, Any]) -> str:
    analyte, value = _string(item.get("analyte")), _string(item.get("value"))
    if not analyte or not value:
        return ""
    parts = [analyte, value, _string(item.get("unit"))]
    if ranged := _string(item.get("reference_range")):
        parts.append(f"(ref {ranged})")
    parts.append(_string(item.get("flag")))
    return " ".join(part for part in parts if part)


def _follow_up(item: dict[str, Any]) -> str:
    text, when = _string(item.get("text")), _string(item.get("when"))
    return f"{text} ({when})" if text and when and when not in text else text


def _string(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""
