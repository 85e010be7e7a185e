"""Hand-built multipart bodies, for the malformed and streamed cases httpx will not make."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

BOUNDARY = "docquery-test-boundary"


def part(name: str, value: bytes, *, filename: str | None = None, content_type: str = "") -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    headers = f"Content-Disposition: {disposition}\r\n"
    if content_type:
        headers += f"Content-Type: {content_type}\r\n"
    return f"--{BOUNDARY}\r\n{headers}\r\n".encode() + value + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def headers(*, content_length: int | None = None, boundary: str = BOUNDARY) -> dict[str, str]:
    result = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if content_length is not None:
        result["Content-Length"] = str(content_length)
    return result


class CountingStream:
    """An async body that yields chunks and counts how many the server pulled."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self.pulled = 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            self.pulled += 1
            yield chunk
