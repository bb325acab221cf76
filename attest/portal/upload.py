"""Receiving an upload for the verification page without trusting it: the multipart body is parsed
as it streams in and written to files in a private temporary directory, and the request is
refused as soon as it is too large (by its Content-Length before reading anything, else as soon
as the count passes the limit), has too many parts or unexpected ones, or is not multipart.

Starlette's own form parsing reads the whole body before a handler sees it; that is what this
avoids. Nothing of the content is logged.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

if TYPE_CHECKING:  # only declared for type checkers
    from python_multipart.multipart import MultipartCallbacks

MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers on top of the files themselves
MAX_PARTS = 3  # "file", "envelope", and room for a browser's stray submit field; more is refused
FIELDS = frozenset({"file", "envelope"})


class UploadRejected(Exception):
    """The upload is refused: *status* 400 or 413, *code* a short word for the audit trail,
    *message* the English words the API answers. The page says it in its own language: the
    text `verify.errors.<key>` of the portal's catalog (*key* defaults to *code*), with *values*."""

    def __init__(self, status: int, code: str, message: str, key: str | None = None,
                 values: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.key = key or code
        self.values = values or {}


@dataclass
class Upload:
    directory: Path
    parts: dict[str, Path] = field(default_factory=dict)  # field name -> its bytes on disk
    sizes: dict[str, int] = field(default_factory=dict)


@contextmanager
def private_directory() -> Iterator[Path]:
    """A fresh directory only this process's user can read (mkdtemp: mode 0700), removed after."""
    path = Path(tempfile.mkdtemp(prefix="attest-verify-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def limit_bytes(max_upload_mb: int) -> int:
    return max_upload_mb * 1024 * 1024 + MULTIPART_OVERHEAD


class _Sink:
    """python-multipart callbacks writing each part to its own file, refusing what is not asked for."""

    def __init__(self, upload: Upload) -> None:
        self.upload = upload
        self.count = 0
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._out: IO[bytes] | None = None

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field,
            "on_header_value": self.header_value,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self.count += 1
        if self.count > MAX_PARTS:
            raise UploadRejected(400, "too_many_parts", f"the form has more than {MAX_PARTS} parts")
        self._headers = {}
        self._name = None

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = b""
        self._header_value = b""

    def headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("latin-1")
        if disposition != b"form-data" or name not in FIELDS:
            raise UploadRejected(400, "bad_field", "the form may carry only 'file' and 'envelope'")
        if name in self.upload.parts:
            raise UploadRejected(400, "bad_field", f"the form carries '{name}' twice")
        # The client's filename is ignored: the content decides what the file is.
        path = self.upload.directory / f"part-{name}"
        self.upload.parts[name] = path
        self.upload.sizes[name] = 0
        self._name = name
        self._out = path.open("xb")

    def part_data(self, data: bytes, start: int, end: int) -> None:
        assert self._out is not None and self._name is not None
        self._out.write(data[start:end])
        self.upload.sizes[self._name] += end - start

    def part_end(self) -> None:
        self.close()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


async def receive(request: Request, directory: Path, max_upload_mb: int) -> Upload:
    """Parse *request*'s multipart body into *directory*; UploadRejected when it must be refused."""
    limit = limit_bytes(max_upload_mb)
    too_large = UploadRejected(413, "too_large", f"the upload is larger than the {max_upload_mb} MB accepted",
                               values={"mb": max_upload_mb})
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise UploadRejected(400, "bad_request", "the Content-Length header is malformed")
        if int(declared) > limit:
            raise too_large  # before reading a byte of the body
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UploadRejected(400, "bad_request", "send the file as multipart/form-data")
    upload = Upload(directory)
    sink = _Sink(upload)
    parser = MultipartParser(boundary, sink.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise too_large
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        raise UploadRejected(400, "bad_request", "the multipart body is malformed") from None
    finally:
        sink.close()
    if "file" not in upload.parts:
        raise UploadRejected(400, "no_file", "no file was uploaded")
    if upload.sizes["file"] == 0:
        raise UploadRejected(400, "empty", "the uploaded file is empty")
    return upload


def sniff(path: Path) -> str | None:
    """"pdf", "html" or "json" from the content (never the filename), else None."""
    with path.open("rb") as f:
        head = f.read(1024)
    if b"%PDF-" in head:  # ISO 32000-1 §7.5.2 tolerates a little junk before the header
        return "pdf"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if text.startswith(b"{"):
        return "json"
    lowered = text[:64].lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        return "html"
    return None
