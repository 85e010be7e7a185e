"""`docquery ingest`: upload local PDF files and folders to a running docquery service."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

import httpx

from docquery.ingest_report import (
    FileResult,
    IngestReport,
    Outcome,
    Progress,
    write_summary,
)
from docquery.ingest_tags import RETRY_DELAYS, json_body, tag_duplicate, with_retries


class _Unauthenticated(Exception):
    pass


def collect(
    paths: Sequence[Path], *, recursive: bool = True
) -> tuple[list[tuple[Path, int]], list[FileResult]]:
    """Files to upload (given files, `.pdf` files under given folders) with sizes; the files
    not to upload (missing, unreadable, empty, or in a folder but not a PDF), with reasons."""
    found: list[Path] = []
    problems: list[FileResult] = []
    for path in paths:
        if path.is_dir():
            found += sorted(_walk(path, recursive=recursive, seen=set(), problems=problems))
        elif path.is_file():
            found.append(path)
        elif path.exists():
            problems.append(_local_problem(path, "not_a_regular_file", "not a file or folder"))
        else:
            problems.append(_local_problem(path, "not_found_locally", "no such file or folder"))
    files: list[tuple[Path, int]] = []
    unique: set[Path] = set()
    for path in found:
        try:
            real, size = path.resolve(), path.stat().st_size
        except OSError as exc:
            problems.append(_local_problem(path, "unreadable_locally", exc.strerror or str(exc)))
            continue
        if real in unique:
            continue
        unique.add(real)
        if size == 0:
            problems.append(_local_problem(path, "empty_file", "the file is empty (0 bytes)"))
        else:
            files.append((path, size))
    return files, problems


def _walk(
    folder: Path, *, recursive: bool, seen: set[tuple[int, int]], problems: list[FileResult]
) -> Iterator[Path]:
    # Symlinked folders are followed, but each real folder once: a link loop ends here.
    try:
        identity = (stat := folder.stat()).st_dev, stat.st_ino
        if identity in seen:
            return
        seen.add(identity)
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError as exc:
        problems.append(_local_problem(folder, "unreadable_locally", exc.strerror or str(exc)))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue  # hidden files and folders (.git, .DS_Store) are not the operator's files
        if entry.is_dir():
            if recursive:
                yield from _walk(Path(entry.path), recursive=True, seen=seen, problems=problems)
        elif not entry.is_file():
            problems.append(_skipped(entry.path, "not_a_regular_file: not a file or folder"))
        elif entry.name.lower().endswith(".pdf"):
            yield Path(entry.path)
        else:
            problems.append(_skipped(entry.path, "not_a_pdf: the name does not end in .pdf"))


def _skipped(path: str, reason: str) -> FileResult:
    return FileResult(Path(path), Outcome.SKIPPED, reason=reason)


async def ingest(
    paths: Sequence[Path],
    *,
    client: httpx.AsyncClient,
    tags: Sequence[str] = (),
    concurrency: int = 4,
    recursive: bool = True,
    progress: Progress | None = None,
    retry_delays: Sequence[float] = RETRY_DELAYS,
) -> IngestReport:
    """Upload every collected file through client, at most `concurrency` at a time."""
    files, problems = await asyncio.to_thread(collect, paths, recursive=recursive)
    report = IngestReport(results=list(problems))
    bar = progress or Progress(None)
    bar.start(files=len(problems) + len(files), total_bytes=sum(size for _, size in files))
    for problem in problems:
        bar.advance(problem)
    results: list[FileResult | None] = [None] * len(files)
    queue = iter(enumerate(files))
    tag_list = [tag.strip() for value in tags for tag in value.split(",") if tag.strip()]
    data = {"tags": ",".join(tag_list)} if tag_list else {}

    async def worker() -> None:
        for index, (path, size) in queue:
            try:
                result = await _upload(path, size, client, data, retry_delays)
                if result.outcome is Outcome.DUPLICATE and tag_list:
                    # The server keeps the existing document as it was: add the tags to it.
                    result = await tag_duplicate(result, tag_list, client, retry_delays)
                results[index] = result
                bar.advance(result)
            except _Unauthenticated as exc:
                report.stopped = report.stopped or str(exc)
            if report.stopped:
                return

    async with asyncio.TaskGroup() as group:
        for _ in range(max(1, min(concurrency, len(files)))):
            group.create_task(worker())
    bar.finish()
    report.results += [
        result or FileResult(path, Outcome.NOT_ATTEMPTED, size)
        for result, (path, size) in zip(results, files, strict=True)
    ]
    return report


async def _upload(
    path: Path, size: int, client: httpx.AsyncClient, data: dict[str, str], delays: Sequence[float]
) -> FileResult:
    try:
        # httpx streams the file in 64 KiB reads and takes Content-Length from fstat.
        with await asyncio.to_thread(path.open, "rb") as file:
            response, attempts = await _post(client, path.name, file, data, delays)
    except FileNotFoundError:
        return _local_problem(path, "not_found_locally", "no such file or folder")
    except OSError as exc:
        return _local_problem(path, "unreadable_locally", exc.strerror or str(exc))
    except httpx.TransportError as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return FileResult(path, Outcome.FAILED, size, reason=f"{reason} ({len(delays) + 1} tries)")
    return _result_of(path, size, response, attempts)


async def _post(
    client: httpx.AsyncClient,
    name: str,
    file: BinaryIO,
    data: dict[str, str],
    delays: Sequence[float],
) -> tuple[httpx.Response, int]:
    """POST the file with retries (see with_retries)."""
    # Each attempt re-reads the file: httpx seeks it back to 0 before streaming.
    files = {"file": (name, file, "application/pdf")}
    return await with_retries(lambda: client.post("/v1/documents", files=files, data=data), delays)


def _result_of(path: Path, size: int, response: httpx.Response, attempts: int) -> FileResult:
    status = response.status_code
    body = json_body(response)
    if status in (200, 201) and isinstance(body.get("id"), str):
        outcome = Outcome.UPLOADED if status == 201 else Outcome.DUPLICATE
        return FileResult(path, outcome, size, document_id=body["id"])
    code = str(body.get("code") or f"http_{status}")
    detail = str(body.get("detail") or body.get("title") or response.reason_phrase)
    if status == 401:
        raise _Unauthenticated(f"401 {code}: {detail}")
    if 400 <= status < 500:
        return FileResult(path, Outcome.REJECTED, size, reason=f"{code}: {detail}")
    tries = f" ({attempts} tries)" if attempts > 1 else ""
    return FileResult(path, Outcome.FAILED, size, reason=f"{status} {code}: {detail}{tries}")


def _local_problem(path: Path, code: str, detail: str) -> FileResult:
    return FileResult(path, Outcome.REJECTED, reason=f"{code}: {detail}")


async def run_ingest(
    paths: Sequence[Path],
    *,
    client: httpx.AsyncClient,
    out: TextIO,
    err: TextIO,
    tags: Sequence[str] = (),
    concurrency: int = 4,
    recursive: bool = True,
    retry_delays: Sequence[float] = RETRY_DELAYS,
) -> int:
    """Ingest with a progress bar on err and the summary on out; the exit status."""
    report = await ingest(
        paths,
        client=client,
        tags=tags,
        concurrency=concurrency,
        recursive=recursive,
        progress=Progress(err),
        retry_delays=retry_delays,
    )
    write_summary(report, out)
    if report.stopped:
        err.write(
            f"docquery ingest: stopped, the server refused the API key ({report.stopped}); "
            "pass --api-key or set DOCQUERY_API_KEY\n"
        )
    elif not report.results:
        err.write("docquery ingest: no PDF files found\n")
    return 0 if report.ok else 1


def run_command(
    paths: Sequence[Path],
    *,
    url: str,
    api_key: str | None,
    tags: Sequence[str],
    concurrency: int,
    recursive: bool,
) -> int:
    """The `docquery ingest` command: check its arguments, then ingest against url."""
    usage = _usage_problem(paths, url, concurrency)
    if usage:
        print(f"docquery ingest: {usage}", file=sys.stderr)
        return 2
    key = api_key or os.environ.get("DOCQUERY_API_KEY")

    async def against_service() -> int:
        async with httpx.AsyncClient(
            base_url=url,
            headers={"X-API-Key": key} if key else {},
            timeout=httpx.Timeout(30, read=300),
        ) as client:
            return await run_ingest(
                paths,
                client=client,
                out=sys.stdout,
                err=sys.stderr,
                tags=tags,
                concurrency=concurrency,
                recursive=recursive,
            )

    return asyncio.run(against_service())


def _usage_problem(paths: Sequence[Path], url: str, concurrency: int) -> str | None:
    if not paths:
        return "give at least one file or folder"
    if concurrency < 1:
        return "--concurrency must be at least 1"
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return f"bad --url: {exc}"
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return "bad --url: expected http(s)://host[:port]"
    return None
