"""Files read out of HTTP requests as they stream in: multipart/form-data, a base64 body, a parsed form."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from typing import BinaryIO

from flask import Request
from werkzeug.datastructures import MultiDict
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import NEED_DATA, Data, Epilogue, Field, File, MultipartDecoder, Preamble

from portal.documents.file_rules import IncomingFile, UploadRejected

READ_SIZE = 256 * 1024
MAX_FIELD_SIZE = 64 * 1024
MAX_PARTS = 1000
#: a form field that declares the byte count of the file part right after it
SIZE_FIELD = "size"


def streamed_files(
    request: Request, field_name: str, check_token: Callable[[str | None], None]
) -> Iterator[IncomingFile]:
    """The request's files named ``field_name``, each handed on while it is still arriving.

    The fields before the first file are read first and their ``csrf_token`` given to ``check_token``
    (which raises to refuse the request): the portal's forms send the token before their files.
    Raises UploadRejected for a body that is not multipart/form-data.
    """
    length = request.content_length or request.max_content_length
    reader = MultipartReader(request.stream, request.content_type, length)
    first_file = reader.read_fields()
    check_token(reader.fields.get("csrf_token"))
    return reader.files(field_name, first_file)


def base64_file(request: Request) -> IncomingFile:
    """The file of a ``/staging/base64`` request: base64 (or a data: URL) in the body, its name in ?filename=.

    Raises UploadRejected when the body was sent as a form.
    """
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise UploadRejected("Send the base64 text as the request body (Content-Type: text/plain), not as a form.")
    declared = request.args.get("content_type") or request.headers.get("X-Content-Type")
    return IncomingFile(request.args.get("filename", ""), declared or "", Base64Stream(request.stream))


def form_files(request: Request, field_name: str) -> list[IncomingFile]:
    """The files a form parsed by Flask (request.files) chose for ``field_name``; empty inputs are left out."""
    return [
        IncomingFile(chosen.filename, chosen.mimetype, chosen.stream)
        for chosen in request.files.getlist(field_name)
        if chosen.filename
    ]


class _PartReader:
    """File-like view of one multipart part's bytes, pulled from the decoder as they are read."""

    def __init__(self, events: Iterator):
        self._events = events
        self._buffer = bytearray()
        self._done = False

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            event = next(self._events, None)
            if not isinstance(event, Data):
                raise UploadRejected("The upload was cut off or malformed. Nothing was saved.")
            self._buffer += event.data
            self._done = not event.more_data
        size = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        chunk = bytes(self._buffer[:size])
        del self._buffer[:size]
        return chunk

    def drain(self) -> None:
        while self.read(READ_SIZE):
            pass


class MultipartReader:
    """Reads multipart/form-data from a WSGI input stream as it arrives, so storing can overlap receiving.

    ``fields`` fills up as fields are met; ``files()`` yields each file once, and each must be read
    to its end (or is skipped) before the next one arrives. ``length`` (the request's Content-Length,
    or the largest body allowed) is the most a ``size`` field may declare.
    """

    def __init__(self, stream: BinaryIO, content_type: str | None, length: int | None = None):
        mimetype, options = parse_options_header(content_type or "")
        boundary = options.get("boundary", "")
        if mimetype != "multipart/form-data" or not boundary:
            raise UploadRejected("Send the files as multipart/form-data (a form with enctype=multipart/form-data).")
        self._stream = stream
        self._decoder = MultipartDecoder(boundary.encode("latin-1"), MAX_FIELD_SIZE + READ_SIZE, max_parts=MAX_PARTS)
        self._events = self._pull()
        self.fields: MultiDict = MultiDict()
        self._declared_size: int | None = None
        self._length = length

    def _pull(self) -> Iterator:
        while True:
            try:
                event = self._decoder.next_event()
            except ValueError:
                raise UploadRejected("The upload was cut off or malformed. Nothing was saved.") from None
            if event is NEED_DATA:
                chunk = self._stream.read(READ_SIZE)
                self._decoder.receive_data(chunk or None)
                continue
            if isinstance(event, Epilogue):
                return
            yield event

    def _read_field(self) -> str:
        value = bytearray()
        for event in self._events:
            value += event.data
            if len(value) > MAX_FIELD_SIZE:
                raise UploadRejected("A form field is too long.")
            if not event.more_data:
                break
        return value.decode("utf-8", "replace")

    def read_fields(self) -> File | None:
        """Read fields up to the first file part (returned), or to the end (None)."""
        for event in self._events:
            if isinstance(event, Field) and event.name == SIZE_FIELD:
                self._declared_size = _declared_size(self._read_field(), self._length)
            elif isinstance(event, Field):
                self.fields.add(event.name, self._read_field())
            elif isinstance(event, File):
                return event
            elif not isinstance(event, Preamble):
                raise UploadRejected("The upload was cut off or malformed. Nothing was saved.")
        return None

    def files(self, field_name: str, first: File | None) -> Iterator[IncomingFile]:
        """Every non-empty file input named ``field_name``, starting at ``first`` (from read_fields).

        Other file parts are read and set aside; fields after files are collected into ``fields``.
        """
        event = first
        while event is not None:
            reader = _PartReader(self._events)
            size, self._declared_size = self._declared_size, None
            if event.name == field_name and event.filename:
                declared = event.headers.get("content-type", "application/octet-stream")
                yield IncomingFile(event.filename, declared, reader, size)
            reader.drain()
            event = self.read_fields()


def _declared_size(value: str, limit: int | None) -> int:
    """A ``size`` field's value; never more than the whole request (``limit``), which bounds what
    the store sets aside for the file."""
    if not re.fullmatch(r"[0-9]{1,15}", value.strip()):
        raise UploadRejected("The declared file size is not a whole number of bytes. Nothing was saved.")
    size = int(value)
    if limit is not None and size > limit:
        raise UploadRejected("The declared file size is larger than the whole upload. Nothing was saved.")
    return size


class Base64Stream:
    """Decodes base64 (or a ``data:...;base64,`` URL) from a stream as it is read; whitespace is ignored.

    Raises UploadRejected on the first invalid character, so the store aborts the object.
    """

    def __init__(self, source: BinaryIO):
        self._source = source
        self._pending = b""
        self._started = False
        self._finished = False
        self.declared_type: str | None = None

    def _prefix(self, data: bytes) -> bytes:
        self._started = True
        if data[:5].lower() == b"data:":
            while b"," not in data:
                more = self._source.read(READ_SIZE)
                if not more or len(data) > 1024:
                    raise UploadRejected("The data URL has no comma before its base64 data.")
                data += more
            header, data = data.split(b",", 1)
            if not header.lower().endswith(b";base64"):
                raise UploadRejected("The data URL is not base64-encoded.")
            self.declared_type = header[5:-7].decode("ascii", "replace") or None
        return data

    def read(self, size: int = -1) -> bytes:
        want = READ_SIZE if size < 0 else max(4, (size + 2) // 3 * 4)
        out = bytearray()
        while not self._finished and (size < 0 or len(out) < size):
            raw = self._source.read(want)
            if not self._started and raw:
                raw = self._prefix(raw)
            if not raw:
                self._finished = True
            data = self._pending + b"".join(raw.split())
            usable = len(data) if self._finished else len(data) // 4 * 4
            self._pending = data[usable:]
            out += _decode(data[:usable])
            if size < 0 and not self._finished:
                continue
        return bytes(out)


def _decode(data: bytes) -> bytes:
    if not data:
        return b""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise UploadRejected("The file is not valid base64. Nothing was saved.") from None
