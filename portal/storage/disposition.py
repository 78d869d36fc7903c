"""The one place that builds Content-Disposition headers (RFC 6266 with RFC 5987 filename*)."""
from __future__ import annotations

import unicodedata
from urllib.parse import quote

DISPOSITIONS = ("attachment", "inline")

# Types a browser would run as active content on the serving origin; never shown inline.
_ACTIVE_TYPES = frozenset({
    "text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
    "text/javascript", "application/javascript", "application/ecmascript", "text/ecmascript",
    "application/x-shockwave-flash", "text/xsl", "multipart/x-mixed-replace",
})

# Letters and punctuation that NFKD leaves as they are, spelled in ASCII; what is left over after
# both is dropped. Without these "Straße – Entwurf" would fall back to "Strae  Entwurf".
_TRANSLITERATIONS = str.maketrans({
    "ß": "ss", "ẞ": "SS", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Ø": "O", "ø": "o", "Đ": "D",
    "đ": "d", "Ð": "D", "ð": "d", "Þ": "TH", "þ": "th", "Ł": "L", "ł": "l", "ı": "i", "Ħ": "H", "ħ": "h",
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-",
    "‘": "'", "’": "'", "‚": "'", "‹": "'", "›": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
    "€": "EUR", "£": "GBP", "•": "-", "·": "-", "×": "x", "÷": "-",
})

# RFC 5987 attr-char minus nothing: everything else is percent-encoded in filename*.
_ATTR_CHARS = "!#$&+-.^_`|~"


def _clean(filename: str) -> str:
    """Drop control characters (CR, LF, NUL and friends) and path separators from a display name."""
    kept = []
    for char in filename:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            continue
        kept.append("_" if char in "/\\" else char)
    name = "".join(kept).strip()
    return name if name.strip(".") else "download"


def _ascii_fallback(name: str) -> str:
    """An ASCII approximation of ``name`` that is safe inside a quoted-string."""
    spelled = unicodedata.normalize("NFKD", name).translate(_TRANSLITERATIONS)
    folded = spelled.encode("ascii", "ignore").decode("ascii")
    safe = "".join("_" if char in '"\\' or not char.isprintable() else char for char in folded)
    safe = safe.strip()
    stem, dot, suffix = safe.rpartition(".")
    if not safe.strip("._ ") or (safe != name and dot and not stem.strip("._ ")):
        # Nothing readable survived (e.g. an all-CJK name): keep the extension at least.
        suffix = "".join(char for char in suffix if char.isalnum()) if dot else ""
        safe = f"download.{suffix}" if suffix else "download"
    return safe


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """``attachment; filename="..."`` plus ``filename*=UTF-8''...`` when the name is not plain ASCII.

    Raises ValueError for a disposition other than attachment or inline.
    """
    if disposition not in DISPOSITIONS:
        raise ValueError(f"disposition must be one of {DISPOSITIONS}, not {disposition!r}")
    name = _clean(filename or "")
    fallback = _ascii_fallback(name)
    header = f'{disposition}; filename="{fallback}"'
    if fallback != name:
        header += f"; filename*=UTF-8''{quote(name, safe=_ATTR_CHARS)}"
    return header


def safe_disposition(disposition: str, content_type: str | None) -> str:
    """``disposition`` unless it is inline for a type a browser would execute; then attachment."""
    if disposition not in DISPOSITIONS:
        raise ValueError(f"disposition must be one of {DISPOSITIONS}, not {disposition!r}")
    base_type = (content_type or "").split(";", 1)[0].strip().lower()
    if disposition == "inline" and (not base_type or base_type in _ACTIVE_TYPES):
        return "attachment"
    return disposition
