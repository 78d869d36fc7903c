"""Sizes and durations with what a person reads for them: the same table for Python and for the browser's script."""

from __future__ import annotations

KiB, MiB, GiB, TiB = 1024, 1024**2, 1024**3, 1024**4


# Shared with tests/browser/test_formatting.py, which runs static/format.js on the same inputs.
SIZES = [
    (None, "—"),
    (0, "0 B"),
    (1, "1 B"),
    (2, "2 B"),
    (500, "500 B"),
    (1023, "1023 B"),
    (1023.4, "1023 B"),
    (1023.5, "1.0 KiB"),
    (KiB, "1.0 KiB"),
    (1280, "1.3 KiB"),
    (1536, "1.5 KiB"),
    (1600, "1.6 KiB"),
    (6 * KiB, "6.0 KiB"),
    (10188, "9.9 KiB"),
    (10189, "10 KiB"),
    (10 * KiB, "10 KiB"),
    (10.5 * KiB, "11 KiB"),
    (1_048_063, "1023 KiB"),
    (1_048_064, "1.0 MiB"),
    (MiB, "1.0 MiB"),
    (1.5 * MiB, "1.5 MiB"),
    (100 * MiB, "100 MiB"),
    (1_288_490_189, "1.2 GiB"),
    (7_301_444_403, "6.8 GiB"),
    (5 * TiB, "5.0 TiB"),
    (3 * 1024**5, "3.0 PiB"),
    (5000 * 1024**5, "5000 PiB"),
    (3_573_000.7, "3.4 MiB"),
    (-1536, "-1.5 KiB"),
]


DURATIONS = [
    (None, "—"),
    (0, "0 s"),
    (0.4, "0 s"),
    (0.5, "1 s"),
    (29, "29 s"),
    (29.5, "30 s"),
    (59.4, "59 s"),
    (59.5, "1 min 00 s"),
    (60, "1 min 00 s"),
    (245, "4 min 05 s"),
    (3599, "59 min 59 s"),
    (3600, "1 h 00 min"),
    (3720, "1 h 02 min"),
    (3779, "1 h 02 min"),
    (86399, "23 h 59 min"),
    (86400, "1 d 00 h"),
    (97200, "1 d 03 h"),
    (10_000_000, "115 d 17 h"),
    (-5, "-5 s"),
]
