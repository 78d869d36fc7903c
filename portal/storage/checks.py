"""The argument rules every provider applies: safe keys, header-safe metadata, SHA-256 hex, byte ranges."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath, PureWindowsPath

from portal.storage.base import StorageMisconfigured

# S3 sends user metadata as x-amz-meta-* headers, so every provider holds to what headers can carry.
_META_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_META_TOTAL = 2048


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """A copy of ``metadata`` after checking it: lowercase names, printable ASCII values, 2 KiB in all.

    Raises ValueError naming the offending entry.
    """
    clean: dict[str, str] = {}
    for name, value in (metadata or {}).items():
        if not isinstance(name, str) or not _META_NAME.fullmatch(name):
            raise ValueError(f"metadata name {name!r} must be lowercase letters, digits or '-'")
        if not isinstance(value, str) or not all(" " <= char <= "~" for char in value):
            raise ValueError(f"metadata {name!r} must be a printable ASCII string")
        clean[name] = value
    if sum(len(name) + len(value) for name, value in clean.items()) > _META_TOTAL:
        raise ValueError(f"metadata is larger than {_META_TOTAL} bytes")
    return clean


def check_sha256(value: str | None) -> str | None:
    """``value`` as lowercase hex, or None; raises ValueError when it is not 64 hex digits."""
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise ValueError("expected_sha256 must be 64 hexadecimal digits")
    return value.lower()


def byte_span(byte_range: tuple[int, int] | None, size: int) -> tuple[int, int]:
    """(offset, length) of the inclusive ``byte_range`` clipped to an object of ``size`` bytes.

    Raises ValueError for a negative or reversed range; a range past the end is empty.
    """
    if byte_range is None:
        return 0, size
    first, last = byte_range
    if first < 0 or last < first:
        raise ValueError(f"byte_range {byte_range!r} must be (first, last) with 0 <= first <= last")
    if first >= size:
        return size, 0
    return first, min(last, size - 1) - first + 1


def check_key(key: str) -> str:
    """``key`` when it is a plain relative key: no control characters, backslash, absolute or drive
    path, empty, ``.``, ``..`` or dot-prefixed component, at most 1024 bytes.

    Raises StorageMisconfigured saying which rule it breaks. Providers apply it to every key; the local
    provider's resolve_key adds the filesystem check on top.
    """
    if not isinstance(key, str) or not key:
        raise StorageMisconfigured("unsafe storage key: empty")
    shown = repr(key[:200])
    if any(ord(char) < 32 or ord(char) == 127 for char in key) or "\\" in key:
        raise StorageMisconfigured(f"unsafe storage key {shown}: control character or backslash")
    if PurePosixPath(key).is_absolute() or PureWindowsPath(key).drive:
        raise StorageMisconfigured(f"unsafe storage key {shown}: absolute path")
    # A dot prefix also reserves every hidden name for the providers' own files (sidecars, temp files).
    if any(part == "" or part.startswith(".") for part in key.split("/")):
        raise StorageMisconfigured(f"unsafe storage key {shown}: empty, '..' or dot-prefixed component")
    if len(key.encode("utf-8", "surrogatepass")) > 1024:
        raise StorageMisconfigured(f"unsafe storage key {shown}: longer than 1024 bytes")
    return key
