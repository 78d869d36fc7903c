"""A real browser: a PNG renders through its View link, a PDF opens inline, and an uploaded script never runs."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest

from portal.extensions import db
from portal.models import Attachment
from tests.support.accounts import PASSWORD
from tests.support.browser import sign_in

pytestmark = pytest.mark.browser

# Set SCREENSHOTS=DIR to keep pictures of the viewed PNG and of the document page at each width.
SCREENSHOTS = os.environ.get("SCREENSHOTS", "")


def real_png(width: int = 120, height: int = 80) -> bytes:
    """A valid RGB PNG with a diagonal gradient (a browser decodes it to width x height)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 2 % 256, y * 3 % 256, 160)) for x in range(width)) for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def real_pdf() -> bytes:
    """A valid one-page PDF saying "Hello PDF" (the shared fixture passes the signature check but is no document)."""
    stream = b"BT /F1 24 Tf 40 100 Td (Hello PDF) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer << /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


SCRIPT = b"window.uploadedScriptRan = true;"


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def test_view_link_renders_a_png_and_an_uploaded_script_never_runs(
    live_server, page, staff_user, admin_user, tmp_path, app
):
    files = {"chart.png": real_png(), "report.pdf": real_pdf(), "evil.js": SCRIPT}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    sign_in(page, live_server, staff_user.email, PASSWORD)
    page.wait_for_url(live_server + "/")
    page.click("text=New document")
    page.fill("input[name=title]", "Viewer check")
    page.click("button:has-text('Save')")
    page.wait_for_url(f"{live_server}/documents/*")
    document_url = page.url
    page.set_input_files("#files", [str(tmp_path / name) for name in files])
    with page.expect_navigation():
        page.click("#upload-button")
    with app.app_context():
        ids = {row.filename: row.id for row in db.session.query(Attachment)}
    view_links = page.locator("table.attachments a.view")
    assert sorted(view_links.evaluate_all("links => links.map(a => a.getAttribute('href'))")) == sorted(
        [f"/attachments/{ids['chart.png']}/view", f"/attachments/{ids['report.pdf']}/view"]
    )

    for width, height in ((390, 844), (1280, 800)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(document_url)
        assert page.locator(f"a.view[href='/attachments/{ids['chart.png']}/view']").is_visible()
        if SCREENSHOTS:
            page.screenshot(path=str(Path(SCREENSHOTS) / f"document-view-links-{width}.png"), full_page=True)

    # An <img> on the portal's page loads the PNG through the view link (redirect to the signed file link).
    natural_width = page.evaluate(
        """src => new Promise(resolve => {
        const img = new Image();
        img.onload = () => resolve(img.naturalWidth);
        img.onerror = () => resolve(-1);
        img.src = src;
    })""",
        f"/attachments/{ids['chart.png']}/view",
    )
    assert natural_width == 120

    # A <script src> pointing at the uploaded .js (same origin, and the page's policy allows 'self') must not run:
    # the file is answered as application/octet-stream with nosniff, which Chromium refuses to execute.
    served = page.request.get(f"{live_server}/attachments/{ids['evil.js']}/download")
    assert served.status == 200 and served.body() == SCRIPT, "the script is there to be fetched; it just may not run"
    assert served.headers["content-type"] == "application/octet-stream"
    assert served.headers["x-content-type-options"] == "nosniff"
    for path in (f"/attachments/{ids['evil.js']}/download", f"/attachments/{ids['evil.js']}/view"):
        outcome = page.evaluate(
            """src => new Promise(resolve => {
            const script = document.createElement('script');
            script.onload = () => resolve('load');
            script.onerror = () => resolve('error');
            script.src = src;
            document.head.appendChild(script);
        })""",
            path,
        )
        assert outcome == "error"
        assert page.evaluate("typeof window.uploadedScriptRan") == "undefined"

    answer = page.goto(f"{live_server}/attachments/{ids['chart.png']}/view")
    assert answer.headers["content-type"] == "image/png"
    assert answer.headers["content-disposition"].startswith("inline;")
    assert "sandbox" in answer.headers["content-security-policy"]
    assert page.evaluate("document.images.length && document.images[0].naturalWidth") == 120
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / "view-png.png"))

    pdf = page.goto(f"{live_server}/attachments/{ids['report.pdf']}/view")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("inline;")
    assert pdf.all_headers()["content-security-policy"] == answer.all_headers()["content-security-policy"]
    if SCREENSHOTS:
        page.wait_for_timeout(1500)  # the PDF viewer draws after the load event; only the picture waits
        page.screenshot(path=str(Path(SCREENSHOTS) / "view-pdf.png"))
