"""The one place that builds Content-Disposition headers (RFC 6266, RFC 5987 filename*) and file policies."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

DISPOSITIONS = ("attachment", "inline")

# The only types ever shown inline: passive formats whose renderers run no page script. Everything
# else (HTML, SVG, XML, scripts, and whatever a browser might learn to run tomorrow) is an attachment.
INLINE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "text/plain"})

#: the policy on every file answered as a download: nothing loads, nothing runs, a unique origin
FILE_POLICY = "default-src 'none'; sandbox"
#: the policy on a file shown inline: images and inline styles load (Chromium's image and PDF viewers
#: need them), scripts never run and the sandbox gives the document a unique origin. Chromium's PDF
#: viewer renders under exactly this policy (tests/browser/test_viewer.py).
VIEW_POLICY = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"

# Letters and punctuation that NFKD leaves as they are, spelled in ASCII; what is left over after
# both is dropped. Without these "Straße – Entwurf" would fall back to "Strae  Entwurf".
_TRANSLITERATIONS = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "Æ": "AE",
        "æ": "ae",
        "Œ": "OE",
        "œ": "oe",
        "Ø": "O",
        "ø": "o",
        "Đ": "D",
        "đ": "d",
        "Ð": "D",
        "ð": "d",
        "Þ": "TH",
        "þ": "th",
        "Ł": "L",
        "ł": "l",
        "ı": "i",
        "Ħ": "H",
        "ħ": "h",
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "–": "-",
        "—": "-",
        "―": "-",
        "−": "-",
        "‘": "'",
        "’": "'",
        "‚": "'",
        "‹": "'",
        "›": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "«": '"',
        "»": '"',
        "€": "EUR",
        "£": "GBP",
        "•": "-",
        "·": "-",
        "×": "x",
        "÷": "-",
    }
)

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
    """``disposition`` when it is attachment, or inline for one of INLINE_TYPES; attachment otherwise."""
    if disposition not in DISPOSITIONS:
        raise ValueError(f"disposition must be one of {DISPOSITIONS}, not {disposition!r}")
    base_type = (content_type or "").split(";", 1)[0].strip().lower()
    if disposition == "inline" and base_type not in INLINE_TYPES:
        return "attachment"
    return disposition


def file_policy(disposition: str) -> str:
    """The Content-Security-Policy for a file answered with ``disposition`` (VIEW_POLICY only inline)."""
    return VIEW_POLICY if disposition == "inline" else FILE_POLICY
