"""LocalBlobStore: blobs as files under the data directory, written atomically."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from docquery.errors import NotFound, StorageError, StoreUnavailable
from docquery.ports.blobs import BlobInfo

# Bytes gathered before one hop to a thread for the disk write.
_FLUSH_AT = 1024 * 1024


class LocalBlobStore:
    """Files under root/blobs; a write goes to root/tmp, is fsynced, then renamed into place."""

    def __init__(self, root: Path) -> None:
        self._blobs = root / "blobs"
        self._tmp = root / "tmp"

    def prepare(self) -> None:
        """Create the folders and clear temporary files a crash left behind."""
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)
        for leftover in self._tmp.glob("upload-*"):
            leftover.unlink(missing_ok=True)

    def open_writer(self, key: str, *, content_type: str) -> LocalBlobWriter:
        return LocalBlobWriter(self._path(key), self._tmp)

    async def read(self, key: str, *, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError as exc:
            raise NotFound("blob not found") from exc
        try:
            while chunk := await asyncio.to_thread(handle.read, chunk_size):
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    async def stat(self, key: str) -> BlobInfo:
        try:
            result = await asyncio.to_thread(self._path(key).stat)
        except FileNotFoundError as exc:
            raise NotFound("blob not found") from exc
        return BlobInfo(size=result.st_size)

    async def delete_prefix(self, prefix: str) -> None:
        await asyncio.to_thread(self._delete_prefix, prefix)

    async def presigned_download_url(
        self, key: str, *, filename_header: str, expires_in: int
    ) -> str | None:
        return None

    async def check(self) -> None:
        ok = await asyncio.to_thread(os.access, self._blobs, os.W_OK)
        if not ok:
            raise StoreUnavailable("blob directory is not writable")

    def _path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or any(part in ("", ".", "..") or "\\" in part for part in parts):
            raise StorageError("invalid blob key")
        return self._blobs.joinpath(*parts)

    def _delete_prefix(self, prefix: str) -> None:
        # Keys are "<folder>/<id>/<name>": a prefix naming a folder removes it whole. Another
        # delete of the same folder (a racing request, the sweeper) may remove any part of it
        # first: what is already gone is what we wanted.
        target = self._path(prefix.rstrip("/"))
        if target.is_dir():
            _remove_tree(target)
        else:
            target.unlink(missing_ok=True)


class LocalBlobWriter:
    """Streams into a temporary file; commit renames it into place."""

    def __init__(self, final: Path, tmp_dir: Path) -> None:
        self._final = final
        self._tmp_dir = tmp_dir
        self._buffer = bytearray()
        self._handle: BinaryIO | None = None
        self._tmp_path: Path | None = None

    async def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= _FLUSH_AT:
            await self._flush()

    async def commit(self) -> None:
        await self._flush()
        await asyncio.to_thread(self._commit)

    async def abort(self) -> None:
        self._buffer.clear()
        await asyncio.to_thread(self._discard)

    async def _flush(self) -> None:
        if not self._buffer:
            return
        data, self._buffer = bytes(self._buffer), bytearray()
        await asyncio.to_thread(self._write, data)

    def _write(self, data: bytes) -> None:
        if self._handle is None:
            fd, name = tempfile.mkstemp(prefix="upload-", dir=self._tmp_dir)
            self._tmp_path = Path(name)
            self._handle = os.fdopen(fd, "wb")
        self._handle.write(data)

    def _commit(self) -> None:
        if self._handle is None:
            self._write(b"")
        assert self._handle is not None
        assert self._tmp_path is not None
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self._final.parent.mkdir(parents=True, exist_ok=True)
        self._tmp_path.replace(self._final)
        _fsync_dir(self._final.parent)
        self._handle = None
        self._tmp_path = None

    def _discard(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._tmp_path is not None:
            self._tmp_path.unlink(missing_ok=True)
            self._tmp_path = None


def _remove_tree(folder: Path) -> None:
    """Remove a folder and everything in it, tolerating parts removed by someone else meanwhile."""
    # os.walk skips folders that vanish under it; bottom-up, so folders are empty when removed.
    for parent, folders, files in os.walk(folder, topdown=False):
        for name in files:
            Path(parent, name).unlink(missing_ok=True)
        for name in folders:
            _remove_folder(Path(parent, name))
    _remove_folder(folder)


def _remove_folder(folder: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        folder.rmdir()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
