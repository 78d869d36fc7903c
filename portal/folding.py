"""Text folded for search: case- and accent-insensitive the same way on SQLite and PostgreSQL."""

from __future__ import annotations

import unicodedata

# Letters that do not decompose into a base letter and a mark, spelled the way people type them plainly.
_PLAIN = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "ss",
        "æ": "ae",
        "Æ": "ae",
        "ø": "o",
        "Ø": "o",
        "œ": "oe",
        "Œ": "oe",
        "đ": "d",
        "Đ": "d",
        "ł": "l",
        "Ł": "l",
        "ı": "i",
    }
)


def fold(text: str | None) -> str:
    """Lower case without accents, spaces collapsed: "Überweisung  März" → "uberweisung marz".

    Applied in Python to what is stored and to what is searched for, so both engines compare the same
    strings with a plain LIKE (and PostgreSQL's trigram indexes serve it).
    """
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.translate(_PLAIN))
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(bare.casefold().split())


def document_search_text(
    title: str | None, description: str | None, creator: str | None, files: list[tuple[str | None, str | None]]
) -> str:
    """What a document is found by, folded: its title, description and creator's name, then each file's
    name and uploader's name (``files`` as (filename, uploader name) pairs), each distinct word once."""
    parts = [title, description, creator]
    for filename, uploader in files:
        parts += [filename, uploader]
    return " ".join(dict.fromkeys(word for part in parts for word in fold(part).split()))
