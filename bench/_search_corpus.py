"""Shared helpers of the search benchmarks: SciFact as text PDFs, a docquery server, ingest.

The PDFs are written byte by byte, one page per abstract, with two standard fonts: Courier in
WinAnsiEncoding for every cp1252 character, and Symbol, with a ToUnicode map, for Greek letters
and mathematical signs, so that pypdf gives back the abstract's own characters. The few
characters neither font has are replaced by a close equivalent (NFKC, then a small table) and
counted. Courier is monospaced, so lines are wrapped at a fixed number of columns (a Symbol
glyph counts as two) and stay on the page; a page is made taller when an abstract needs it.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import platform
import shutil
import sqlite3
import tempfile
import time
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import httpx
from pypdf import PdfReader

from upload import BIN_DIR, HOST, BenchError, base_env, free_port, spawn, tail, wait_until_up

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"
MIB = 1024 * 1024

# US Letter, 36 pt margins, 7 pt Courier (every glyph 0.6 em wide) on 8 pt lines.
PAGE_WIDTH, PAGE_HEIGHT, MARGIN = 612, 792, 36
FONT_SIZE, LEADING = 7, 8
COLUMNS = int((PAGE_WIDTH - 2 * MARGIN) / (0.6 * FONT_SIZE))
SYMBOL_COLUMNS = 2  # Symbol glyphs are up to 1.04 em wide

# Symbol's built-in encoding: Greek letters on the Latin letters' codes, then signs (the Unicode
# signs themselves, which ruff takes for look-alikes of ASCII ones).
SYMBOL_CODES = dict(
    zip(
        "ΑΒΧΔΕΦΓΗΙϑΚΛΜΝΟΠΘΡΣΤΥςΩΞΨΖαβχδεφγηιϕκλμνοπθρστυϖωξψζ"
        "∀∃∋∗−≅∴⊥∼′≤∞↔←↑→↓″≥∝∂≠≡≈∅∩∪∈∉∇∏√⋅∧∨⇔⇐⇑⇒⇓∑∫",  # noqa: RUF001
        bytes([*range(0x41, 0x5B), *range(0x61, 0x7B)])
        + bytes.fromhex("2224272a2d405c5e7e a2a3a5abacadaeaf b2b3b5b6b9babb")
        + bytes.fromhex("c6c7c8cecfd1d5d6d7d9da dbdcdddedfe5f2"),
        strict=True,
    )
)
# After NFKC, what is still in neither font: the nearest sign that is.
NEAREST = {"\u2010": "-", "\u2011": "-", "\u2a7e": "≥", "\u2a7d": "≤", "\u2236": ":"}
UNKNOWN = "?"

COURIER = b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>"
SYMBOL = b"<< /Type /Font /Subtype /Type1 /BaseFont /Symbol /ToUnicode 5 0 R >>"


@dataclass(frozen=True)
class Abstract:
    doc_id: str
    title: str
    text: str


def load_corpus(path: Path = SCIFACT / "corpus.jsonl") -> list[Abstract]:
    """Every abstract of a BEIR corpus file, in file order."""
    with path.open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return [Abstract(str(row["doc_id"]), row["title"], row["text"]) for row in rows]


def load_queries(path: Path) -> dict[str, str]:
    """query id -> text, from a TSV of `id<TAB>text` lines."""
    rows = (line.split("\t", 1) for line in path.read_text(encoding="utf-8").splitlines())
    return {row[0]: row[1].strip() for row in rows if len(row) == 2}


def load_qrels(path: Path) -> dict[str, set[str]]:
    """query id -> relevant doc ids, from `query<TAB>doc<TAB>score` lines (a header is skipped)."""
    relevant: dict[str, set[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        query, doc, score = line.split("\t")[:3]
        if score.strip().isdigit() and int(score) > 0:
            relevant.setdefault(query, set()).add(doc)
    return relevant


# --- PDFs ------------------------------------------------------------------------------------


def page_text(abstract: Abstract, header: str = "") -> str:
    """What a page says: (an optional header line,) the title, a blank line, the abstract."""
    head = f"{header}\n" if header else ""
    return f"{head}{abstract.title}\n\n{abstract.text}"


def printable(text: str, replaced: Counter[str]) -> str:
    """The text as a PDF can hold it; each character replaced is counted in `replaced`."""
    return "".join(_printable_char(char, replaced) for char in text)


def _printable_char(char: str, replaced: Counter[str]) -> str:
    if char.isspace() or fits(char):
        return char
    equivalent = unicodedata.normalize("NFKC", char)
    if not all(fits(c) for c in equivalent):
        equivalent = NEAREST.get(char, UNKNOWN)
    replaced[char] += 1
    return equivalent


def text_pdf(pages: Sequence[str]) -> bytes:
    """A PDF whose page n shows pages[n - 1] (printable text), wrapped."""
    # 1 catalog, 2 page tree, 3 Courier, 4 Symbol, 5 its ToUnicode map, then page, content.
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", COURIER, SYMBOL, to_unicode()]
    kids = []
    for text in pages:
        lines = wrap(text)
        height = max(PAGE_HEIGHT, 2 * MARGIN + LEADING * len(lines))
        kids.append(b"%d 0 R" % (len(objects) + 1))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R "
            b"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> >>"
            % (PAGE_WIDTH, height, len(objects) + 2)
        )
        objects.append(stream(content(lines, top=height - MARGIN - FONT_SIZE)))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids))
    return assemble(objects)


@dataclass(frozen=True)
class Batch:
    """One PDF to upload: the abstract on page n is doc_ids[n - 1]."""

    title: str
    data: bytes
    doc_ids: tuple[str, ...]


def build_batches(
    abstracts: Sequence[Abstract],
    per_pdf: int,
    *,
    name: str,
    replaced: Counter[str],
    header: str = "",
    verify: bool = True,
) -> list[Batch]:
    """PDFs of per_pdf abstracts each; with verify, pypdf must read every page's words back."""
    batches = []
    for start in range(0, len(abstracts), per_pdf):
        chunk = abstracts[start : start + per_pdf]
        texts = [printable(page_text(abstract, header), replaced) for abstract in chunk]
        title = f"{name}-{start // per_pdf:03d}"
        data = text_pdf(texts)
        if verify and (bad := mismatches(data, texts)):
            page, want, got = bad[0]
            raise BenchError(
                f"{title}: pypdf reads {len(bad)} page(s) differently; page {page}:\n"
                f"written: {want[:300]!r}\nread:    {got[:300]!r}"
            )
        batches.append(Batch(title, data, tuple(abstract.doc_id for abstract in chunk)))
    return batches


