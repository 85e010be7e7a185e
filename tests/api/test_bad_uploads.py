"""RELIABILITY.md "Bad uploads": every bad upload is refused cleanly and leaves nothing behind.

Each rejected upload must answer problem+json with its stable code, and leave no blob, no
temporary file, no unfinished S3 multipart upload and no document record. Runs on both profiles.
Bodies are built by hand (httpx would escape or normalise what these tests need to send raw).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httpx
import pytest

from docquery.domain.documents import ListQuery
from support.api import assert_problem, upload
from support.multipart import CountingStream
from support.pdfs import make_pdf

if TYPE_CHECKING:
    from conftest import Harness, HarnessFactory

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


async def assert_nothing_left(h: Harness) -> None:
    assert await h.blob_keys() == []
    assert await h.pending_uploads() == 0
    page = await h.stores.documents.list_page(ListQuery(owner="alice", limit=100))
    assert page.items == []


async def assert_rejected(h: Harness, response: httpx.Response, status: int, code: str) -> None:
    assert_problem(response, status, code)
    await assert_nothing_left(h)


# --- 1. one byte over the limit, honest Content-Length ----------------------------------------


def body_of_length(total: int, *, chunk: bytes = b"%PDF-1.7\n") -> bytes:
    """A well-formed upload body of exactly `total` bytes (the file part is padded)."""
    empty = raw_body(file_part(b""))
    padding = total - len(empty) - len(chunk)
    assert padding >= 0
    body = raw_body(file_part(chunk + b"0" * padding))
    assert len(body) == total
    return body


async def test_body_one_byte_over_the_request_limit_is_refused_before_reading(
    make_harness: HarnessFactory,
) -> None:
    async with make_harness(max_file_size=1_000_000) as h:
        limit = h.settings.max_request_size
        body = body_of_length(limit + 1)
        stream = CountingStream(split(body, 1024))
        total_chunks = -(-len(body) // 1024)

        response = await post_stream(h.alice, stream, content_length=len(body))

        await assert_rejected(h, response, 413, "file_too_large")
        # Refused on the Content-Length alone: the body was never read.
        assert stream.pulled <= 1 < total_chunks


async def test_body_exactly_at_the_request_limit_is_not_refused_up_front(
    make_harness: HarnessFactory,
) -> None:
    # The limit is exact: max_request_size bytes pass the Content-Length check and the body is
    # read (the file inside is then over MAX_FILE_SIZE, so the file check answers 413).
    async with make_harness(max_file_size=1_000_000) as h:
        body = body_of_length(h.settings.max_request_size)
        stream = CountingStream(split(body, 64 * 1024))

        response = await post_stream(h.alice, stream, content_length=len(body))

        await assert_rejected(h, response, 413, "file_too_large")
        assert stream.pulled > 1


async def test_file_one_byte_over_max_file_size_is_refused(make_harness: HarnessFactory) -> None:
    async with make_harness(max_file_size=1_000_000) as h:
        content = b"%PDF-1.7\n" + b"0" * (1_000_000 + 1 - 9)
        body = raw_body(file_part(content))
        assert len(body) <= h.settings.max_request_size

        response = await post_bytes(h.alice, body)

        await assert_rejected(h, response, 413, "file_too_large")


async def test_file_exactly_max_file_size_is_accepted(make_harness: HarnessFactory) -> None:
    async with make_harness(max_file_size=1_000_000) as h:
        content = b"%PDF-1.7\n" + b"0" * (1_000_000 - 9)

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
            assert len(stream.probed) == 1 and stream.probed[0].startswith("tmp/upload-")
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

    stream = CountingStream(chunks())

    response = await post_stream(h.alice, stream, content_length=1024)

    await assert_rejected(h, response, 400, "content_length_mismatch")
    assert stream.pulled <= 2 < total_chunks


async def test_content_length_longer_than_the_body_is_refused(harness: Harness) -> None:
    h = harness
    body = raw_body(file_part(make_pdf("short body")))
    stream = CountingStream(split(body, 1024))

    response = await post_stream(h.alice, stream, content_length=len(body) + 10)

    await assert_rejected(h, response, 400, "content_length_mismatch")


# --- 5. not a PDF -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        pytest.param(PNG, 415, "not_a_pdf", id="png-named-pdf"),
        pytest.param(b"\n%PDF-1.7\n" + make_pdf()[9:], 415, "not_a_pdf", id="signature-at-1"),
        pytest.param(b"garbage" + make_pdf(), 415, "not_a_pdf", id="signature-at-7"),
        pytest.param(b"", 422, "empty_file", id="empty"),
        pytest.param(b"%PDF", 415, "not_a_pdf", id="four-bytes"),
    ],
)
async def test_not_a_pdf_is_refused(
    harness: Harness, content: bytes, status: int, code: str
) -> None:
    response = await upload(harness.alice, content, filename="scan.pdf")
    await assert_rejected(harness, response, status, code)


async def test_bare_signature_is_accepted_for_the_pipeline_to_judge(harness: Harness) -> None:
    # The upload checks the signature only; anything deeper is the pipeline's job (Bad PDFs).
    response = await upload(harness.alice, b"%PDF-", filename="scan.pdf")
    assert response.status_code == 201, response.text


async def test_large_non_pdf_is_refused_at_its_first_bytes(make_harness: HarnessFactory) -> None:
    chunk_size = 64 * 1024
    async with make_harness(s3_part_size=5 * MiB) as h:
        body = raw_body(file_part(PNG + b"\x00" * (12 * MiB)))
        stream = CountingStream(split(body, chunk_size))

        response = await post_stream(h.alice, stream, content_length=len(body))

        await assert_rejected(h, response, 415, "not_a_pdf")
        assert stream.pulled <= 2


# --- 6. filenames -----------------------------------------------------------------------------

HOSTILE_NAMES = [
    pytest.param(b"../../etc/passwd.pdf", id="dot-dot"),
    pytest.param(b"..\\..\\windows\\system32\\evil.pdf", id="backslashes"),
    pytest.param(b"C:\\Users\\x\\report.pdf", id="windows-path"),
    pytest.param(b"/etc/passwd.pdf", id="absolute"),
    pytest.param(b"report\x00.exe.pdf", id="nul"),
    pytest.param(b"report\r\n.pdf", id="crlf"),
    pytest.param(b"report\rX-Injected: 1.pdf", id="cr"),
    pytest.param(b"report\nContent-Type: text/html.pdf", id="lf"),
    pytest.param(b"a" * 10_000 + b".pdf", id="10kB-ascii"),
    pytest.param("\U0001f4c4".encode() * 2_500 + b".pdf", id="10kB-emoji"),
    pytest.param("report\u202efdp.exe.pdf".encode(), id="rtl-override"),
    pytest.param("\U0001fa7a r\u00e9sum\u00e9 \U0001f4c4.pdf".encode(), id="emoji"),
    pytest.param(b'quote\\"d; x=y%20.pdf', id="quote-semicolon-percent"),
    pytest.param(b"..pdf", id="dots-only"),
]
_FORBIDDEN_IN_NAME = ("/", "\\", "\x00", "\r", "\n", "\u202e")
_DISPOSITION = re.compile(
    r"attachment; filename=\"(?P<fallback>[^\"\r\n]*)\"; "
    r"filename\*=UTF-8''(?P<encoded>[A-Za-z0-9%._~-]*)"
)


@pytest.mark.parametrize("filename", HOSTILE_NAMES)
async def test_hostile_filename_never_reaches_storage_keys_or_headers(
    harness: Harness, filename: bytes
) -> None:
    h = harness
    content = make_pdf(f"hostile name {filename[:40]!r}")

    response = await post_bytes(h.alice, raw_body(file_part(content, filename=filename)))

    assert response.status_code < 500, response.text
    if response.status_code != 201:
        assert 400 <= response.status_code < 500
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] != "internal_error"
        await assert_nothing_left(h)
        return

    document = response.json()
    assert await h.blob_keys() == [f"documents/{document['id']}/original.pdf"]
    stored = await h.stores.documents.get(owner="alice", document_id=document["id"])
    assert stored.filename == document["filename"]
    for forbidden in _FORBIDDEN_IN_NAME:
        assert forbidden not in stored.filename
    assert 0 < len(stored.filename) <= 255
    assert stored.filename.lower().endswith(".pdf")

    download = await h.alice.get(f"/v1/documents/{document['id']}/content")
    assert download.status_code == 200
    assert download.content == content
    dispositions = download.headers.get_list("content-disposition")
    assert len(dispositions) == 1
    disposition = dispositions[0]
    assert "\r" not in disposition and "\n" not in disposition
    assert disposition.isascii()
    match = _DISPOSITION.fullmatch(disposition)
    assert match is not None, disposition
    fallback = match["fallback"]
    assert all(32 <= ord(ch) < 127 for ch in fallback)
    assert "\\" not in fallback
    assert unquote(match["encoded"], errors="strict") == stored.filename


# --- 7. Content-Type headers that lie ---------------------------------------------------------


async def test_part_content_type_png_with_pdf_bytes_is_accepted(harness: Harness) -> None:
    content = make_pdf("claims to be png")
    response = await post_bytes(
        harness.alice, raw_body(file_part(content, content_type=b"image/png"))
    )
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["content_type"] == "application/pdf"
    download = await harness.alice.get(f"/v1/documents/{document['id']}/content")
    assert download.content == content


@pytest.mark.parametrize("part_type", [b"application/pdf", b""], ids=["says-pdf", "no-type"])
async def test_png_bytes_are_refused_whatever_the_part_says(
    harness: Harness, part_type: bytes
) -> None:
    response = await post_bytes(harness.alice, raw_body(file_part(PNG, content_type=part_type)))
    await assert_rejected(harness, response, 415, "not_a_pdf")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"file": "JVBERi0xLjcK"}'),
        ("application/pdf", make_pdf("raw body")),
        ("application/x-www-form-urlencoded", b"file=%25PDF-1.7"),
        ("text/plain; boundary=" + BOUNDARY.decode(), raw_body(file_part(make_pdf()))),
    ],
    ids=["json", "pdf", "urlencoded", "text-with-boundary"],
)
async def test_request_that_is_not_multipart_is_refused(
    harness: Harness, content_type: str, body: bytes
) -> None:
    response = await post_bytes(harness.alice, body, content_type=content_type)
    await assert_rejected(harness, response, 415, "unsupported_media_type")


# --- 8. multipart abuse -----------------------------------------------------------------------


async def test_two_file_parts_are_refused(harness: Harness) -> None:
    body = raw_body(
        file_part(make_pdf("one"), filename=b"one.pdf"),
        file_part(make_pdf("two"), filename=b"two.pdf"),
    )
    response = await post_bytes(harness.alice, body)
    await assert_rejected(harness, response, 422, "too_many_files")


async def test_second_file_under_another_name_is_refused(harness: Harness) -> None:
    body = raw_body(
        file_part(make_pdf("one")),
        raw_part(b"attachment", make_pdf("two"), filename=b"two.pdf"),
    )
    response = await post_bytes(harness.alice, body)
    await assert_rejected(harness, response, 422, "too_many_files")


async def test_ten_thousand_empty_fields_are_refused_after_a_few_chunks(harness: Harness) -> None:
    fields = [raw_part(b"tags", b"") for _ in range(10_000)]
    body = raw_body(*fields, file_part(make_pdf("after many fields")))
    stream = CountingStream(split(body, 4096))
    total_chunks = -(-len(body) // 4096)

    response = await post_stream(harness.alice, stream, content_length=len(body))

    await assert_rejected(harness, response, 422, "too_many_fields")
    assert stream.pulled <= 3 < total_chunks


async def test_two_megabyte_text_field_is_refused_after_reading_little(harness: Harness) -> None:
    body = raw_body(raw_part(b"title", b"t" * (2 * 1000 * 1000)), file_part(make_pdf("big title")))
    stream = CountingStream(split(body, 8192))
    total_chunks = -(-len(body) // 8192)

    response = await post_stream(harness.alice, stream, content_length=len(body))

    await assert_rejected(harness, response, 413, "field_too_large")
    assert stream.pulled <= 4 < total_chunks


@pytest.mark.parametrize(
    "content_type",
    [
        b"multipart/form-data; boundary=" + b"b" * 71,
        b"multipart/form-data; boundary=" + b"-" * 200,
        b"multipart/form-data",
        b"multipart/form-data; boundary=",
        b'multipart/form-data; boundary="caf\xe9"',
    ],
    ids=["71-chars", "200-dashes", "no-boundary", "empty-boundary", "non-ascii"],
)
async def test_invalid_boundary_is_refused(harness: Harness, content_type: bytes) -> None:
    boundary = b"b" * 71
    body = raw_body(file_part(make_pdf("bad boundary"), boundary=boundary), boundary=boundary)
    response = await harness.alice.post(
        "/v1/documents", content=body, headers={"Content-Type": content_type}
    )
    await assert_rejected(harness, response, 400, "malformed_multipart")


@pytest.mark.parametrize("char", [b"a", b"-"], ids=["letters", "dashes"])
async def test_pathological_boundary_still_parses_exactly(harness: Harness, char: bytes) -> None:
    boundary = char * 70
    near_misses = [
        b"\r\n--" + char * 69 + b"x",
        b"\r\n--" + char * 69 + b"\r\n",
        b"\r\n-" + char * 70,
        b"\r--" + char * 70,
        b"\n--" + char * 70,
    ]
    pattern = b"".join(near_misses)
    content = make_pdf("pathological boundary") + pattern * (2 * MiB // len(pattern))
    assert b"\r\n--" + boundary not in content
    body = raw_body(file_part(content, boundary=boundary), boundary=boundary)

    response = await post_bytes(harness.alice, body, content_type=form_type(boundary))

    assert response.status_code == 201, response.text
    document = response.json()
    assert document["size"] == len(content)
    download = await harness.alice.get(f"/v1/documents/{document['id']}/content")
    assert download.content == content


async def test_missing_file_part_is_refused(harness: Harness) -> None:
    response = await post_bytes(harness.alice, raw_body(raw_part(b"title", b"No file here")))
    await assert_rejected(harness, response, 422, "missing_file")


async def test_empty_form_is_refused(harness: Harness) -> None:
    response = await post_bytes(harness.alice, b"--" + BOUNDARY + b"--\r\n")
    assert response.status_code in (400, 422), response.text
    assert_problem(
        response,
        response.status_code,
        "missing_file" if response.status_code == 422 else "malformed_multipart",
    )
    await assert_nothing_left(harness)


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("name", [b"owner", b"status", b"sha256", b"x"])
async def test_unknown_text_field_is_refused(harness: Harness, where: str, name: bytes) -> None:
    extra = raw_part(name, b"bob")
    pdf = file_part(make_pdf(f"unknown field {name!r} {where}"))
    parts = (extra, pdf) if where == "before" else (pdf, extra)

    response = await post_bytes(harness.alice, raw_body(*parts))

    await assert_rejected(harness, response, 422, "invalid_field")


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(len(b"--\r\n"), id="before-final-dashes"),
        pytest.param(len(BOUNDARY) + 6, id="before-closing-boundary"),
        pytest.param(len(BOUNDARY) + 5000, id="mid-file"),
    ],
)
async def test_body_truncated_before_the_closing_boundary_is_refused(
    harness: Harness, cut: int
) -> None:
    full = raw_body(file_part(make_pdf("truncated") + b"0" * 10_000))
    truncated = full[:-cut]

    response = await post_bytes(harness.alice, truncated)

    await assert_rejected(harness, response, 400, "malformed_multipart")


@pytest.mark.parametrize(
    "filename",
    [b"report.exe", b"report.pdf.exe", b"report", b"report.PDF.html", b"report.pdf "],
)
async def test_extension_other_than_pdf_is_refused(harness: Harness, filename: bytes) -> None:
    response = await post_bytes(
        harness.alice, raw_body(file_part(make_pdf("exe"), filename=filename))
    )
    if filename == b"report.pdf ":
        # Trailing spaces are trimmed from the display name: this is a .pdf.
        assert response.status_code == 201, response.text
        assert response.json()["filename"] == "report.pdf"
        return
    await assert_rejected(harness, response, 415, "unsupported_extension")


async def test_anonymous_upload_is_refused_and_stores_nothing(harness: Harness) -> None:
    response = await post_bytes(harness.anonymous, raw_body(file_part(make_pdf("anon"))))
    assert_problem(response, 401, "unauthenticated")
    await assert_nothing_left(harness)
