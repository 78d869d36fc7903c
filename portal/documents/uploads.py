"""Incoming files: a streaming multipart reader, filename rules, type checks and base64 decoding."""
from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass
from typing import BinaryIO, Iterator

import puremagic
from werkzeug.datastructures import MultiDict
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import NEED_DATA, Data, Epilogue, Field, File, MultipartDecoder, Preamble

READ_SIZE = 256 * 1024
MAX_FIELD_SIZE = 64 * 1024
MAX_PARTS = 1000
SNIFF_SIZE = 8192
MAX_FILENAME_LENGTH = 255
#: a form field that declares the byte count of the file part right after it
SIZE_FIELD = "size"

# Bidirectional overrides and isolates can make "gpj.exe" display as "exe.jpg".
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


class UploadRejected(Exception):
    """Bad input in an upload; the message says what to fix. ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class IncomingFile:
    """One uploaded file: its original name (for display only), declared type and a readable stream."""

    filename: str
    content_type: str
    stream: BinaryIO
    #: the byte count the client declared for the file (the page's script does), checked as it is read
    size: int | None = None


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
                stream = reader if size is None else DeclaredSize(reader, size)
                yield IncomingFile(event.filename, declared, stream, size)
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


class DeclaredSize:
    """A file part that must hold exactly the bytes declared for it: UploadRejected otherwise."""

    def __init__(self, stream: BinaryIO, size: int):
        self._stream, self._size, self._count = stream, size, 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._count += len(data)
        if self._count > self._size or (not data and size != 0 and self._count < self._size):
            raise UploadRejected(f"A file did not have the {self._size} bytes declared for it (did it change "
                                 "while it was sent?). Nothing was saved.")
        return data


def clean_filename(raw: str) -> str:
    """The original name made safe to keep and show: no path, controls, bidi overrides; at most 255 chars.

    The name is only ever displayed (escaped) and used in Content-Disposition; keys are generated.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _BIDI_CONTROLS.sub("", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if name in ("", ".", ".."):
        raise UploadRejected("A file has no usable name. Rename it and upload it again.")
    if len(name) > MAX_FILENAME_LENGTH:
        stem, dot, ext = name.rpartition(".")
        keep = MAX_FILENAME_LENGTH - len(ext) - 1 if dot and len(ext) <= 16 else MAX_FILENAME_LENGTH
        name = (stem[:keep] + "." + ext) if dot and len(ext) <= 16 else name[:MAX_FILENAME_LENGTH]
    return name


def check_extension(filename: str, allowed: frozenset[str]) -> str | None:
    """The file's extension (lower-case), refused unless allowed; None when no allow-list is configured.

    Names ending in a dot or space, and double extensions whose last part is not allowed
    (``x.pdf.exe``), are refused.
    """
    if not allowed:
        return None
    if filename != filename.rstrip(". "):
        raise UploadRejected(f"“{filename}” ends with a dot or space. Rename it and upload it again.")
    stem, dot, ext = filename.rpartition(".")
    ext = ext.lower()
    if not dot or not stem or ext not in allowed:
        kinds = ", ".join(sorted(allowed))
        raise UploadRejected(f"“{filename}” is not an accepted type. Accepted: {kinds}.")
    return ext


def check_signature(filename: str, ext: str, head: bytes) -> None:
    """Refuse a file whose leading bytes identify another type than its extension says.

    Uses puremagic's signature database. Types that have no signature there (plain text, CSV)
    pass as long as the bytes do not clearly belong to a different, known type.
    """
    try:
        matches = [match for match in puremagic.magic_string(head) if match.byte_match]
    except (puremagic.PureError, ValueError):
        matches = []
    found = {match.extension.lower().lstrip(".") for match in matches}
    if ext in found or _same_family(ext, found):
        return
    clearly_other = any(match.confidence >= 0.5 for match in matches)
    if not clearly_other and not _has_signature(ext):
        return
    raise UploadRejected(f"“{filename}” does not look like a .{ext} file. Nothing was saved.")


_FAMILIES = [{"jpg", "jpeg", "jpe", "jfif"}, {"tif", "tiff"}, {"htm", "html"},
             {"docx", "xlsx", "pptx", "zip", "odt", "ods", "odp", "jar", "epub"}, {"doc", "xls", "ppt", "msi"}]


def _same_family(ext: str, found: set[str]) -> bool:
    return any(ext in family and found & family for family in _FAMILIES)


def _has_signature(ext: str) -> bool:
    """True when puremagic knows a leading signature for this extension (so it must be present)."""
    for entry in puremagic.magic_header_array:
        if entry.extension.lower().lstrip(".") == ext and entry.offset == 0:
            return True
    return False


class PeekedStream:
    """A stream whose first bytes were read already (to check them) and are replayed first."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0 or size >= len(self._head):
                head, self._head = self._head, b""
                more = self._rest.read(-1 if size < 0 else size - len(head)) if size != len(head) else b""
                return head + more
            head, self._head = self._head[:size], self._head[size:]
            return head
        return self._rest.read(size)


def peek(stream: BinaryIO, size: int = SNIFF_SIZE) -> tuple[bytes, PeekedStream]:
    """Read up to ``size`` leading bytes and return them with a stream that still yields everything."""
    head = bytearray()
    while len(head) < size:
        chunk = stream.read(size - len(head))
        if not chunk:
            break
        head += chunk
    return bytes(head), PeekedStream(bytes(head), stream)


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
