"""Clinical answers and summaries: the figures of ../shared/data/clinical/README.md, by the API.

Run from the repository root (OCR of the 11 scans and ~350 questions: several minutes):

    python bench/clinical_qa.py                          # everything, a fresh data dir
    python bench/clinical_qa.py --only lab_value --limit 20 --show-failures 5
    python bench/clinical_qa.py --reuse-data /tmp/cq --json out.json

`docquery serve` runs on the embedded profile's defaults (local answerer and summariser) with a
fresh data dir, on a free 127.0.0.1 port. The 74 PDFs are uploaded through POST /v1/documents
(file name as uploaded, no title: as a user would), and the bench waits until every document
is ready or failed and every summary is no longer pending. Each question is then sent, one at
a time, as POST /v1/query with the default top_k (`document_ids` = [its document] for the
`document` scope, none for `library`), and GET /v1/documents/{id}/summary is read for the
documents of summaries.jsonl. The figures are computed exactly as the README's "How answers are
scored" defines them (bench/_clinical_scoring.py, bench/_clinical_figures.py), overall and
for born-digital and scanned documents apart, beside the targets of issue 12. Latency is
the wall time of each POST /v1/query seen by the client, over the question run.

--reuse-data DIR keeps the data dir in DIR: a second run finds the documents already there
(the upload answers 200) and skips their reading; delete DIR after changing reading or
summaries. With PYTHONPATH set, the server imports docquery from there (e.g. an exported
commit's src/, for a baseline while the working tree changes). Nothing of a document,
question or answer is printed unless --show-failures N.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from _clinical_figures import (
    COUNTS,
    FIGURES,
    GROUPS,
    Reply,
    figure_value,
    score_question,
    score_summary,
)
from _search_corpus import Service, percentile, scratch_dir
from upload import BIN_DIR, HOST, BenchError, base_env, free_port, spawn, tail, wait_until_up

CLINICAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "clinical"
SETTLED = {"ready", "failed", "disabled"}


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def start(stack: contextlib.ExitStack, workdir: Path, data_dir: Path) -> Service:
    """`docquery serve`, embedded profile defaults but the data dir; stopped with stack."""
    port = free_port()
    env = base_env(workdir) | {
        "DOCQUERY_PROFILE": "embedded",
        "DOCQUERY_DATA_DIR": str(data_dir),
        "DOCQUERY_AUTH": "none",
    }
    if "PYTHONPATH" in os.environ:  # lets a run serve another checkout's src (a baseline)
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    cmd = [str(BIN_DIR / "docquery"), "serve", "--host", HOST, "--port", str(port)]
    proc, log = spawn(stack, "server", cmd, env, workdir)
    url = f"http://{HOST}:{port}"
    wait_until_up(proc, f"{url}/healthz", log)
    return Service(url=url, pid=proc.pid, log=log, data_dir=data_dir)


def upload_all(client: httpx.Client, service: Service, files: list[str]) -> dict[str, str]:
    """Upload every PDF (200 for one already there); file -> document id."""
    ids = {}
    for file in files:
        path = CLINICAL / file
        with path.open("rb") as handle:
            response = client.post(
                f"{service.url}/v1/documents",
                files={"file": (path.name, handle, "application/pdf")},
            )
        if response.status_code not in (200, 201):
            raise BenchError(f"upload of {file} answered {response.status_code}")
        ids[file] = response.json()["id"]
    return ids


def settled(document: dict[str, Any]) -> bool:
    if document["status"] == "failed":
        return True
    return document["status"] == "ready" and document["summary_status"] in SETTLED


def wait_settled(
    client: httpx.Client, service: Service, ids: dict[str, str], timeout: float
) -> dict[str, dict[str, Any]]:
    """Poll until every document is failed, or ready with its summary settled; file -> document."""
    deadline = time.monotonic() + timeout
    last_note = 0.0
    while True:
        documents = {
            f: client.get(f"{service.url}/v1/documents/{i}").json() for f, i in ids.items()
        }
        waiting = [f for f, d in documents.items() if not settled(d)]
        if not waiting:
            return documents
        if time.monotonic() > deadline:
            raise BenchError(f"{len(waiting)} documents not settled in time:\n{tail(service.log)}")
        if time.monotonic() - last_note > 30:
            print(f"waiting for {len(waiting)} of {len(ids)} documents ...", flush=True)
            last_note = time.monotonic()
        time.sleep(1.0)


def ask(
    client: httpx.Client, service: Service, question: dict[str, Any], ids: dict[str, str]
) -> tuple[Reply, float]:
    """POST /v1/query as the README says; the reply (citations with their file) and seconds."""
    body: dict[str, Any] = {"question": question["question"]}
    if question["scope"] == "document":
        body["document_ids"] = [ids[question["file"]]]
    started = time.perf_counter()
    response = client.post(f"{service.url}/v1/query", json=body)
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        return Reply(status=response.status_code), seconds
    data = response.json()
    files = {i: f for f, i in ids.items()}
    citations = [c | {"file": files.get(c["document_id"])} for c in data["citations"]]
    return Reply(200, data["answer"], data["grounded"], citations), seconds


def summary_statements(
    client: httpx.Client, service: Service, doc_id: str, document: dict[str, Any]
) -> list[str] | None:
    """Every statement of the summary, or None when the document or its summary is not ready."""
    if document["status"] != "ready" or document["summary_status"] != "ready":
        return None
    response = client.get(f"{service.url}/v1/documents/{doc_id}/summary")
    if response.status_code != 200:
        return None
    return [s["text"] for section in response.json()["sections"] for s in section["statements"]]


def groups_of(file: str | None, scanned: dict[str, bool]) -> list[str]:
    if file is None:
        return ["all"]
    return ["all", "scanned" if scanned[file] else "born_digital"]


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Upload, wait, ask, read summaries; the counts per group and the per-question records."""
    documents = load_jsonl(CLINICAL / "documents.jsonl")
    scanned = {d["file"]: bool(d["scanned"]) for d in documents}
    questions = load_jsonl(CLINICAL / "questions.jsonl")
    if args.only:  # "summaries" matches no question: summaries only
        questions = [q for q in questions if q["kind"] == args.only]
    questions = questions[: args.limit] if args.limit else questions
    sums = {group: Counter[str]() for group in GROUPS}
    records: list[dict[str, Any]] = []
    latencies: list[float] = []
    data_dir = args.reuse_data or workdir / "data"
    with contextlib.ExitStack() as stack, httpx.Client(timeout=300) as client:
        service = start(stack, workdir, data_dir)
        print(f"uploading {len(documents)} PDFs ...", flush=True)
        ids = upload_all(client, service, [d["file"] for d in documents])
        states = wait_settled(client, service, ids, args.ready_timeout)
        for file, state in states.items():
            for group in groups_of(file, scanned):
                sums[group].update(ready=int(state["status"] == "ready"), docs=1)
        print(f"asking {len(questions)} questions ...", flush=True)
        for question in questions:
            reply, seconds = ask(client, service, question, ids)
            latencies.append(seconds)
            counts = score_question(question, reply)
            for group in groups_of(question["file"], scanned):
                sums[group].update(counts)
            records.append(record(question, reply, seconds, counts))
        summaries = []
        if args.only in (None, "summaries"):
            for entry in load_jsonl(CLINICAL / "summaries.jsonl"):
                file = entry["file"]
                statements = summary_statements(client, service, ids[file], states[file])
                counts = score_summary(entry, statements)
                for group in groups_of(file, scanned):
                    sums[group].update(counts)
                summaries.append({"file": file, "statements": statements, "counts": counts})
    return {"sums": sums, "questions": records, "summaries": summaries, "latencies": latencies}


