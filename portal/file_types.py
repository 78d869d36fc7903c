"""Kinds of file staff recognise ("PDF", "Spreadsheet"), by MIME type: for the type filter and the tables."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileType:
    """A kind of file: its name for staff and the MIME types (a trailing ``/*`` takes a whole family) it covers."""

    slug: str
    label: str
    mime_types: tuple[str, ...]

    def covers(self, mime_type: str | None) -> bool:
        mime_type = (mime_type or "").split(";")[0].strip().lower()
        return any(
            mime_type.startswith(pattern[:-1]) if pattern.endswith("/*") else mime_type == pattern
            for pattern in self.mime_types
        )


FILE_TYPES: tuple[FileType, ...] = (
    FileType("pdf", "PDF", ("application/pdf",)),
    FileType("image", "Image", ("image/*",)),
    FileType(
        "word",
        "Word document",
        (
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.oasis.opendocument.text",
            "application/rtf",
        ),
    ),
    FileType(
        "spreadsheet",
        "Spreadsheet",
        (
            "application/vnd.ms-excel",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.oasis.opendocument.spreadsheet",
            "text/csv",
        ),
    ),
    FileType(
        "presentation",
        "Presentation",
        (
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "application/vnd.oasis.opendocument.presentation",
        ),
    ),
    FileType("text", "Text", ("text/plain", "text/markdown")),
    FileType("email", "E-mail", ("message/rfc822", "application/vnd.ms-outlook")),
    FileType(
        "archive",
        "Archive",
        (
            "application/zip",
            "application/x-7z-compressed",
            "application/x-tar",
            "application/gzip",
            "application/x-rar-compressed",
        ),
    ),
)
BY_SLUG = {file_type.slug: file_type for file_type in FILE_TYPES}


def file_type_of(mime_type: str | None) -> FileType | None:
    """The kind a MIME type belongs to, or None for anything else."""
    return next((file_type for file_type in FILE_TYPES if file_type.covers(mime_type)), None)
