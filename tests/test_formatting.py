"""Sizes, durations and the duration parser (portal/formatting.py); friendly file kinds (portal/file_kinds.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.file_kinds import file_kind
from portal.formatting import format_duration, format_size, parse_duration, parse_rate, parse_size
from tests.support.formatting_cases import DURATIONS, SIZES


@pytest.mark.parametrize("size, text", SIZES)
def test_sizes_are_binary_with_one_decimal_below_ten(size, text):
    assert format_size(size) == text


@pytest.mark.parametrize("seconds, text", DURATIONS)
def test_durations_have_two_units_at_most(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    "text, expected",
    [
        # what `flask storage purge-staging --older-than` (portal/cli_options.py duration) accepts
        ("24h", timedelta(hours=24)),
        ("30d", timedelta(days=30)),
        ("90m", timedelta(minutes=90)),
        ("7D", timedelta(days=7)),
        # what `flask storage purge-quarantine` (portal/migration/quarantine.py parse_duration) accepts
        ("10s", timedelta(seconds=10)),
        ("1w", timedelta(weeks=1)),
        ("1w2d", timedelta(days=9)),
        ("0s", timedelta()),
        (" 12 h ", timedelta(hours=12)),
        ("1h30m", timedelta(minutes=90)),
        # what format_duration writes, and the words
        ("4 min 05 s", timedelta(minutes=4, seconds=5)),
        ("1 h 02 min", timedelta(hours=1, minutes=2)),
        ("1 d 03 h", timedelta(days=1, hours=3)),
        ("2 weeks 1 day", timedelta(days=15)),
        ("45 Minutes", timedelta(minutes=45)),
    ],
)
def test_durations_parse(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("seconds", [0, 1, 29, 59, 60, 245, 3599, 3600, 3720, 86400, 97200])
def test_what_is_written_reads_back(seconds):
    assert parse_duration(format_duration(seconds)) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "7",
        "h",
        "7x",
        "7 parsecs",
        "-5m",
        "1.5h",
        "7d!",
        "7d,2h",
        "d7",
        "\u00b2h",
        "\u0663h",
        "24h ago",
        "99999999999999999999d",
    ],
)
def test_what_is_not_a_duration_is_refused(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0h", "0d 0m", "0s"])
def test_zero_is_refused_when_asked(text):
    with pytest.raises(ValueError, match="above zero"):
        parse_duration(text, allow_zero=False)


@pytest.mark.parametrize(
    "content_type, filename, label, icon",
    [
        ("application/pdf", "a.pdf", "PDF", "pdf"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "a.docx", "Word document", "word"),
        ("application/msword", "a.doc", "Word document", "word"),
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "a.xlsx", "Excel spreadsheet", "sheet"),
        ("application/vnd.ms-powerpoint", "a.ppt", "PowerPoint presentation", "slides"),
        ("image/png", "a.png", "Image", "image"),
        ("IMAGE/JPEG", "a.jpg", "Image", "image"),
        ("text/plain; charset=utf-8", "a.txt", "Text", "text"),
        ("text/x-python", "a.py", "Text", "text"),
        ("application/zip", "a.zip", "Archive", "archive"),
        ("application/x-7z-compressed", "a.7z", "Archive", "archive"),
        ("audio/mp4", "a.m4a", "Audio", "audio"),
        ("video/mp4", "a.mp4", "Video", "video"),
        ("message/rfc822", "a.eml", "Email", "mail"),
        ("application/atom+xml", "feed", "Data (XML)", "text"),
        # a browser that does not know the type sends octet-stream: the extension says more
        ("application/octet-stream", "Angebot.DOCX", "Word document", "word"),
        ("application/octet-stream", "export.bin", "BIN file", "file"),
        ("application/octet-stream", "no-extension", "File", "file"),
        ("application/octet-stream", "weird.ext-with-dash", "File", "file"),
        (None, None, "File", "file"),
        ("", "", "File", "file"),
    ],
)
def test_content_types_have_friendly_names_and_icons(content_type, filename, label, icon):
    kind = file_kind(content_type, filename)
    assert (kind.label, kind.icon) == (label, icon)


@pytest.mark.parametrize(
    ("text", "size"),
    [("500", 500), ("500B", 500), ("64 KiB", 65536), ("20MB", 20_000_000), ("1.5GiB", 1610612736), ("2tb", 2 * 10**12)],
)
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize(("text", "rate"), [("20MB/s", 20_000_000), ("512KiB/s", 524288), ("1000000/s", 1_000_000)])
def test_parse_rate(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fast", "'fast' is not a rate"),
        ("20 MBs", "'20 MBs' is not a rate"),
        ("-1/s", "'-1/s' is not a rate"),
        ("0/s", "'0/s' is no rate at all"),
        ("20 bits/s", "'20 bits/s' is not a rate"),
    ],
)
def test_parse_rate_refuses_what_is_not_a_rate(text, message):
    with pytest.raises(ValueError, match=message):
        parse_rate(text)