def fits(char: str) -> bool:
    return char in SYMBOL_CODES or len(char.encode("cp1252", errors="ignore")) == 1


def columns(word: str) -> int:
    return sum(SYMBOL_COLUMNS if char in SYMBOL_CODES else 1 for char in word)


def wrap(text: str) -> list[str]:
    """Lines of at most COLUMNS columns, broken between words (a longer word gets its own line)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line: list[str] = []
        width = 0
        for word in paragraph.split():
            width += columns(word) + (1 if line else 0)
            if line and width > COLUMNS:
                lines.append(" ".join(line))
                line, width = [], columns(word)
            line.append(word)
        lines.append(" ".join(line))
    return lines


def runs(line: str) -> Iterator[tuple[bytes, bytes]]:
    """(font, encoded bytes) for each stretch of the line that one font draws."""
    font, chunk = b"", bytearray()
    for char in line:
        wanted = b"/F2" if char in SYMBOL_CODES else b"/F1"
        if wanted != font and chunk:
            yield font, bytes(chunk)
            chunk.clear()
        font = wanted
        chunk += bytes([SYMBOL_CODES[char]]) if font == b"/F2" else char.encode("cp1252")
    if chunk:
        yield font, bytes(chunk)


def content(lines: Sequence[str], *, top: int) -> bytes:
    ops = [b"BT %d TL %d %d Td" % (LEADING, MARGIN, top)]
    current = b""
    for line in lines:
        for font, data in runs(line):
            if font != current:
                ops.append(b"%s %d Tf" % (font, FONT_SIZE))
                current = font
            ops.append(b"<%s> Tj" % data.hex().encode())
        ops.append(b"T*")
    ops.append(b"ET")
    return b"\n".join(ops)


def to_unicode() -> bytes:
    """A ToUnicode CMap stream for the Symbol font: each code to the character it stands for."""
    pairs = [b"<%02x> <%04x>" % (code, ord(char)) for char, code in SYMBOL_CODES.items()]
    blocks = [pairs[i : i + 100] for i in range(0, len(pairs), 100)]  # at most 100 per block
    body = b"".join(
        b"%d beginbfchar\n%s\nendbfchar\n" % (len(block), b"\n".join(block)) for block in blocks
    )
    cmap = (
        b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        b"/CMapName /Bench-Symbol-UCS def\n/CMapType 2 def\n"
        b"1 begincodespacerange\n<00> <ff>\nendcodespacerange\n%s"
        b"endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend" % body
    )
    return stream(cmap)


def stream(data: bytes) -> bytes:
    packed = zlib.compress(data, 6)
    return b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(packed), packed)


def assemble(objects: Sequence[bytes]) -> bytes:
    """A PDF file from object bodies (object i+1 is objects[i]), catalog first, with its xref."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def mismatches(data: bytes, expected: Sequence[str]) -> list[tuple[int, str, str]]:
    """Pages whose pypdf text differs from expected in more than whitespace: (page, want, got)."""
    reader = PdfReader(io.BytesIO(data))
    if len(reader.pages) != len(expected):
        return [(0, f"{len(expected)} pages", f"{len(reader.pages)} pages")]
    found = []
    for number, (page, want) in enumerate(zip(reader.pages, expected, strict=True), start=1):
        got = page.extract_text()
        if got.split() != want.split():
            found.append((number, want, got))
    return found


