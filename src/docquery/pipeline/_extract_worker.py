"""The extraction worker process: reads PDF paths on stdin, writes pages on its protocol pipe.

Run as `python -m docquery.pipeline._extract_worker LIMITS_JSON` by `PdfExtractor`, which
imports only its frame constants. It caps its own address space before importing pypdf, so the
cap covers everything the process maps. Frames both ways are a 4-byte big-endian length and a
UTF-8 JSON object:

    parent -> worker   {"path": "/tmp/x.pdf"}
    worker -> parent   {"ready": pid} once, then per job {"total": n}, {"page": i, "text": s}
                       for i = 1..n, {"done": n}; or {"error": code, "message": s} instead.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
import resource
import signal
import struct
import sys
import warnings
from pathlib import Path
from typing import IO, Any

from docquery.domain.processing import FailureCode

HEADER = struct.Struct(">I")
# Exit status after a MemoryError: the parent restarts the worker rather than trust its heap.
EXIT_MEMORY = 3
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


def main(argv: list[str]) -> int:
    limits = json.loads(argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Ctrl+C in a terminal reaches the whole process group; the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The protocol gets a private copy of stdout; anything printed lands on stderr instead.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    _quiet_pypdf()
    import pypdf  # noqa: F401  (imported under the cap, before reporting ready)

    write_frame(out, {"ready": os.getpid()})
    while (job := read_frame(sys.stdin.buffer)) is not None:
        _limit_cpu(float(limits["timeout_seconds"]))
        try:
            _extract(job["path"], out, max_pages=limits["max_pages"], max_chars=limits["max_chars"])
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


def _quiet_pypdf() -> None:
    # Hostile PDFs make pypdf warn a lot; the outcome is reported per job instead.
    warnings.simplefilter("ignore")
    logger = logging.getLogger("pypdf")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False


def _limit_cpu(timeout_seconds: float) -> None:
    # A backstop for the parent's wall-clock limit (SIGXCPU ends us if the parent cannot).
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(used + timeout_seconds) + 5
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _extract(path: str, out: IO[bytes], *, max_pages: int, max_chars: int) -> None:
    from pypdf.errors import LimitReachedError

    try:
        _extract_pages(path, out, max_pages=max_pages, max_chars=max_chars)
    except (JobFailed, MemoryError):
        raise
    except LimitReachedError as exc:
        # pypdf's own caps (decompressed stream size, object counts) stop it long before memory
        # runs out; the address-space limit is what reports extraction_memory.
        raise JobFailed(FailureCode.TOO_COMPLEX, f"pypdf limit reached: {exc}") from exc
    except RecursionError as exc:
        raise JobFailed(FailureCode.UNREADABLE_PDF, "structure nested too deeply") from exc
    except Exception as exc:
        # pypdf on a malformed file raises its own errors but also ValueError, KeyError,
        # TypeError, AttributeError, ...: any of them means the file cannot be read.
        message = f"{type(exc).__name__}: {exc}"[:500]
        raise JobFailed(FailureCode.UNREADABLE_PDF, message) from exc


def _extract_pages(path: str, out: IO[bytes], *, max_pages: int, max_chars: int) -> None:
    from pypdf import PdfReader

    try:
        data = io.BytesIO(Path(path).read_bytes())
    except OSError as exc:
        # The caller's file is missing or unreadable: not the document's fault.
        raise JobFailed(FailureCode.STORAGE_ERROR, f"cannot read the file: {exc.strerror}") from exc
    reader = PdfReader(data, strict=False)
    if reader.is_encrypted:
        _decrypt(reader)
    total = len(reader.pages)
    if total == 0:
        raise JobFailed(FailureCode.UNREADABLE_PDF, "the PDF has no pages")
    if total > max_pages:
        raise JobFailed(
            FailureCode.TOO_MANY_PAGES, f"the PDF has {total} pages; the limit is {max_pages}"
        )
    write_frame(out, {"total": total})
    chars = 0
    for number, page in enumerate(reader.pages, start=1):
        text = _UNSAFE.sub(_replacement, page.extract_text())
        chars += len(text)
        if chars > max_chars:
            raise JobFailed(
                FailureCode.TOO_MUCH_TEXT,
                f"more than {max_chars} characters of text (by page {number} of {total})",
            )
        write_frame(out, {"page": number, "text": text})
    write_frame(out, {"done": total})


def _replacement(match: re.Match[str]) -> str:
    return "" if match.group() == "\x00" else "\ufffd"


def _decrypt(reader: Any) -> None:
    from pypdf import PasswordType
    from pypdf.errors import DependencyError

    try:
        result = reader.decrypt("")
    except DependencyError as exc:
        # AES needs the `cryptography` package (pypdf[crypto]); RC4 does not.
        message = f"cannot decrypt: {exc}"
        raise JobFailed(FailureCode.ENCRYPTED_PDF, message) from exc
    except Exception as exc:
        message = f"cannot decrypt: {type(exc).__name__}: {exc}"[:500]
        raise JobFailed(FailureCode.ENCRYPTED_PDF, message) from exc
    if result == PasswordType.NOT_DECRYPTED:
        raise JobFailed(FailureCode.ENCRYPTED_PDF, "the PDF needs a password to open")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
