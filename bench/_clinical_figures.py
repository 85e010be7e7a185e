"""Per-question checks and the figures of ../shared/data/clinical/README.md, from sums of counts.

An answer is scored into counts (numerators and denominators); counts are summed per group
(all, born_digital, scanned) and every figure is a ratio of sums, as the README defines it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from _clinical_scoring import (
    f1,
    leaks,
    named_keys,
    occurs,
    quote_in_section,
    ratio,
    section_tokens,
    tokens,
    value_occurs,
)

GROUPS = ("all", "born_digital", "scanned")


@dataclass
class Reply:
    """One POST /v1/query answer; status other than 200 is an error that found nothing."""

    status: int
    answer: str = ""
    grounded: bool | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)  # + "file" of its document

    @property
    def ok(self) -> bool:
        return self.status == 200


def _on_gold_page(citation: Mapping[str, Any], gold: Mapping[str, Any]) -> bool:
    return {"file": citation.get("file"), "page": citation.get("page")} in gold["locations"]


def isolated(reply: Reply, gold: Mapping[str, Any]) -> bool:
    """At least one citation, and every citation in one of the patient's files."""
    files = set(gold["patient_files"])
    return bool(reply.citations) and all(c.get("file") in files for c in reply.citations)


def _meds(gold: Mapping[str, Any]) -> dict[str, list[str]]:
    return {m["name"]: m["names"] for m in [*gold.get("active", []), *gold.get("stopped", [])]}


def _lab_value(reply: Reply, gold: Mapping[str, Any]) -> Counter[str]:
    right = (
        value_occurs(gold["value"], reply.answer)
        and any(occurs(name, reply.answer) for name in gold["names"])
        and any(_on_gold_page(c, gold) for c in reply.citations)
    )
    return Counter(lab_ok=int(right), lab_n=1)


def _abnormal(reply: Reply, gold: Mapping[str, Any]) -> Counter[str]:
    named = named_keys(gold["analytes"], reply.answer)
    flagged = {f["analyte"] for f in gold["flagged"]}
    return Counter(
        ab_tp=len(named & flagged), ab_fp=len(named - flagged), ab_fn=len(flagged - named)
    )


def _active(reply: Reply, gold: Mapping[str, Any], said: Reply | None = None) -> Counter[str]:
    """Active medicines named in reply; stopped ones leaking from what was said (reply if None)."""
    named = named_keys(_meds(gold), reply.answer)
    active = {m["name"] for m in gold["active"]}
    counts = Counter(act_named=len(named & active), act_all=len(active))
    said = said or reply
    if said.ok:  # errors are left out of the leak share
        leaked = any(leaks(m["names"], said.answer) for m in gold["stopped"])
        counts.update(act_leak=int(leaked), act_answers=1)
    return counts


def _stopped(reply: Reply, gold: Mapping[str, Any]) -> Counter[str]:
    named = named_keys(_meds(gold), reply.answer)
    stopped = {m["name"] for m in gold["stopped"]}
    return Counter(
        stop_named=len(named & stopped), stop_all=len(stopped), stop_any_named=len(named)
    )


def _diagnoses(reply: Reply, gold: Mapping[str, Any]) -> Counter[str]:
    found = sum(any(occurs(n, reply.answer) for n in d["names"]) for d in gold["diagnoses"])
    return Counter(dx_found=found, dx_all=len(gold["diagnoses"]))


def _follow_up(reply: Reply, gold: Mapping[str, Any]) -> Counter[str]:
    found = sum(
        any(occurs(s, reply.answer) for s in a["service"]) and occurs(a["when"], reply.answer)
        for a in gold["appointments"]
    )
    return Counter(fu_found=found, fu_all=len(gold["appointments"]))


def _section(reply: Reply, gold: Mapping[str, Any], file: str) -> Counter[str]:
    known = set(tokens(" ".join((gold["header"], gold["printed_header"], gold["text"]))))
    hit = any(
        c.get("file") == file and quote_in_section(str(c.get("quote", "")), known)
        for c in reply.citations
    )
    wanted = section_tokens(gold["text"])
    said = set(tokens(reply.answer))
    share = ratio(sum(t in said for t in wanted), len(wanted)) or 0.0
    return Counter({"sec_hit": int(hit), "sec_recall": share, "sec_n": 1})


def _off_topic(reply: Reply, _gold: Mapping[str, Any]) -> Counter[str]:
    return Counter(ot_ok=int(reply.ok and reply.grounded is False), ot_n=1)


_KINDS: dict[str, Callable[[Reply, Mapping[str, Any]], Counter[str]]] = {
    "lab_value": _lab_value,
    "abnormal_labs": _abnormal,
    "active_meds": _active,
    "stopped_meds": _stopped,
    "diagnoses": _diagnoses,
    "follow_up": _follow_up,
    "off_topic": _off_topic,
}