def record(
    question: dict[str, Any], reply: Reply, seconds: float, counts: Counter[str]
) -> dict[str, Any]:
    return {
        "id": question["id"],
        "kind": question["kind"],
        "scope": question["scope"],
        "file": question["file"],
        "question": question["question"],
        "status": reply.status,
        "answer": reply.answer,
        "grounded": reply.grounded,
        "citations": reply.citations,
        "checks": dict(counts),
        "seconds": round(seconds, 4),
    }


def failed(item: dict[str, Any]) -> bool:
    """A question that lost something: any check whose numerator is short of its denominator."""
    checks = item["checks"]
    pairs = [
        ("lab_ok", "lab_n"), ("act_named", "act_all"), ("stop_named", "stop_all"),
        ("dx_found", "dx_all"), ("fu_found", "fu_all"), ("sec_hit", "sec_n"),
        ("ot_ok", "ot_n"), ("iso_ok", "iso_n"),
    ]  # fmt: skip
    wrong = checks.get("ab_fp", 0) + checks.get("ab_fn", 0) + checks.get("act_leak", 0)
    return bool(wrong) or any(checks.get(a, 0) < checks.get(b, 0) for a, b in pairs)


def cell(value: float | None, counts: Counter[str], name: str) -> str:
    if value is None:
        return "-"
    if name in COUNTS:
        return f"{value:.0f}"
    figure = next(f for f in FIGURES if f.name == name)
    if name == "abnormal_labs F1":
        return f"{value:.3f}"
    numerator = round(figure.numerator(counts), 1)  # section recall sums shares
    return f"{value:.3f} ({numerator:g}/{figure.denominator(counts):g})"


