"""Generated PDFs for extraction tests: text PDFs of any length and hostile ones.

Most are written byte by byte (`assemble`), so that a broken structure is exactly the one
intended and generation stays fast (500 pages in a few milliseconds). The encrypted ones go
through pypdf's writer, which does the key derivation.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence

from pypdf import PdfReader, PdfWriter

from support.pdfs import sample_pdf

FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
MEDIA_BOX = b"[0 0 612 792]"
MIB = 1024 * 1024


def assemble(objects: Sequence[bytes], *, root: int = 1, eof: bool = True) -> bytes:
    """A PDF file from object bodies (object i+1 is objects[i]) with a correct xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n" % (
        len(objects) + 1,
        root,
        xref,
    )
    if eof:
        out += b"%%EOF\n"
    return bytes(out)


def stream(data: bytes, *, compress: bool = False, extra: bytes = b"") -> bytes:
    """A stream object's body; FlateDecode when compress is set."""
    if compress:
        data = zlib.compress(data, 9)
        extra = b"/Filter /FlateDecode " + extra
    return b"<< /Length %d %s>>\nstream\n%s\nendstream" % (len(data), extra, data)


def page_text(number: int, words: int = 60) -> str:
    """The text written on page `number` of `text_pdf`: a marker and filler words."""
    filler = " ".join(f"word{(number * 7 + i) % 997}" for i in range(words))
    return f"Page {number} marker{number}. {filler}"


def _content(text: str) -> bytes:
    # One Tj per line of ~80 characters, so pypdf sees ordinary lines of text.
    lines, line = [], []
    for word in text.split():
        line.append(word)
        if sum(len(w) + 1 for w in line) > 80:
            lines.append(" ".join(line))
            line = []
    if line:
        lines.append(" ".join(line))
    ops = [b"BT /F1 11 Tf 14 TL 72 740 Td"]
    for item in lines:
        escaped = item.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(b"(%s) Tj T*" % escaped.encode("latin-1"))
    ops.append(b"ET")
    return b"\n".join(ops)


def pages_pdf(contents: Sequence[bytes | None], *, compress: bool = False) -> bytes:
    """A PDF with one page per content stream (None: a page without /Contents)."""
    # 1 catalog, 2 page tree, 3 font, then a page and (maybe) its content stream per page.
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", FONT]
    kids = []
    for content in contents:
        page_number = len(objects) + 1
        kids.append(b"%d 0 R" % page_number)
        resources = b"/Resources << /Font << /F1 3 0 R >> >>"
        if content is None:
            objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox %s >>" % MEDIA_BOX)
            continue
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox %s %s /Contents %d 0 R >>"
            % (MEDIA_BOX, resources, page_number + 1)
        )
        objects.append(stream(content, compress=compress))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids))
    return assemble(objects)


def document_pdf(pages: Sequence[str]) -> bytes:
    """A text PDF with one page per string."""
    return pages_pdf([_content(text) for text in pages], compress=True)


def text_pdf(pages: int = 500, *, words: int = 60) -> bytes:
    """A text PDF of `pages` pages; page n reads `page_text(n, words)`."""
    return pages_pdf([_content(page_text(n, words)) for n in range(1, pages + 1)], compress=True)


def encrypted_pdf(*, user_password: str, algorithm: str = "AES-256", pages: int = 2) -> bytes:
    """A text PDF encrypted with `algorithm` ("RC4-128", "AES-128", "AES-256")."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(pages))))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm=algorithm)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def truncated_pdf() -> bytes:
    """A real PDF (pdflatex, 4 pages) cut in half: no xref, no trailer, no %%EOF."""
    data = sample_pdf("pdflatex-4-pages.pdf")
    return data[: len(data) // 2]


def no_eof_pdf() -> bytes:
    """A complete, valid text PDF whose `%%EOF` line is missing."""
    data = text_pdf(3)
    assert data.endswith(b"%%EOF\n")
    return data.removesuffix(b"%%EOF\n")


def zero_pages_pdf() -> bytes:
    """A well-formed PDF whose page tree is empty."""
    return assemble([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])


def scanned_pdf(pages: int = 3) -> bytes:
    """Pages that only paint an image (as a scanner makes them), and one blank page: no text."""
    width = height = 64
    image = stream(
        bytes(range(256)) * (width * height // 256),
        compress=True,
        extra=b"/Type /XObject /Subtype /Image /Width %d /Height %d "
        b"/ColorSpace /DeviceGray /BitsPerComponent 8 " % (width, height),
    )
    # 1 catalog, 2 page tree, 3 image, 4 content painting it, then the pages.
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",
        image,
        stream(b"q 540 0 0 720 36 36 cm /Im0 Do Q"),
    ]
    kids = []
    for _ in range(pages):
        kids.append(b"%d 0 R" % (len(objects) + 1))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox %s "
            b"/Resources << /XObject << /Im0 3 0 R >> >> /Contents 4 0 R >>" % MEDIA_BOX
        )
    kids.append(b"%d 0 R" % (len(objects) + 1))
    objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox %s >>" % MEDIA_BOX)
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids))
    return assemble(objects)


def flate_bomb(expanded_mib: int) -> bytes:
    """A zlib stream that inflates to `expanded_mib` MiB of spaces, made in microseconds.

    After a full flush deflate output is byte-aligned and its history is reset, so every
    further MiB of spaces compresses to the same ~1 KiB block: it is made once and repeated.
    The stream ends with an empty final block and the Adler-32 of the whole expansion, which
    for a run of one byte value has a closed form.
    """
    chunk = b" " * MIB
    compressor = zlib.compressobj(9)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    length = expanded_mib * MIB
    low = (1 + length * 0x20) % 65521
    high = (length + 0x20 * length * (length + 1) // 2) % 65521
    return first + repeat * (expanded_mib - 1) + b"\x03\x00" + (high << 16 | low).to_bytes(4, "big")


def bomb_pdf(*, expanded_mib: int = 1024, pages: int = 1, shared: bool = True) -> bytes:
    """Pages whose content streams FlateDecode-expand to `expanded_mib` MiB (of spaces) each.

    A 1 GiB expansion costs about 1 MiB of file. With `shared`, every page draws the same
    stream; otherwise each page has its own copy, so a reader that keeps decoded streams holds
    `pages x expanded_mib` MiB.
    """
    data = flate_bomb(expanded_mib)
    content = b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(data), data)
    # 1 catalog, 2 page tree, 3 font, then per page: the page (and its own stream).
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", FONT]
    if shared:
        objects.append(content)
    kids = []
    for _ in range(pages):
        number = len(objects) + 1
        kids.append(b"%d 0 R" % number)
        contents = 4 if shared else number + 1
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox %s "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (MEDIA_BOX, contents)
        )
        if not shared:
            objects.append(content)
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids))
    return assemble(objects)


def circular_kids_pdf() -> bytes:
    """A page tree whose /Kids lead back to itself: 2 -> 3 -> 2."""
    return assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>",
        ]
    )


def circular_contents_pdf() -> bytes:
    """A page whose /Contents array holds itself (object 4 is [4 0 R])."""
    return assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox %s /Contents 4 0 R >>" % MEDIA_BOX,
            b"[4 0 R]",
        ]
    )


def not_a_pdf() -> bytes:
    """Bytes that only claim to be a PDF."""
    return b"%PDF-1.7\n" + b"this is not a pdf\n" * 100
