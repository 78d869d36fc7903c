"""Content-Disposition builder (RFC 6266 / RFC 5987) and the inline safety rule."""

from __future__ import annotations

import pytest

from portal.storage.disposition import FILE_POLICY, VIEW_POLICY, content_disposition, file_policy, safe_disposition

HEADERS = {
    "plain ascii": ("report.pdf", 'attachment; filename="report.pdf"'),
    "spaces kept": ("Quarterly report 2024.xlsx", 'attachment; filename="Quarterly report 2024.xlsx"'),
    "accents": (
        "naïve résumé.pdf",
        "attachment; filename=\"naive resume.pdf\"; filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.pdf",
    ),
    "eszett and en dash": (
        "Straße – Entwurf.pdf",
        "attachment; filename=\"Strasse - Entwurf.pdf\"; filename*=UTF-8''Stra%C3%9Fe%20%E2%80%93%20Entwurf.pdf",
    ),
    "letters nfkd keeps": (
        "Øresund Łódź Æsir.txt",
        'attachment; filename="Oresund Lodz AEsir.txt"; '
        "filename*=UTF-8''%C3%98resund%20%C5%81%C3%B3d%C5%BA%20%C3%86sir.txt",
    ),
    "no ascii at all": ("报告.pdf", "attachment; filename=\"download.pdf\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf"),
    "emoji": ("📎.txt", "attachment; filename=\"download.txt\"; filename*=UTF-8''%F0%9F%93%8E.txt"),
    "quote and backslash": ('a"b\\c.txt', "attachment; filename=\"a_b_c.txt\"; filename*=UTF-8''a%22b_c.txt"),
    "header injection": ("evil\r\nSet-Cookie: a=b.txt", 'attachment; filename="evilSet-Cookie: a=b.txt"'),
    "nul and tab": ("a\x00b\tc.txt", 'attachment; filename="abc.txt"'),
    "path": ("../../etc/passwd", 'attachment; filename=".._.._etc_passwd"'),
    "empty": ("", 'attachment; filename="download"'),
    "only dots": ("..", 'attachment; filename="download"'),
    "percent and semicolon": ("100%; sure.txt", 'attachment; filename="100%; sure.txt"'),
}


@pytest.mark.parametrize("filename, header", HEADERS.values(), ids=HEADERS.keys())
def test_content_disposition(filename, header):
    assert content_disposition(filename) == header
    assert "\r" not in header and "\n" not in header


def test_inline():
    assert content_disposition("scan.pdf", "inline") == 'inline; filename="scan.pdf"'


def test_unknown_disposition_is_refused():
    with pytest.raises(ValueError):
        content_disposition("a.txt", "form-data")


@pytest.mark.parametrize(
    "content_type, expected",
    [
        ("application/pdf", "inline"),
        ("image/png", "inline"),
        ("text/plain; charset=utf-8", "inline"),
        ("text/html", "attachment"),
        ("TEXT/HTML; charset=utf-8", "attachment"),
        ("image/svg+xml", "attachment"),
        ("application/xhtml+xml", "attachment"),
        (None, "attachment"),
        ("application/octet-stream", "attachment"),
        ("application/x-unknown-future", "attachment"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "attachment"),
        ("image/webp", "inline"),
    ],
)
def test_inline_only_for_passive_types(content_type, expected):
    assert safe_disposition("inline", content_type) == expected
    assert safe_disposition("attachment", content_type) == "attachment"


def test_file_policy_sandboxes_both_and_loosens_only_images_and_styles_inline():
    assert file_policy("attachment") == FILE_POLICY == "default-src 'none'; sandbox"
    assert file_policy("inline") == VIEW_POLICY
    assert VIEW_POLICY.endswith("; sandbox") and "script" not in VIEW_POLICY
