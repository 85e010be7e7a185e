"""`docquery ingest`: collecting files, uploading them to the app, the progress and the summary."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest

from docquery.cli import main
from docquery.ingest import collect, ingest, run_ingest
from docquery.ingest_report import FileResult, Outcome, Progress
from support.api import upload_ok
from support.harness import Harness
from support.pdfs import make_pdf


def _tree(root: Path) -> dict[str, bytes]:
    """A folder of PDFs, nested and hidden, with a copy, a fake and a text file."""
    files = {
        "b.pdf": make_pdf("b"),
        "A.PDF": make_pdf("a"),
        "notes.txt": b"not collected",
        ".hidden.pdf": make_pdf("hidden"),
        ".git/inside.pdf": make_pdf("git"),
        "ward/c.pdf": make_pdf("c"),
        "ward/fake.pdf": b"this is plain text, not a PDF",
        "ward/night/copy of b.pdf": make_pdf("b"),
    }
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return files


_COLLECTED = ("A.PDF", "b.pdf", "ward/c.pdf", "ward/fake.pdf", "ward/night/copy of b.pdf")


def test_collect_walks_folders_for_pdfs_sorted_and_skips_hidden(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    (tmp_path / "ward" / "night" / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "ward" / "empty.pdf").write_bytes(b"")
    found, problems = collect([tmp_path])
    assert [(path.relative_to(tmp_path).as_posix(), size) for path, size in found] == [
        (name, len(files[name])) for name in _COLLECTED
    ]
    assert problems == [
        FileResult(
            tmp_path / "notes.txt",
            Outcome.SKIPPED,
            reason="not_a_pdf: the name does not end in .pdf",
        ),
        FileResult(
            tmp_path / "ward" / "empty.pdf",
            Outcome.REJECTED,
            reason="empty_file: the file is empty (0 bytes)",
        ),
    ]


def test_collect_takes_given_files_as_they_are_and_reports_missing_paths(tmp_path: Path) -> None:
    _tree(tmp_path)
    found, problems = collect(
        [tmp_path / "notes.txt", tmp_path / "gone.pdf", tmp_path / "ward", tmp_path / "b.pdf"],
        recursive=False,
    )
    assert [path.relative_to(tmp_path).as_posix() for path, _ in found] == [
        "notes.txt", "ward/c.pdf", "ward/fake.pdf", "b.pdf",
    ]  # fmt: skip
    assert problems == [
        FileResult(
            tmp_path / "gone.pdf",
            Outcome.REJECTED,
            reason="not_found_locally: no such file or folder",
        )
    ]


async def test_ingest_uploads_each_pdf_once_with_its_tags(harness: Harness, tmp_path: Path) -> None:
    # Not tmp_path itself: on the embedded profile the app keeps its data there.
    inbox = tmp_path / "inbox"
    _tree(inbox)
    report = await ingest(
        [inbox, inbox / "missing.pdf"],
        client=harness.alice,
        tags=["ward-3", "2026"],
        retry_delays=(0, 0),
    )
    by_name = {r.path.name: r for r in report.results}
    assert list(by_name) == [
        "notes.txt", "missing.pdf", "A.PDF", "b.pdf", "c.pdf", "fake.pdf", "copy of b.pdf",
    ]  # fmt: skip
    assert by_name["missing.pdf"].reason == "not_found_locally: no such file or folder"
    assert by_name["notes.txt"].outcome is Outcome.SKIPPED
    assert by_name["fake.pdf"].outcome is Outcome.REJECTED
    assert by_name["fake.pdf"].reason.startswith("not_a_pdf: ")
    assert by_name["A.PDF"].outcome is by_name["c.pdf"].outcome is Outcome.UPLOADED
    # The copy races the original; whichever lands second is the duplicate of the first,
    # and the tags given are added to it (they are already there).
    pair = [by_name["b.pdf"], by_name["copy of b.pdf"]]
    assert sorted(r.outcome for r in pair) == [Outcome.TAGGED, Outcome.UPLOADED]
    assert pair[0].document_id == pair[1].document_id is not None
    ids = {by_name[name].document_id for name in ("A.PDF", "b.pdf", "c.pdf")}
    listed = (await harness.alice.get("/v1/documents")).json()["items"]
    assert {item["id"] for item in listed} == ids
    for document_id in ids:
        document = (await harness.alice.get(f"/v1/documents/{document_id}")).json()
        assert document["tags"] == ["ward-3", "2026"]
    assert not report.ok


async def test_run_ingest_prints_progress_lines_and_the_summary(
    harness: Harness, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    files = _tree(inbox)
    missing, fake = inbox / "missing.pdf", inbox / "ward" / "fake.pdf"
    out, err = io.StringIO(), io.StringIO()
    status = await run_ingest(
        [missing, inbox], client=harness.alice, out=out, err=err, concurrency=1
    )
    assert status == 1
    lines = err.getvalue().splitlines()
    detail = lines[5].split("not_a_pdf: ", 1)[1]
    notes = inbox / "notes.txt"
    assert lines == [
        f"[1/7] rejected          {missing}  not_found_locally: no such file or folder",
        f"[2/7] skipped           {notes}  not_a_pdf: the name does not end in .pdf",
        f"[3/7] uploaded          {inbox / 'A.PDF'}",
        f"[4/7] uploaded          {inbox / 'b.pdf'}",
        f"[5/7] uploaded          {inbox / 'ward' / 'c.pdf'}",
        f"[6/7] rejected          {fake}  not_a_pdf: {detail}",
        f"[7/7] duplicate         {inbox / 'ward' / 'night' / 'copy of b.pdf'}",
    ]
    sent = sum(len(files[name]) for name in _COLLECTED)
    width = len(str(fake))
    assert out.getvalue() == (
        "uploaded              3\n"
        "duplicate             1\n"
        "duplicate, tagged     0\n"
        "skipped               1\n"
        "rejected              2\n"
        "failed                0\n"
        "not attempted         0\n"
        "\n"
        f"rejected  {missing!s:<{width}}  not_found_locally: no such file or folder\n"
        f"skipped   {notes!s:<{width}}  not_a_pdf: the name does not end in .pdf\n"
        f"rejected  {fake}  not_a_pdf: {detail}\n"
        "\n"
        f"total: 7 files, {sent / 1e6:.1f} MB ({sent:,} bytes)\n"
    )


async def test_a_rejected_key_stops_before_the_other_files(
    harness: Harness, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("a.pdf", "b.pdf", "c.pdf"):
        (inbox / name).write_bytes(make_pdf(name))
    requests: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        requests.append(request)

    harness.anonymous.event_hooks["request"] = [record]
    out, err = io.StringIO(), io.StringIO()
    status = await run_ingest([inbox], client=harness.anonymous, out=out, err=err, concurrency=1)
    assert status == 1
    assert len(requests) == 1
    assert "not attempted         3\n" in out.getvalue()
    assert "uploaded              0\n" in out.getvalue()
    assert "stopped, the server refused the API key (401 unauthenticated:" in err.getvalue()
    assert (await harness.alice.get("/v1/documents")).json()["items"] == []


def _fake_service(
    answers: list[httpx.Response | Exception],
) -> tuple[httpx.AsyncClient, list[bytes]]:
    """A client whose server answers with the given responses in turn, recording each body."""
    bodies: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(request.read())
        reply = answers[min(len(bodies), len(answers)) - 1]
        if isinstance(reply, Exception):
            raise reply
        return reply

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://fake")
    return client, bodies


def _problem(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"status": status, "code": code, "title": code})


async def test_server_errors_are_retried_with_the_whole_file_each_time(tmp_path: Path) -> None:
    content = make_pdf("retried")
    (tmp_path / "x.pdf").write_bytes(content)
    client, bodies = _fake_service(
        [_problem(503, "store_unavailable"), httpx.ConnectError("refused"),
         httpx.Response(201, json={"id": "doc1"})]
    )  # fmt: skip
    async with client:
        report = await ingest([tmp_path / "x.pdf"], client=client, retry_delays=(0, 0))
    uploaded = FileResult(tmp_path / "x.pdf", Outcome.UPLOADED, len(content), document_id="doc1")
    assert report.results == [uploaded]
    assert len(bodies) == 3
    assert all(content in body for body in bodies)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (_problem(503, "store_unavailable"), "503 store_unavailable: store_unavailable (3 tries)"),
        (httpx.ConnectError("refused"), "ConnectError: refused (3 tries)"),
    ],
)
async def test_errors_that_persist_fail_the_file_after_three_tries(
    tmp_path: Path, answer: httpx.Response | Exception, reason: str
) -> None:
    (tmp_path / "x.pdf").write_bytes(make_pdf("x"))
    client, bodies = _fake_service([answer])
    out = io.StringIO()
    async with client:
        status = await run_ingest(
            [tmp_path], client=client, out=out, err=io.StringIO(), retry_delays=(0, 0)
        )
    assert status == 1
    assert len(bodies) == 3
    assert f"failed    {tmp_path / 'x.pdf'}  {reason}\n" in out.getvalue()
    assert "failed                1\n" in out.getvalue()


async def test_all_uploaded_exits_0(tmp_path: Path) -> None:
    (tmp_path / "x.pdf").write_bytes(make_pdf("x"))
    client, _ = _fake_service([httpx.Response(201, json={"id": "doc1"})])
    async with client:
        status = await run_ingest([tmp_path], client=client, out=io.StringIO(), err=io.StringIO())
    assert status == 0


def test_progress_on_a_terminal_redraws_one_line() -> None:
    stream = io.StringIO()
    progress = Progress(stream, tty=True)
    progress.start(files=4, total_bytes=9_800_000)
    progress.advance(FileResult(Path("x.pdf"), Outcome.UPLOADED, 3_100_000))
    progress.advance(FileResult(Path("y.pdf"), Outcome.REJECTED, 0, reason="not_a_pdf: no"))
    progress.finish()
    assert stream.getvalue() == (
        "\r[##        ] 1/4 files, 3.1/9.8 MB\r[#####     ] 2/4 files, 3.1/9.8 MB\n"
    )


def test_ingest_without_paths_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest"]) == 2
    assert "give at least one file or folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "ftp://example.org"], "bad --url"),
        (["--url", "not a url"], "bad --url"),
        (["--concurrency", "0"], "--concurrency must be at least 1"),
    ],
)
def test_bad_options_are_usage_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "x.pdf", *args]) == 2
    assert message in capsys.readouterr().err


async def test_files_uploaded_before_get_the_tags_and_keep_their_own(
    harness: Harness, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    contents = {name: make_pdf(name) for name in ("a", "b", "c", "d")}
    for name, content in contents.items():
        (inbox / f"{name}.pdf").write_bytes(content)
    before = {
        "a": await upload_ok(harness.alice, contents["a"]),
        "b": await upload_ok(harness.alice, contents["b"], data={"tags": "Ward-3"}),
        "c": await upload_ok(harness.alice, contents["c"], data={"tags": "lab"}),
    }
    report = await ingest([inbox], client=harness.alice, tags=["ward-3", "2026"])
    outcomes = {r.path.stem: r.outcome for r in report.results}
    assert outcomes == {
        "a": Outcome.TAGGED, "b": Outcome.TAGGED, "c": Outcome.TAGGED, "d": Outcome.UPLOADED,
    }  # fmt: skip
    assert report.ok
    tags = {}
    for result in report.results:
        document = (await harness.alice.get(f"/v1/documents/{result.document_id}")).json()
        tags[result.path.stem] = document["tags"]
    # Tags match in any case: b's "Ward-3" is the tag given, kept as it was spelt.
    assert tags == {
        "a": ["ward-3", "2026"],
        "b": ["Ward-3", "2026"],
        "c": ["lab", "ward-3", "2026"],
        "d": ["ward-3", "2026"],
    }
    assert {r.document_id for r in report.results} >= {d["id"] for d in before.values()}


async def test_the_summary_counts_every_file_the_progress_counted(
    harness: Harness, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    _tree(inbox)
    for name in ("empty.pdf", "ward/also empty.pdf"):
        (inbox / name).write_bytes(b"")
    (inbox / "ward" / "scan.png").write_bytes(b"\x89PNG\r\n")
    out, err = io.StringIO(), io.StringIO()
    await run_ingest([inbox, inbox / "gone.pdf"], client=harness.alice, out=out, err=err)
    progress = err.getvalue().splitlines()
    counted = int(progress[-1].split("]", 1)[0].split("/")[1])
    assert len(progress) == counted == 10
    summary = out.getvalue().splitlines()
    categories = {line[:-6].rstrip(): int(line[-6:]) for line in summary[: len(Outcome)]}
    assert list(categories) == [outcome.value for outcome in Outcome]
    total = int(summary[-1].removeprefix("total: ").split(" ", 1)[0])
    assert total == counted == sum(categories.values())
    assert categories["skipped"] == 2  # notes.txt and scan.png
    assert categories["rejected"] == 4  # two empty files, the fake PDF, gone.pdf
    rows = {
        (path, reason)
        for line in summary
        for path in (inbox / "ward" / "also empty.pdf", inbox / "ward" / "scan.png")
        for reason in (
            "empty_file: the file is empty (0 bytes)",
            "not_a_pdf: the name does not end in .pdf",
        )
        if line.startswith(("rejected", "skipped")) and str(path) in line and line.endswith(reason)
    }
    assert {(path.name, reason.split(":")[0]) for path, reason in rows} == {
        ("also empty.pdf", "empty_file"), ("scan.png", "not_a_pdf"),
    }  # fmt: skip


def _bulk_result(status: str, code: str | None = None) -> httpx.Response:
    item = {"id": "doc1", "status": status, "code": code, "detail": code and f"{code} detail"}
    return httpx.Response(200, json={"action": "add_tags", "results": [item]})


async def test_a_tag_edit_that_lost_a_race_is_sent_again(tmp_path: Path) -> None:
    (tmp_path / "x.pdf").write_bytes(make_pdf("x"))
    client, bodies = _fake_service(
        [httpx.Response(200, json={"id": "doc1"}), _bulk_result("error", "precondition_failed"),
         _problem(503, "store_unavailable"), _bulk_result("ok")]
    )  # fmt: skip
    async with client:
        report = await ingest([tmp_path], client=client, tags=["icu"], retry_delays=(0,))
    assert [r.outcome for r in report.results] == [Outcome.TAGGED]
    assert [json.loads(body) for body in bodies[1:]] == [
        {"action": "add_tags", "ids": ["doc1"], "tags": ["icu"]}
    ] * 3


async def test_tags_that_could_not_be_added_fail_the_file_with_the_reason(
    tmp_path: Path,
) -> None:
    (tmp_path / "x.pdf").write_bytes(make_pdf("x"))
    client, _ = _fake_service(
        [httpx.Response(200, json={"id": "doc1"}), _bulk_result("error", "invalid_field")]
    )
    out = io.StringIO()
    async with client:
        status = await run_ingest(
            [tmp_path], client=client, out=out, err=io.StringIO(), tags=["icu"]
        )
    assert status == 1
    reason = "duplicate of doc1; tags not added: invalid_field: invalid_field detail"
    assert f"failed    {tmp_path / 'x.pdf'}  {reason}\n" in out.getvalue()