# --- the service -----------------------------------------------------------------------------


@dataclass
class Service:
    """A running `docquery serve` (embedded profile) and where it keeps its data."""

    url: str
    pid: int
    log: Path
    data_dir: Path


@contextlib.contextmanager
def scratch_dir(prefix: str, *, keep: bool) -> Iterator[Path]:
    """A temporary folder for a run's data dir and server log, removed after unless `keep`."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield workdir
    finally:
        if keep:
            print(f"kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def start_service(stack: contextlib.ExitStack, workdir: Path, *, extract_workers: int) -> Service:
    """`docquery serve` on a free loopback port, no auth, no summaries; stopped with stack."""
    port = free_port()
    data_dir = workdir / "data"
    env = base_env(workdir) | {
        "DOCQUERY_PROFILE": "embedded",
        "DOCQUERY_DATA_DIR": str(data_dir),
        "DOCQUERY_AUTH": "none",
        "DOCQUERY_LANGUAGE_MODEL": "disabled",
        "PIPELINE_ENABLED": "true",
        "PIPELINE_CONCURRENCY": str(extract_workers),
        "EXTRACT_WORKERS": str(extract_workers),
    }
    cmd = [str(BIN_DIR / "docquery"), "serve", "--host", HOST, "--port", str(port)]
    proc, log = spawn(stack, "server", cmd, env, workdir)
    url = f"http://{HOST}:{port}"
    wait_until_up(proc, f"{url}/healthz", log)
    return Service(url=url, pid=proc.pid, log=log, data_dir=data_dir)


@dataclass
class Ingested:
    document_ids: list[str]
    pages: int
    upload_seconds: float
    seconds: float  # from the first upload until every document is ready

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds


def ingest(
    client: httpx.Client, service: Service, batches: Sequence[Batch], *, timeout: float
) -> Ingested:
    """Upload the PDFs one after another, then wait until all are ready; times both."""
    started = time.perf_counter()
    ids = []
    for batch in batches:
        response = client.post(
            f"{service.url}/v1/documents",
            files={"file": (f"{batch.title}.pdf", batch.data, "application/pdf")},
            data={"title": batch.title},
        )
        if response.status_code != 201:
            raise BenchError(
                f"upload of {batch.title} answered {response.status_code}: {response.text}"
            )
        ids.append(response.json()["id"])
    uploaded = time.perf_counter()
    pages = sum(wait_ready(client, service, doc_id, deadline=started + timeout) for doc_id in ids)
    return Ingested(ids, pages, uploaded - started, time.perf_counter() - started)


def wait_ready(client: httpx.Client, service: Service, doc_id: str, *, deadline: float) -> int:
    """Poll the document until it is ready (its page count) or failed (BenchError)."""
    while time.perf_counter() < deadline:
        response = client.get(f"{service.url}/v1/documents/{doc_id}")
        response.raise_for_status()
        document = response.json()
        if document["status"] == "ready":
            return int(document["page_count"])
        if document["status"] == "failed":
            raise BenchError(f"document {doc_id} failed: {document.get('failure')}")
        time.sleep(0.1)
    raise BenchError(f"document {doc_id} was not ready in time:\n{tail(service.log)}")


# --- measuring -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * q) - 1)]


def rss_mib(pid: int) -> float:
    """VmRSS of pid in MiB (0 if it is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def children_rss_mib(pid: int) -> float:
    """Summed VmRSS of pid's child processes (the extraction workers)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    children = path.read_text().split() if path.exists() else []
    return sum(rss_mib(int(child)) for child in children)


def dir_mib(path: Path) -> float:
    """Bytes of every file under path, in MiB."""
    total = 0
    for root, _dirs, files in os.walk(path):
        total += sum(Path(root, name).stat().st_size for name in files)
    return total / MIB


def machine() -> dict[str, object]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), "")
    packages = ("docquery", "fastapi", "starlette", "uvicorn", "httpx", "pypdf")
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "packages": {name: metadata.version(name) for name in packages},
    }