def score_question(question: Mapping[str, Any], reply: Reply) -> Counter[str]:
    """The counts one answer adds to the figures (README "How answers are scored")."""
    gold, kind = question["gold"], question["kind"]
    counts: Counter[str] = Counter()
    if "locations" in gold:
        on_gold = sum(_on_gold_page(c, gold) for c in reply.citations)
        counts.update(cit_gold=on_gold, cit_all=len(reply.citations))
    scored = reply
    if question["scope"] == "library" and kind != "off_topic":
        alone = isolated(reply, gold)
        counts.update(iso_ok=int(alone), iso_n=1)
        if not alone:  # its medicines, diagnoses, appointments, lab value: not found
            scored = Reply(status=reply.status)
    if kind == "section":
        counts.update(_section(scored, gold, question["file"]))
    elif kind == "active_meds":  # a leak is a leak whoever's document it came from
        counts.update(_active(scored, gold, said=reply))
    else:
        counts.update(_KINDS[kind](scored, gold))
    return counts


def score_summary(entry: Mapping[str, Any], statements: list[str] | None) -> Counter[str]:
    """Facts found in one document's summary statements, and whether a stopped medicine leaks."""
    facts = entry["must_contain"]
    counts = Counter(sum_facts=len(facts), sum_docs=1)
    if statements is None:
        return counts
    found = 0
    for fact in facts:
        if fact["type"] == "abnormal_result":
            found += any(
                value_occurs(fact["value"], s) and any(occurs(n, s) for n in fact["names"])
                for s in statements
            )
        else:
            found += any(occurs(n, s) for n in fact["names"] for s in statements)
    leaked = any(
        leaks(m["names"], s) for m in entry["must_not_contain_as_active"] for s in statements
    )
    counts.update(sum_found=found, sum_leak_docs=int(leaked))
    return counts


@dataclass(frozen=True)
class Figure:
    name: str
    numerator: Callable[[Counter[str]], float]
    denominator: Callable[[Counter[str]], float]
    target: str = ""
    meets: Callable[[float], bool] | None = None


def _key(name: str) -> Callable[[Counter[str]], float]:
    return lambda counts: counts[name]


def _f1_of(counts: Counter[str]) -> float:
    precision = ratio(counts["ab_tp"], counts["ab_tp"] + counts["ab_fp"])
    recall = ratio(counts["ab_tp"], counts["ab_tp"] + counts["ab_fn"])
    return f1(precision, recall) or 0.0


def _one(_counts: Counter[str]) -> float:
    return 1.0


def _at_least(bound: float) -> Callable[[float], bool]:
    return lambda value: value >= bound


def _zero(value: float) -> bool:
    return value == 0


def _ab_named(counts: Counter[str]) -> float:
    return counts["ab_tp"] + counts["ab_fp"]


def _ab_flagged(counts: Counter[str]) -> float:
    return counts["ab_tp"] + counts["ab_fn"]


FIGURES = (
    Figure("lab_value accuracy", _key("lab_ok"), _key("lab_n"), ">= 0.90", _at_least(0.90)),
    Figure("abnormal_labs precision", _key("ab_tp"), _ab_named),
    Figure("abnormal_labs recall", _key("ab_tp"), _ab_flagged),
    Figure("abnormal_labs F1", _f1_of, _one, ">= 0.85", _at_least(0.85)),
    Figure("active_meds recall", _key("act_named"), _key("act_all"), ">= 0.90", _at_least(0.90)),
    Figure("active_meds stopped_leak", _key("act_leak"), _key("act_answers"), "0", _zero),
    Figure("stopped_meds recall", _key("stop_named"), _key("stop_all")),
    Figure("stopped_meds precision", _key("stop_named"), _key("stop_any_named")),
    Figure("diagnoses recall", _key("dx_found"), _key("dx_all")),
    Figure("follow_up recall", _key("fu_found"), _key("fu_all")),
    Figure("section hit", _key("sec_hit"), _key("sec_n"), ">= 0.80", _at_least(0.80)),
    Figure("section recall", _key("sec_recall"), _key("sec_n")),
    Figure("off_topic correct", _key("ot_ok"), _key("ot_n"), ">= 0.95", _at_least(0.95)),
    Figure("library isolation", _key("iso_ok"), _key("iso_n")),
    Figure("citation page accuracy", _key("cit_gold"), _key("cit_all")),
    Figure("summary recall", _key("sum_found"), _key("sum_facts"), ">= 0.85", _at_least(0.85)),
    Figure("summary leak documents", _key("sum_leak_docs"), _one, "0", _zero),
    Figure("documents ready", _key("ready"), _key("docs")),
)
# Counted, not shared out: the figure is the count itself.
COUNTS = frozenset({"summary leak documents"})


def figure_value(figure: Figure, counts: Counter[str]) -> float | None:
    """The figure over these counts; None where it has no denominator (nothing to score)."""
    if figure.name == "abnormal_labs F1" and not _ab_named(counts) + _ab_flagged(counts):
        return None
    if figure.name in COUNTS and not counts["sum_docs"]:
        return None
    return ratio(figure.numerator(counts), figure.denominator(counts))
