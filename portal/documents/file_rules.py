"""The rules an uploaded file must pass: a usable name, an allowed extension, leading bytes that match it."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import BinaryIO

import puremagic

SNIFF_SIZE = 8192
MAX_FILENAME_LENGTH = 255
GENERIC_TYPE = "application/octet-stream"

# Bidirectional overrides and isolates can make "gpj.exe" display as "exe.jpg".
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


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
    #: the byte count the client declared for the file (the page's script does); the store holds it to that
    size: int | None = None


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed the rules: its cleaned name, the type to record, and a stream of all its bytes."""

    filename: str
    content_type: str
    stream: BinaryIO


def check_file(incoming: IncomingFile, allowed: frozenset[str]) -> CheckedFile:
    """Apply every rule to ``incoming``, reading only its first bytes; raises UploadRejected saying which failed."""
    filename = clean_filename(incoming.filename)
    ext = check_extension(filename, allowed)
    head, stream = peek(incoming.stream)
    if not head:
        raise UploadRejected(f"“{filename}” is empty. Nothing was saved.")
    if ext:
        check_signature(filename, ext, head)
    # The declared type (form part or data: URL) is never trusted: the portal decides from the bytes.
    return CheckedFile(filename, decided_type(filename, head), stream)


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


_FAMILIES = [
    {"jpg", "jpeg", "jpe", "jfif"},
    {"tif", "tiff"},
    {"htm", "html"},
    {"docx", "xlsx", "pptx", "zip", "odt", "ods", "odp", "jar", "epub"},
    {"doc", "xls", "ppt", "msi"},
]


def _same_family(ext: str, found: set[str]) -> bool:
    return any(ext in family and found & family for family in _FAMILIES)


def _has_signature(ext: str) -> bool:
    """True when puremagic knows a leading signature for this extension (so it must be present)."""
    for entry in puremagic.magic_header_array:
        if entry.extension.lower().lstrip(".") == ext and entry.offset == 0:
            return True
    return False


@dataclass(frozen=True)
class PassiveType:
    """A type the portal serves by name: its MIME type, whether it may be viewed inline, how its bytes begin."""

    mime_type: str
    viewable: bool
    signatures: tuple[bytes, ...] = ()
    text: bool = False

    def matches(self, head: bytes) -> bool:
        """True when ``head`` (the file's first bytes) is this type's signature, or clean UTF-8 for text."""
        if self.text:
            return _is_plain_text(head)
        if self.mime_type == "image/webp":
            return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
        return any(head.startswith(signature) for signature in self.signatures)


_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_OLE = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)
_OFFICE = "application/vnd.openxmlformats-officedocument."
#: the short list of types the portal serves as what they are; every other file is GENERIC_TYPE
PASSIVE_TYPES: dict[str, PassiveType] = {
    "pdf": PassiveType("application/pdf", True, (b"%PDF-",)),
    "png": PassiveType("image/png", True, (b"\x89PNG\r\n\x1a\n",)),
    "jpg": PassiveType("image/jpeg", True, (b"\xff\xd8\xff",)),
    "jpeg": PassiveType("image/jpeg", True, (b"\xff\xd8\xff",)),
    "gif": PassiveType("image/gif", True, (b"GIF87a", b"GIF89a")),
    "webp": PassiveType("image/webp", True),
    "txt": PassiveType("text/plain", True, text=True),
    "csv": PassiveType("text/csv", False, text=True),
    "zip": PassiveType("application/zip", False, _ZIP),
    "docx": PassiveType(_OFFICE + "wordprocessingml.document", False, _ZIP),
    "xlsx": PassiveType(_OFFICE + "spreadsheetml.sheet", False, _ZIP),
    "pptx": PassiveType(_OFFICE + "presentationml.presentation", False, _ZIP),
    "odt": PassiveType("application/vnd.oasis.opendocument.text", False, _ZIP),
    "ods": PassiveType("application/vnd.oasis.opendocument.spreadsheet", False, _ZIP),
    "odp": PassiveType("application/vnd.oasis.opendocument.presentation", False, _ZIP),
    "doc": PassiveType("application/msword", False, _OLE),
    "xls": PassiveType("application/vnd.ms-excel", False, _OLE),
    "ppt": PassiveType("application/vnd.ms-powerpoint", False, _OLE),
}
_TEXT_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _is_plain_text(head: bytes) -> bool:
    """Non-empty UTF-8 without control bytes (a multi-byte character cut off at the end of ``head`` is fine)."""
    if not head or _TEXT_CONTROLS.search(head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def passive_type(filename: str, recorded: str | None = None) -> PassiveType | None:
    """The passive type named by the file's extension, or None when the extension is not on the list.

    A name without an extension (a pasted image) has the passive type recorded for it, if any.
    """
    stem, dot, ext = (filename or "").rpartition(".")
    if dot and stem:
        return PASSIVE_TYPES.get(ext.lower())
    recorded = (recorded or "").split(";")[0].strip().lower()
    return next((kind for kind in PASSIVE_TYPES.values() if kind.mime_type == recorded), None)


# Signatures that name one type on their own, for files whose name has no extension.
_SELF_NAMING = ("pdf", "png", "jpg", "gif", "webp")


def decided_type(filename: str, head: bytes) -> str:
    """The type the portal records: the extension's passive type when the bytes match it, else GENERIC_TYPE.

    A name without an extension gets the type its signature names (PDF or an image), else GENERIC_TYPE.
    """
    stem, dot, _ = (filename or "").rpartition(".")
    candidates = [passive_type(filename)] if dot and stem else [PASSIVE_TYPES[ext] for ext in _SELF_NAMING]
    return next((kind.mime_type for kind in candidates if kind is not None and kind.matches(head)), GENERIC_TYPE)


def download_type(filename: str, recorded: str | None) -> str:
    """The type a download is served as: the recorded type only when it is the file's passive type.

    Rows recorded before the portal decided types hold whatever the uploader declared; those that
    disagree with the extension's passive type are served as GENERIC_TYPE.
    """
    kind = passive_type(filename, recorded)
    recorded = (recorded or "").split(";")[0].strip().lower()
    return kind.mime_type if kind is not None and recorded == kind.mime_type else GENERIC_TYPE


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
