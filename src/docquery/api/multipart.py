"""Streaming multipart/form-data: parse the body as it arrives, never buffering the file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from docquery.domain.uploads import FileChunk, FileEnded, FileStarted, FormField, UploadEvent
from docquery.errors import (
    ContentLengthMismatch,
    FieldTooLarge,
    FileTooLarge,
    MalformedUpload,
    TooManyFields,
    TooManyFiles,
    UnsupportedMediaType,
)

FILE_FIELD = "file"
MAX_PARTS = 16
MAX_FIELD_BYTES = 16 * 1024
MAX_BOUNDARY_LENGTH = 70  # RFC 2046


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data Content-Type; 415 for any other type."""
    media_type, params = parse_options_header(content_type)
    if media_type.lower() != b"multipart/form-data":
        raise UnsupportedMediaType("send the upload as multipart/form-data")
    boundary = params.get(b"boundary", b"")
    if not 0 < len(boundary) <= MAX_BOUNDARY_LENGTH or not boundary.isascii():
        raise MalformedUpload("the multipart boundary is missing or invalid")
    return boundary


@dataclass(slots=True)
class _Collector:
    """Turns the parser's callbacks into upload events, enforcing the form's limits."""

    events: list[UploadEvent] = field(default_factory=list)
    parts: int = 0
    header_name: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    disposition: bytes = b""
    field_name: str | None = None
    field_value: bytearray = field(default_factory=bytearray)
    in_file: bool = False
    files: int = 0
    ended: bool = False

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise TooManyFields(f"a form may have at most {MAX_PARTS} parts")
        self.disposition = b""
        self.field_name = None
        self.field_value.clear()
        self.in_file = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if bytes(self.header_name).strip().lower() == b"content-disposition":
            self.disposition = bytes(self.header_value)
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        kind, params = parse_options_header(self.disposition)
        name = params.get(b"name")
        if kind.lower() != b"form-data" or name is None:
            raise MalformedUpload("every part needs Content-Disposition: form-data; name=...")
        self.field_name = name.decode("utf-8", "replace")
        filename = params.get(b"filename")
        if self.field_name == FILE_FIELD or filename is not None:
            self.files += 1
            if self.files > 1 or self.field_name != FILE_FIELD:
                raise TooManyFiles("send exactly one file part, named 'file'")
            self.in_file = True
            decoded = filename.decode("utf-8", "replace") if filename is not None else None
            self.events.append(FileStarted(filename=decoded))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.events.append(FileChunk(bytes(data[start:end])))
            return
        if len(self.field_value) + (end - start) > MAX_FIELD_BYTES:
            raise FieldTooLarge(f"a text field may have at most {MAX_FIELD_BYTES} bytes")
        self.field_value += data[start:end]

    def on_part_end(self) -> None:
        if self.in_file:
            self.events.append(FileEnded())
            return
        try:
            value = self.field_value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedUpload("text fields must be UTF-8") from exc
        self.events.append(FormField(name=self.field_name or "", value=value))

    def on_end(self) -> None:
        self.ended = True

    def drain(self) -> list[UploadEvent]:
        events, self.events = self.events, []
        return events


async def upload_events(
    body: AsyncIterator[bytes], *, boundary: bytes, max_body: int, declared_length: int | None
) -> AsyncIterator[UploadEvent]:
    """Yield the form's events as the body arrives; the body is counted against its limits."""
    collector = _Collector()
    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": collector.on_part_begin,
            "on_header_field": collector.on_header_field,
            "on_header_value": collector.on_header_value,
            "on_header_end": collector.on_header_end,
            "on_headers_finished": collector.on_headers_finished,
            "on_part_data": collector.on_part_data,
            "on_part_end": collector.on_part_end,
            "on_end": collector.on_end,
        },
    )
    received = 0
    async for chunk in body:
        received += len(chunk)
        if declared_length is not None and received > declared_length:
            raise ContentLengthMismatch("the body is longer than its Content-Length")
        if received > max_body:
            raise FileTooLarge(f"the request body exceeds {max_body} bytes")
        _feed(parser, chunk)
        for event in collector.drain():
            yield event
    if declared_length is not None and received < declared_length:
        raise ContentLengthMismatch("the body is shorter than its Content-Length")
    if not collector.ended:
        raise MalformedUpload("the body ended before the closing multipart boundary")


def _feed(parser: MultipartParser, chunk: bytes) -> None:
    try:
        parser.write(chunk)
    except MultipartParseError as exc:
        raise MalformedUpload("the multipart body could not be parsed") from exc
