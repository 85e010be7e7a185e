"""RELIABILITY.md "Bad uploads": every bad upload is refused cleanly and leaves nothing behind.

Each rejected upload must answer problem+json with its stable code, and leave no blob, no
temporary file, no unfinished S3 multipart upload and no document record. Runs on both profiles.
Bodies are built by hand (httpx would escape or normalise what these tests need to send raw).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httpx

from docquery.domain.documents import ListQuery
from support.api import assert_problem, upload
from support.multipart import CountingStream
from support.pdfs import make_pdf

if TYPE_CHECKING:
    from support.harness import Harness, HarnessFactory

BOUNDARY = b"bad-uploads-boundary-7f3a"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64
MiB = 1024 * 1024


# --- hand-built multipart bodies (raw bytes, nothing escaped) ---------------------------------


def raw_part(
    name: bytes,
    value: bytes,
    *,
    filename: bytes | None = None,
    content_type: bytes = b"",
    boundary: bytes = BOUNDARY,
) -> bytes:
    disposition = b'form-data; name="' + name + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename + b'"'
    headers = b"Content-Disposition: " + disposition + b"\r\n"
    if content_type:
        headers += b"Content-Type: " + content_type + b"\r\n"
    return b"--" + boundary + b"\r\n" + headers + b"\r\n" + value + b"\r\n"


def file_part(
    content: bytes,
    *,
    filename: bytes = b"report.pdf",
    content_type: bytes = b"application/pdf",
    boundary: bytes = BOUNDARY,
) -> bytes:
    return raw_part(
        b"file", content, filename=filename, content_type=content_type, boundary=boundary
    )


def raw_body(*parts: bytes, boundary: bytes = BOUNDARY) -> bytes:
    return b"".join(parts) + b"--" + boundary + b"--\r\n"


def form_type(boundary: bytes = BOUNDARY) -> str:
    return "multipart/form-data; boundary=" + boundary.decode("ascii")


def split(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def post_bytes(
    client: httpx.AsyncClient, body: bytes, *, content_type: str | None = None
) -> httpx.Response:
    """POST a raw body with an honest Content-Length (httpx sends bytes in one piece)."""
    return await client.post(
        "/v1/documents", content=body, headers={"Content-Type": content_type or form_type()}
    )


async def post_stream(
    client: httpx.AsyncClient,
    stream: Any,
    *,
    content_length: int | None,
    content_type: str | None = None,
) -> httpx.Response:
    """POST an async body; without content_length httpx sends it chunked, with no length."""
    headers = {"Content-Type": content_type or form_type()}
    if content_length is not None:
        headers["Content-Length"] = str(content_length)
    request = client.build_request("POST", "/v1/documents", content=stream, headers=headers)
    if content_length is None:
        assert "content-length" not in request.headers
        assert request.headers["transfer-encoding"] == "chunked"
    else:
        assert request.headers["content-length"] == str(content_length)
        assert "transfer-encoding" not in request.headers
    return await client.send(request)


class ProbingStream:
    """An async body that counts the chunks pulled and runs a probe before one of them.

    The server pulls chunk N only after it has handled chunks 0..N-1, so a probe run before
    chunk N sees the storage state the first N chunks produced (a temp file, an open multipart
    upload).
    """

    def __init__(
        self, chunks: Iterable[bytes], *, probe_at: int, probe: Callable[[], Awaitable[Any]]
    ) -> None:
        self._chunks = iter(chunks)
        self._probe_at = probe_at
        self._probe = probe
        self.pulled = 0
        self.probed: Any = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        for index, chunk in enumerate(self._chunks):
            if index == self._probe_at:
                self.probed = await self._probe()
            self.pulled += 1
            yield chunk


async def assert_nothing_left(h: Harness, case: object = "") -> None:
    keys, pending, page = await asyncio.gather(
        h.blob_keys(),
        h.pending_uploads(),
        h.stores.documents.list_page(ListQuery(owner="alice", limit=100)),
    )
    assert keys == [], case
    assert pending == 0, case
    assert page.items == [], case


async def assert_rejected(
    h: Harness, response: httpx.Response, status: int, code: str, case: object = ""
) -> None:
    try:
        assert_problem(response, status, code)
    except AssertionError as exc:
        raise AssertionError(f"{case!r}: {exc}") from None
    await assert_nothing_left(h, case)


async def assert_clean_refusal(h: Harness, response: httpx.Response, case: object = "") -> None:
    """A 4xx problem with a stable code (never a 5xx), and nothing stored."""
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), case
    problem = response.json()
    assert problem["status"] == response.status_code, case
    assert problem["code"] not in ("internal_error", ""), case
    await assert_nothing_left(h, case)


# --- 1. one byte over the limit, honest Content-Length ----------------------------------------


def body_of_length(total: int, *, start: bytes = b"%PDF-1.7\n") -> bytes:
    """A well-formed upload body of exactly `total` bytes (the file part is padded)."""
    padding = total - len(raw_body(file_part(b""))) - len(start)
    assert padding >= 0
    body = raw_body(file_part(start + b"0" * padding))
    assert len(body) == total
    return body


async def test_one_byte_over_the_limits_is_refused_before_any_storage_write(
    make_harness: HarnessFactory,
) -> None:
    async with make_harness(max_file_size=1_000_000) as h:
        limit = h.settings.max_request_size
        assert limit > 1_000_000

        # The body one byte over the request limit, honest Content-Length, sent in 1 KiB
        # pieces: refused on the header alone, the body never read.
        body = body_of_length(limit + 1)
        stream = CountingStream(split(body, 1024))
        response = await post_stream(h.alice, stream, content_length=len(body))
        await assert_rejected(h, response, 413, "file_too_large", "request +1")
        assert stream.pulled <= 1 < len(body) // 1024

        # Exactly at the request limit passes the header check and is read (the file inside
        # is then over MAX_FILE_SIZE): the up-front limit is exact, not off by one.
        body = body_of_length(limit)
        stream = CountingStream(split(body, 64 * 1024))
        response = await post_stream(h.alice, stream, content_length=len(body))
        await assert_rejected(h, response, 413, "file_too_large", "request exact")
        assert stream.pulled > 1

        # The file itself one byte over MAX_FILE_SIZE, the body well within the request limit.
        content = b"%PDF-1.7\n" + b"0" * (1_000_000 + 1 - 9)
        body = raw_body(file_part(content))
        assert len(body) <= limit
        response = await post_bytes(h.alice, body)
        await assert_rejected(h, response, 413, "file_too_large", "file +1")

        # The file exactly at MAX_FILE_SIZE is accepted.
        content = b"%PDF-1.7\n" + b"1" * (1_000_000 - 9)
        response = await post_bytes(h.alice, raw_body(file_part(content)))
        assert response.status_code == 201, response.text
        assert response.json()["size"] == 1_000_000


# --- 2. chunked, no Content-Length ------------------------------------------------------------


async def test_chunked_body_over_the_limit_is_refused_as_soon_as_it_crosses(
    make_harness: HarnessFactory,
) -> None:
    chunk_size = 64 * 1024
    async with make_harness(max_file_size=12 * MiB, s3_part_size=5 * MiB) as h:
        content = b"%PDF-1.7\n" + b"0" * (20 * MiB)
        body = raw_body(file_part(content))
        total_chunks = -(-len(body) // chunk_size)

        async def probe() -> list[str] | int:
            # After 8 MiB: on aws a multipart upload is open, on embedded a temp file exists.
            if h.settings.profile == "aws":
                return await h.pending_uploads()
            return await h.blob_keys()

        stream = ProbingStream(split(body, chunk_size), probe_at=8 * MiB // chunk_size, probe=probe)

        response = await post_stream(h.alice, stream, content_length=None)

        await assert_rejected(h, response, 413, "file_too_large")
        if h.settings.profile == "aws":
            assert stream.probed == 1, "no multipart upload was open when the limit was crossed"
        else:
            assert len(stream.probed) == 1
            assert stream.probed[0].startswith("tmp/upload-")
        # It stopped at the limit (12 MiB + one chunk), far from the 20 MiB sent.
        crossed_at = h.settings.max_request_size // chunk_size + 2
        assert stream.pulled <= crossed_at < total_chunks


# --- 3. Content-Length that lies --------------------------------------------------------------


async def test_content_length_that_lies_is_refused_without_reading_on(harness: Harness) -> None:
    h = harness
    chunk_size = 64 * 1024
    first = file_part(b"%PDF-1.7\n" + b"0" * chunk_size)[:chunk_size]
    filler = b"0" * chunk_size
    total_chunks = 100 * MiB // chunk_size

    def chunks() -> Iterator[bytes]:
        # 100 MiB, generated as pulled: the same buffer again and again.
        yield first
        for _ in range(total_chunks - 1):
            yield filler

    # Says 1 KiB, sends 100 MiB: refused at the first chunk past 1 KiB, nothing buffered.
    stream = CountingStream(chunks())
    response = await post_stream(h.alice, stream, content_length=1024)
    await assert_rejected(h, response, 400, "content_length_mismatch", "says less")
    assert stream.pulled <= 2 < total_chunks

    # Says more than it sends: refused at the end of the body.
    body = raw_body(file_part(make_pdf("short body")))
    stream = CountingStream(split(body, 1024))
    response = await post_stream(h.alice, stream, content_length=len(body) + 10)
    await assert_rejected(h, response, 400, "content_length_mismatch", "says more")


# --- 5. not a PDF -----------------------------------------------------------------------------

NOT_PDFS = [
    ("png named .pdf", PNG, 415, "not_a_pdf"),
    ("%PDF- at offset 1", b"\n%PDF-1.7\n" + make_pdf()[9:], 415, "not_a_pdf"),
    ("%PDF- at offset 7", b"garbage" + make_pdf(), 415, "not_a_pdf"),
    ("empty", b"", 422, "empty_file"),
    ("4-byte %PDF", b"%PDF", 415, "not_a_pdf"),
    ("3-byte %PD", b"%PD", 415, "not_a_pdf"),
]


async def test_not_a_pdf_is_refused(harness: Harness) -> None:
    for case, content, status, code in NOT_PDFS:
        response = await upload(harness.alice, content, filename="scan.pdf")
        await assert_rejected(harness, response, status, code, case)

    # A large non-PDF is refused at its first bytes, not after it was streamed.
    body = raw_body(file_part(PNG + b"\x00" * (12 * MiB)))
    stream = CountingStream(split(body, 64 * 1024))
    response = await post_stream(harness.alice, stream, content_length=len(body))
    await assert_rejected(harness, response, 415, "not_a_pdf", "12 MiB png")
    assert stream.pulled <= 2

    # The upload checks the signature only; anything deeper is the pipeline's job (Bad PDFs).
    response = await upload(harness.alice, b"%PDF-", filename="scan.pdf")
    assert response.status_code == 201, response.text


# --- 6. filenames -----------------------------------------------------------------------------

HOSTILE_NAMES = [
    b"../../etc/passwd.pdf",
    b"..\\..\\windows\\system32\\evil.pdf",
    b"C:\\Users\\x\\report.pdf",
    b"/etc/passwd.pdf",
    b"report\x00.exe.pdf",
    b"report\r\n.pdf",
    b"report\rX-Injected: 1.pdf",
    b"report\nContent-Type: text/html.pdf",
    b"a" * 10_000 + b".pdf",
    "\U0001f4c4".encode() * 2_500 + b".pdf",
    # Long, but short enough for the parser's 4 KiB header line: cut to 255 characters.
    b"b" * 1_000 + b".pdf",
    "\U0001f4c4".encode() * 1_000 + b".pdf",
    "report\u202efdp.exe.pdf".encode(),
    "\U0001fa7a r\u00e9sum\u00e9 \U0001f4c4.pdf".encode(),
    b'quote\\"d; x=y%20.pdf',
    b"..pdf",
]
_FORBIDDEN_IN_NAME = ("/", "\\", "\x00", "\r", "\n", "\u202e")
_DISPOSITION = re.compile(
    r"attachment; filename=\"(?P<fallback>[^\"\r\n]*)\"; "
    r"filename\*=UTF-8''(?P<encoded>[A-Za-z0-9%._~-]*)"
)


async def test_hostile_filenames_never_reach_storage_keys_or_headers(harness: Harness) -> None:
    h = harness
    expected_keys: list[str] = []
    accepted = longest = 0
    for number, filename in enumerate(HOSTILE_NAMES):
        case = filename[:60]
        content = make_pdf(f"hostile name {number}")

        response = await post_bytes(h.alice, raw_body(file_part(content, filename=filename)))

        assert response.status_code < 500, (case, response.text)
        if response.status_code != 201:
            expected_before = sorted(expected_keys)
            assert 400 <= response.status_code < 500, (case, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] != "internal_error", case
            assert await h.blob_keys() == expected_before, case
            continue

        accepted += 1
        document = response.json()
        expected_keys.append(f"documents/{document['id']}/original.pdf")
        assert await h.blob_keys() == sorted(expected_keys), case
        stored = await h.stores.documents.get(owner="alice", document_id=document["id"])
        assert stored.filename == document["filename"], case
        for forbidden in _FORBIDDEN_IN_NAME:
            assert forbidden not in stored.filename, (case, stored.filename)
        assert 0 < len(stored.filename) <= 255, case
        longest = max(longest, len(stored.filename))
        assert stored.filename.lower().endswith(".pdf"), (case, stored.filename)

        download = await h.alice.get(f"/v1/documents/{document['id']}/content")
        assert download.status_code == 200, case
        assert download.content == content, case
        dispositions = download.headers.get_list("content-disposition")
        assert len(dispositions) == 1, (case, dispositions)
        disposition = dispositions[0]
        assert "\r" not in disposition, case
        assert "\n" not in disposition, case
        assert disposition.isascii(), case
        match = _DISPOSITION.fullmatch(disposition)
        assert match is not None, (case, disposition)
        fallback = match["fallback"]
        assert all(32 <= ord(ch) < 127 for ch in fallback), case
        assert "\\" not in fallback, case
        assert unquote(match["encoded"], errors="strict") == stored.filename, case

    # Most of these are ordinary names once cleaned: the test must have checked downloads.
    assert accepted >= len(HOSTILE_NAMES) // 2
    assert longest == 255  # the long names were accepted and cut, not refused
    page = await h.stores.documents.list_page(ListQuery(owner="alice", limit=100))
    assert len(page.items) == accepted


# --- 7. Content-Type headers that lie ---------------------------------------------------------

NOT_MULTIPART = [
    ("application/json", b'{"file": "JVBERi0xLjcK"}'),
    ("application/pdf", make_pdf("raw body")),
    ("application/x-www-form-urlencoded", b"file=%25PDF-1.7"),
    ("text/plain; boundary=" + BOUNDARY.decode(), raw_body(file_part(make_pdf()))),
]


async def test_the_decision_follows_the_bytes_not_the_content_type(harness: Harness) -> None:
    h = harness
    for part_type in (b"application/pdf", b""):
        response = await post_bytes(h.alice, raw_body(file_part(PNG, content_type=part_type)))
        await assert_rejected(h, response, 415, "not_a_pdf", f"png as {part_type!r}")

    for content_type, body in NOT_MULTIPART:
        response = await post_bytes(h.alice, body, content_type=content_type)
        await assert_rejected(h, response, 415, "unsupported_media_type", content_type)

    content = make_pdf("claims to be png")
    response = await post_bytes(h.alice, raw_body(file_part(content, content_type=b"image/png")))
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["content_type"] == "application/pdf"
    download = await h.alice.get(f"/v1/documents/{document['id']}/content")
    assert download.headers["content-type"] == "application/pdf"
    assert download.content == content


# --- 8. multipart abuse -----------------------------------------------------------------------


async def test_more_than_one_file_part_is_refused(harness: Harness) -> None:
    bodies = {
        "two file parts": raw_body(
            file_part(make_pdf("one"), filename=b"one.pdf"),
            file_part(make_pdf("two"), filename=b"two.pdf"),
        ),
        "file under another name": raw_body(
            file_part(make_pdf("one")),
            raw_part(b"attachment", make_pdf("two"), filename=b"two.pdf"),
        ),
        "file after another name": raw_body(
            raw_part(b"attachment", make_pdf("two"), filename=b"two.pdf"),
            file_part(make_pdf("one")),
        ),
    }
    for case, body in bodies.items():
        response = await post_bytes(harness.alice, body)
        await assert_rejected(harness, response, 422, "too_many_files", case)


async def test_oversized_forms_are_refused_after_reading_little(harness: Harness) -> None:
    h = harness
    # 10k empty (and allowed) fields before the file.
    body = raw_body(*(raw_part(b"tags", b"") for _ in range(10_000)), file_part(make_pdf()))
    stream = CountingStream(split(body, 4096))
    response = await post_stream(h.alice, stream, content_length=len(body))
    await assert_rejected(h, response, 422, "too_many_fields", "10k fields")
    assert stream.pulled <= 3 < len(body) // 4096

    # A 2 MB title.
    body = raw_body(raw_part(b"title", b"t" * 2_000_000), file_part(make_pdf("big title")))
    stream = CountingStream(split(body, 8192))
    response = await post_stream(h.alice, stream, content_length=len(body))
    await assert_rejected(h, response, 413, "field_too_large", "2 MB title")
    assert stream.pulled <= 4 < len(body) // 8192

    # The same 2 MB field after the file: the file was being written, and is dropped.
    body = raw_body(file_part(make_pdf("before big")), raw_part(b"tags", b"t" * 2_000_000))
    stream = CountingStream(split(body, 8192))
    response = await post_stream(h.alice, stream, content_length=len(body))
    await assert_rejected(h, response, 413, "field_too_large", "2 MB tags after file")
    assert stream.pulled < len(body) // 8192 // 10


INVALID_BOUNDARIES = [
    b"multipart/form-data; boundary=" + b"b" * 71,
    b"multipart/form-data; boundary=" + b"-" * 200,
    b"multipart/form-data",
    b"multipart/form-data; boundary=",
    b'multipart/form-data; boundary="caf\xe9"',
]


async def test_invalid_boundaries_are_refused(harness: Harness) -> None:
    boundary = b"b" * 71
    body = raw_body(file_part(make_pdf("bad boundary"), boundary=boundary), boundary=boundary)
    for content_type in INVALID_BOUNDARIES:
        response = await harness.alice.post(
            "/v1/documents", content=body, headers={"Content-Type": content_type}
        )
        await assert_rejected(harness, response, 400, "malformed_multipart", content_type)


async def test_pathological_boundary_still_parses_exactly(harness: Harness) -> None:
    for char in (b"a", b"-"):
        boundary = char * 70
        # Near misses of the delimiter "\r\n--" + boundary, none of them (nor their joins) it.
        near_misses = [
            b"\r\n--" + char * 69 + b"x",
            b"\r\n--" + char * 69 + b"\r\n",
            b"\r\n-" + char * 70,
            b"\r--" + char * 70,
            b"\n--" + char * 70,
        ]
        pattern = b"".join(near_misses)
        content = make_pdf(f"pathological {char!r}") + pattern * (2 * MiB // len(pattern))
        assert b"\r\n--" + boundary not in content
        body = raw_body(file_part(content, boundary=boundary), boundary=boundary)

        response = await post_bytes(harness.alice, body, content_type=form_type(boundary))

        assert response.status_code == 201, (char, response.text)
        document = response.json()
        assert document["size"] == len(content)
        download = await harness.alice.get(f"/v1/documents/{document['id']}/content")
        assert download.content == content


async def test_forms_without_the_file_or_with_unknown_fields_are_refused(harness: Harness) -> None:
    h = harness
    response = await post_bytes(h.alice, raw_body(raw_part(b"title", b"No file here")))
    await assert_rejected(h, response, 422, "missing_file", "title only")

    response = await post_bytes(h.alice, b"--" + BOUNDARY + b"--\r\n")
    if response.status_code == 422:
        await assert_rejected(h, response, 422, "missing_file", "empty form")
    else:
        await assert_rejected(h, response, 400, "malformed_multipart", "empty form")

    for name in (b"owner", b"sha256"):
        for where in ("before", "after"):
            extra = raw_part(name, b"bob")
            pdf = file_part(make_pdf(f"unknown field {name!r} {where}"))
            parts = (extra, pdf) if where == "before" else (pdf, extra)
            response = await post_bytes(h.alice, raw_body(*parts))
            await assert_rejected(h, response, 422, "invalid_field", (name, where))


async def test_body_truncated_before_the_closing_boundary_is_refused(harness: Harness) -> None:
    full = raw_body(file_part(make_pdf("truncated") + b"0" * 10_000))
    cuts = {
        "before the final dashes": len(b"--\r\n"),
        "before the closing boundary": len(BOUNDARY) + 6,
        "mid-file": len(BOUNDARY) + 5000,
    }
    for case, cut in cuts.items():
        response = await post_bytes(harness.alice, full[:-cut])
        await assert_rejected(harness, response, 400, "malformed_multipart", case)


async def test_extension_other_than_pdf_is_refused(harness: Harness) -> None:
    for filename in (b"report.exe", b"report.pdf.exe", b"report", b"report.PDF.html"):
        response = await post_bytes(
            harness.alice, raw_body(file_part(make_pdf("exe"), filename=filename))
        )
        await assert_rejected(harness, response, 415, "unsupported_extension", filename)

    # Case and trailing dots or spaces do not matter: these are .pdf files.
    for number, filename in enumerate((b"REPORT.PDF", b"report.pdf. ")):
        response = await post_bytes(
            harness.alice, raw_body(file_part(make_pdf(f"ok {number}"), filename=filename))
        )
        assert response.status_code == 201, (filename, response.text)
        assert response.json()["filename"].lower() == "report.pdf"


async def test_anonymous_upload_is_refused_and_stores_nothing(harness: Harness) -> None:
    response = await post_bytes(harness.anonymous, raw_body(file_part(make_pdf("anon"))))
    await assert_rejected(harness, response, 401, "unauthenticated")