def print_table(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures beside their targets; the rows, for --json."""
    rows = []
    print()
    print("| figure | overall | born-digital | scanned | target | met |")
    print("|---|---:|---:|---:|---|---|")
    for figure in FIGURES:
        values = {g: figure_value(figure, result["sums"][g]) for g in GROUPS}
        cells = [cell(values[g], result["sums"][g], figure.name) for g in GROUPS]
        target_value = values["scanned" if figure.name == "documents ready" else "all"]
        met = ""
        if figure.meets is not None and target_value is not None:
            met = "yes" if figure.meets(target_value) else "NO"
        target = figure.target
        if figure.name == "documents ready":
            target, met = ">= 0.90 (scanned)", "yes" if (target_value or 0) >= 0.90 else "NO"
        print(f"| {figure.name} | {' | '.join(cells)} | {target} | {met} |")
        rows.append({"figure": figure.name, **values, "target": target, "met": met})
    latencies = result["latencies"]
    if latencies:
        p50, p95 = (percentile(latencies, q) * 1000 for q in (0.5, 0.95))
        print(f"| POST /v1/query latency p50 / p95 ms | {p50:.0f} / {p95:.0f} | | | | |")
        rows.append({"figure": "query latency ms", "p50": p50, "p95": p95, "n": len(latencies)})
    return rows


def show_failures(result: dict[str, Any], count: int) -> None:
    for item in [q for q in result["questions"] if failed(q)][:count]:
        print(f"\n{item['id']} {item['kind']} {item['file']}: {item['question']}")
        print(f"  checks {item['checks']}  grounded {item['grounded']}  status {item['status']}")
        print(f"  answer: {item['answer']}")
        for c in item["citations"]:
            print(f"  [{c['source']}] {c['file']} p{c['page']}: {c['quote'][:160]}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", metavar="KIND", help="only this kind of question, or summaries")
    parser.add_argument("--limit", type=int, metavar="N", help="ask only the first N questions")
    parser.add_argument("--json", type=Path, metavar="OUT", help="per-question results")
    parser.add_argument("--reuse-data", type=Path, metavar="DIR", help="keep the data dir here")
    parser.add_argument("--show-failures", type=int, default=0, metavar="N")
    parser.add_argument("--ready-timeout", type=float, default=3600.0, metavar="SECONDS")
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir (server log)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (CLINICAL / "questions.jsonl").exists():
        print(f"no data set at {CLINICAL}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    with scratch_dir("bench-clinical-", keep=args.keep) as workdir:
        result = run(args, workdir)
    rows = print_table(result)
    print(f"{len(result['questions'])} questions, {time.perf_counter() - started:.0f} s in all")
    if args.show_failures:
        show_failures(result, args.show_failures)
    if args.json:
        report = {"figures": rows} | {k: result[k] for k in ("questions", "summaries")}
        args.json.write_text(json.dumps(report, indent=1, default=dict) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
