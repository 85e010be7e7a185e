"""BlobStore: where document bytes and their artifacts live."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BlobInfo:
    size: int


class BlobWriter(Protocol):
    """A write in progress: bytes go in, then exactly one of commit or abort."""

    async def write(self, data: bytes) -> None:
        """Append bytes; may wait while earlier parts are still being sent."""

    async def commit(self) -> None:
        """Make the blob visible under its key, whole."""

    async def abort(self) -> None:
        """Discard everything written; never raises."""


class BlobStore(Protocol):
    """Stores immutable blobs by key."""

    def open_writer(self, key: str, *, content_type: str) -> BlobWriter:
        """Start a streaming write to key; nothing is visible until commit."""
        ...

    def read(self, key: str, *, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
        """Stream a blob's bytes; raises NotFound if it does not exist."""
        ...

    async def stat(self, key: str) -> BlobInfo:
        """Size of a blob; raises NotFound if it does not exist."""
        ...

    async def delete_prefix(self, prefix: str) -> None:
        """Remove every blob whose key starts with prefix (idempotent)."""

    async def presigned_download_url(
        self, key: str, *, filename_header: str, expires_in: int
    ) -> str | None:
        """A short-lived URL a client can fetch directly, or None if the store has none."""

    async def check(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
