"""The extraction worker process: reads PDF paths on stdin, writes page readings on its pipe.

Run as `python -m docquery.pipeline._extract_worker LIMITS_JSON` by `PdfExtractor`, which
imports only its frame constants. It caps its own address space before importing pypdfium2
and Tesseract, so the cap covers everything the process maps. Frames both ways are a 4-byte
big-endian length and a UTF-8 JSON object:

    parent -> worker   {"path": "/tmp/x.pdf"}
    worker -> parent   {"ready": pid} once, then per job {"total": n}, {"read": i, "ocr": k}
                       after page i is read (k pages OCR'd so far), {"page": PAGE_DICT} for
                       i = 1..n, {"done": n}; or {"error": code, "message": s} instead.

Furniture and section paths are decided across the whole document, so the pages are sent
once every page has been read; the "read" frames are the progress meanwhile.
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import signal
import struct
import sys
from typing import IO, Any

from docquery.domain.processing import FailureCode

HEADER = struct.Struct(">I")
# Exit status after a MemoryError: the parent restarts the worker rather than trust its heap.
EXIT_MEMORY = 3
CONTROL_FRAME = 64 * 1024
# Lone surrogates cannot be encoded as UTF-8 downstream; NULs upset text stores.
_UNSAFE = re.compile("[\ud800-\udfff\x00]")


class JobFailed(Exception):
    def __init__(self, code: FailureCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def read_frame(stream: IO[bytes]) -> Any | None:
    """The next frame, or None at end of input."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    body = stream.read(size)
    if len(body) < size:
        return None
    return json.loads(body)


def write_frame(stream: IO[bytes], message: dict[str, Any]) -> None:
    body = json.dumps(message, ensure_ascii=False).encode("utf-8")
    stream.write(HEADER.pack(len(body)) + body)
    stream.flush()


def frame_budget(max_chars: int) -> int:
    """Bytes of page frames one document may send: its text with blocks, tables and JSON."""
    # A page's text appears in its text and again in its blocks; a table cell carries its
    # column header; JSON escapes and UTF-8 take up to 4 bytes a character.
    return 16 * max_chars + CONTROL_FRAME


def main(argv: list[str]) -> int:
    limits = json.loads(argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Ctrl+C in a terminal reaches the whole process group; the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The protocol gets a private copy of stdout; anything printed lands on stderr instead.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    # Imported under the cap, before reporting ready.
    from docquery.pipeline import _reading_job

    reader = _reading_job.Reader(limits)
    write_frame(out, {"ready": os.getpid()})
    while (job := read_frame(sys.stdin.buffer)) is not None:
        _limit_cpu(float(limits["max_timeout_seconds"]))
        try:
            reader.run(job["path"], out)
        except JobFailed as exc:
            write_frame(out, {"error": exc.code.value, "message": exc.message})
        except MemoryError:
            _report_memory_and_exit(out)
    return 0


def _report_memory_and_exit(out: IO[bytes]) -> None:
    # After a MemoryError the heap may be fragmented or half-built objects linger: exit, and
    # let the parent start a fresh worker.
    try:
        write_frame(out, {"error": FailureCode.EXTRACTION_MEMORY.value, "message": "out of memory"})
    finally:
        os._exit(EXIT_MEMORY)


def _limit_cpu(timeout_seconds: float) -> None:
    # A backstop for the parent's wall-clock limit (SIGXCPU ends us if the parent cannot).
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(used + timeout_seconds) + 5
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def clean_text(text: str) -> str:
    """Text safe to store: NULs dropped, lone surrogates replaced."""
    return _UNSAFE.sub(_replacement, text)


def _replacement(match: re.Match[str]) -> str:
    return "" if match.group() == "\x00" else "\ufffd"


if __name__ == "__main__":
    # Run the imported module, not __main__: _reading_job imports this module's JobFailed.
    from docquery.pipeline._extract_worker import main as _main

    sys.exit(_main(sys.argv))
