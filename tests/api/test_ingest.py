"""`docquery ingest`: collecting files, uploading them to the app, the progress and the summary."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest

from docquery.cli import main
from docquery.ingest import collect, ingest, run_ingest
from docquery.ingest_report import FileResult, Outcome, Progress
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
    found, problems = collect([tmp_path])
    assert [(path.relative_to(tmp_path).as_posix(), size) for path, size in found] == [
        (name, len(files[name])) for name in _COLLECTED
    ]
    assert problems == []


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
        "missing.pdf", "A.PDF", "b.pdf", "c.pdf", "fake.pdf", "copy of b.pdf",
    ]  # fmt: skip
    assert by_name["missing.pdf"].reason == "not_found_locally: no such file or folder"
    assert by_name["fake.pdf"].outcome is Outcome.REJECTED
    assert by_name["fake.pdf"].reason.startswith("not_a_pdf: ")
    assert by_name["A.PDF"].outcome is by_name["c.pdf"].outcome is Outcome.UPLOADED
    # The copy races the original; whichever lands second is the duplicate of the first.
    pair = [by_name["b.pdf"], by_name["copy of b.pdf"]]
    assert sorted(r.outcome for r in pair) == [Outcome.DUPLICATE, Outcome.UPLOADED]
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
    detail = lines[4].split("not_a_pdf: ", 1)[1]
    assert lines == [
        f"[1/6] rejected  {missing}  not_found_locally: no such file or folder",
        f"[2/6] uploaded  {inbox / 'A.PDF'}",
        f"[3/6] uploaded  {inbox / 'b.pdf'}",
        f"[4/6] uploaded  {inbox / 'ward' / 'c.pdf'}",
        f"[5/6] rejected  {fake}  not_a_pdf: {detail}",
        f"[6/6] duplicate {inbox / 'ward' / 'night' / 'copy of b.pdf'}",
    ]
    sent = sum(len(files[name]) for name in _COLLECTED)
    width = len(str(fake))
    assert out.getvalue() == (
        "uploaded           3\n"
        "duplicate          1\n"
        "rejected           2\n"
        "failed             0\n"
        "not attempted      0\n"
        "\n"
        f"rejected  {missing!s:<{width}}  not_found_locally: no such file or folder\n"
        f"rejected  {fake}  not_a_pdf: {detail}\n"
        "\n"
        f"total: 5 files, {sent / 1e6:.1f} MB ({sent:,} bytes)\n"
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
    assert "not attempted      3\n" in out.getvalue()
    assert "uploaded           0\n" in out.getvalue()
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
    assert "failed             1\n" in out.getvalue()


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
