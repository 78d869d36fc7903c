"""One way to write sizes and durations, and to read durations back, for pages, the CLI and the scripts.

static/format.js ports format_size and format_duration rule for rule; tests/browser/test_formatting.py runs
both on the same inputs. Rounding is done in whole numbers (half up), never by a float formatter, so Python
and JavaScript cannot disagree on a tie.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

MISSING = "—"
SIZE_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")

_DURATION_PART = re.compile(r"([0-9]+)\s*([a-z]+)")
_DURATION_UNITS = {
    "seconds": ("s", "sec", "secs", "second", "seconds"),
    "minutes": ("m", "min", "mins", "minute", "minutes"),
    "hours": ("h", "hr", "hrs", "hour", "hours"),
    "days": ("d", "day", "days"),
    "weeks": ("w", "wk", "wks", "week", "weeks"),
}
_UNIT_NAMES = {word: unit for unit, words in _DURATION_UNITS.items() for word in words}


def round_half_up(value: float) -> int:
    """``value`` rounded half up to a whole number (JavaScript's Math.round)."""
    return math.floor(value + 0.5)


def format_size(size: float | None) -> str:
    """Bytes in binary units: '500 B', '1.5 KiB', '12 MiB', '1.0 GiB'.

    One decimal below 10 of a unit, whole numbers from 10; a value that rounds up to 1024 of a unit
    is written in the next one. None gives '—'.
    """
    if size is None:
        return MISSING
    count = round_half_up(size)
    if count < 0:
        return "-" + format_size(-count)
    if count < 1024:
        return f"{count} B"
    for power, unit in enumerate(SIZE_UNITS, start=1):
        base = 1024**power
        tenths = (count * 20 + base) // (2 * base)
        if tenths < 100:
            return f"{tenths // 10}.{tenths % 10} {unit}"
        whole = (count * 2 + base) // (2 * base)
        if whole < 1024 or unit == SIZE_UNITS[-1]:
            return f"{whole} {unit}"
    raise AssertionError("unreachable: the last unit always returns")


def format_duration(seconds: float | None) -> str:
    """Seconds as '0 s', '29 s', '4 min 05 s', '1 h 02 min', '3 d 04 h' (two units at most). None gives '—'."""
    if seconds is None:
        return MISSING
    total = round_half_up(seconds)
    if total < 0:
        return "-" + format_duration(-total)
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min {total % 60:02d} s"
    if total < 86400:
        return f"{total // 3600} h {total % 3600 // 60:02d} min"
    return f"{total // 86400} d {total % 86400 // 3600:02d} h"


def parse_duration(text: str, *, allow_zero: bool = True) -> timedelta:
    """'10s', '90m', '24h', '30d', '1w2d', '4 min 05 s', '1 h 02 min' -> timedelta.

    Parts are a whole number and a unit (s, m/min, h, d, w, or the words), summed; case and spaces
    do not matter. Raises ValueError for anything else, and for a zero duration unless ``allow_zero``.
    """
    cleaned = text.strip().lower()
    parts = _DURATION_PART.findall(cleaned)
    if not parts or _DURATION_PART.sub("", cleaned).strip() or any(unit not in _UNIT_NAMES for _, unit in parts):
        raise ValueError(f"{text!r} is not a duration; write it like 30m, 24h or 7d (or 1w, 4 min 05 s)")
    try:
        duration = sum((timedelta(**{_UNIT_NAMES[unit]: int(amount)}) for amount, unit in parts), timedelta())
    except OverflowError:
        raise ValueError(f"{text!r} is longer than a duration can be") from None
    if not allow_zero and not duration:
        raise ValueError(f"{text!r} is no time at all; give a duration above zero, e.g. 30m or 24h")
    return duration


_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)")
_SIZE_FACTORS = {
    "": 1,
    "b": 1,
    **{unit: 1000**power for power, unit in enumerate(("kb", "mb", "gb", "tb"), start=1)},
    **{unit.lower(): 1024**power for power, unit in enumerate(SIZE_UNITS[:4], start=1)},
}


def parse_size(text: str) -> int:
    """'500', '500B', '64KiB', '20MB', '1.5 GiB' -> bytes (KB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB of 1024).

    Case and spaces do not matter. Raises ValueError for anything else.
    """
    match = _SIZE.fullmatch(text.strip().lower())
    if match is None or match.group(2) not in _SIZE_FACTORS:
        raise ValueError(f"{text!r} is not a size; write e.g. 500KB, 20MB or 1GiB")
    return int(float(match.group(1)) * _SIZE_FACTORS[match.group(2)])


#: what a rate may say for "no limit" where that is allowed
NO_LIMIT = ("0", "0/s", "off", "unlimited")


def parse_rate(text: str, *, allow_off: bool = False) -> int:
    """'20MB/s', '512KiB/s', '1048576/s' or the same without '/s' -> bytes per second, above zero; with
    ``allow_off`` also 0 for no limit (NO_LIMIT's words).

    Raises ValueError with what to write instead.
    """
    if allow_off and text.strip().lower() in NO_LIMIT:
        return 0
    cleaned = text.strip()
    if cleaned.lower().endswith("/s"):
        cleaned = cleaned[:-2]
    try:
        rate = parse_size(cleaned)
    except ValueError:
        raise ValueError(f"{text!r} is not a rate; write e.g. 20MB/s, 512KiB/s or 1000000/s") from None
    if rate <= 0:
        raise ValueError(f"{text!r} is no rate at all; give bytes per second above zero, e.g. 20MB/s")
    return rate
