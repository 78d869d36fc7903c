"""Friendly names and icons for attachments' content types ("Word document" for a .docx)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class FileKind:
    """What a table shows for one content type: a name people know and the icon (a symbol in static/file-icons.svg)."""

    label: str
    icon: str


_OPENXML = "application/vnd.openxmlformats-officedocument."
_ODF = "application/vnd.oasis.opendocument."

BY_TYPE: dict[str, FileKind] = {
    "application/pdf": FileKind("PDF", "pdf"),
    "application/msword": FileKind("Word document", "word"),
    _OPENXML + "wordprocessingml.document": FileKind("Word document", "word"),
    _OPENXML + "wordprocessingml.template": FileKind("Word template", "word"),
    "application/rtf": FileKind("Rich text", "word"),
    "text/rtf": FileKind("Rich text", "word"),
    _ODF + "text": FileKind("OpenDocument text", "word"),
    "application/vnd.ms-excel": FileKind("Excel spreadsheet", "sheet"),
    _OPENXML + "spreadsheetml.sheet": FileKind("Excel spreadsheet", "sheet"),
    _OPENXML + "spreadsheetml.template": FileKind("Excel template", "sheet"),
    _ODF + "spreadsheet": FileKind("OpenDocument spreadsheet", "sheet"),
    "text/csv": FileKind("CSV table", "sheet"),
    "application/vnd.ms-powerpoint": FileKind("PowerPoint presentation", "slides"),
    _OPENXML + "presentationml.presentation": FileKind("PowerPoint presentation", "slides"),
    _OPENXML + "presentationml.slideshow": FileKind("PowerPoint presentation", "slides"),
    _ODF + "presentation": FileKind("OpenDocument presentation", "slides"),
    "text/plain": FileKind("Text", "text"),
    "text/markdown": FileKind("Text", "text"),
    "text/html": FileKind("Web page", "text"),
    "application/json": FileKind("Data (JSON)", "text"),
    "application/xml": FileKind("Data (XML)", "text"),
    "text/xml": FileKind("Data (XML)", "text"),
    "message/rfc822": FileKind("Email", "mail"),
    "application/vnd.ms-outlook": FileKind("Email", "mail"),
    "application/zip": FileKind("Archive", "archive"),
    "application/x-zip-compressed": FileKind("Archive", "archive"),
    "application/x-7z-compressed": FileKind("Archive", "archive"),
    "application/x-rar-compressed": FileKind("Archive", "archive"),
    "application/vnd.rar": FileKind("Archive", "archive"),
    "application/x-tar": FileKind("Archive", "archive"),
    "application/gzip": FileKind("Archive", "archive"),
    "application/x-gzip": FileKind("Archive", "archive"),
    "application/x-bzip2": FileKind("Archive", "archive"),
    "application/x-xz": FileKind("Archive", "archive"),
}

BY_FAMILY: dict[str, FileKind] = {
    "image": FileKind("Image", "image"),
    "audio": FileKind("Audio", "audio"),
    "video": FileKind("Video", "video"),
    "text": FileKind("Text", "text"),
}

# Browsers send application/octet-stream for files they do not know; the extension then says more.
BY_EXTENSION: dict[str, str] = {
    "pdf": "application/pdf",
    "doc": "application/msword",
    "docx": _OPENXML + "wordprocessingml.document",
    "odt": _ODF + "text",
    "rtf": "application/rtf",
    "xls": "application/vnd.ms-excel",
    "xlsx": _OPENXML + "spreadsheetml.sheet",
    "ods": _ODF + "spreadsheet",
    "csv": "text/csv",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": _OPENXML + "presentationml.presentation",
    "odp": _ODF + "presentation",
    "txt": "text/plain",
    "md": "text/markdown",
    "eml": "message/rfc822",
    "msg": "application/vnd.ms-outlook",
    "zip": "application/zip",
    "7z": "application/x-7z-compressed",
    "rar": "application/vnd.rar",
    "tar": "application/x-tar",
    "gz": "application/gzip",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "heic": "image/heic",
    "svg": "image/svg+xml",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
}

OTHER = FileKind("File", "file")


def _by_type(content_type: str) -> FileKind | None:
    if content_type in BY_TYPE:
        return BY_TYPE[content_type]
    if content_type.endswith("+xml") and not content_type.startswith("image/"):
        return BY_TYPE["application/xml"]
    return BY_FAMILY.get(content_type.split("/", 1)[0])


def file_kind(content_type: str | None, filename: str | None = None) -> FileKind:
    """The kind of a file from its content type (parameters ignored), else from its filename's extension."""
    essence = (content_type or "").split(";", 1)[0].strip().lower()
    kind = _by_type(essence)
    if kind is not None:
        return kind
    extension = PurePosixPath((filename or "").lower()).suffix.lstrip(".")
    kind = _by_type(BY_EXTENSION.get(extension, ""))
    if kind is None and extension.isascii() and extension.isalnum() and len(extension) <= 5:
        kind = FileKind(f"{extension.upper()} file", OTHER.icon)
    return kind or OTHER
