"""What every streamed download must carry and must never do, whichever branch serves it."""

from __future__ import annotations

import os

import pytest

from tests.support.files import PDF, legacy_row, rows, upload
from tests.support.keys import keypair
from tests.support.settings import restart_with

PAYLOAD = os.urandom(300_000)  # several 64 KiB segments
SANDBOX = "default-src 'none'; sandbox"


@pytest.fixture
def keys(tmp_path):
    return keypair(tmp_path / "keys")


def _encrypted(app, keys) -> None:
    _, public, private = keys
    restart_with(
        app,
        STORAGE_ENCRYPTION="hybrid",
        STORAGE_ENCRYPTION_PUBLIC_KEY=public,
        STORAGE_ENCRYPTION_PRIVATE_KEYS=[private],
    )


def _assert_sandboxed(response) -> None:
    assert response.status_code in (200, 206)
    assert response.headers["Content-Security-Policy"] == SANDBOX
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("attachment;")


def test_proxied_downloads_are_sandboxed(app, staff_client, document):
    app.config["DOWNLOAD_MODE"] = "proxy"
    upload(staff_client, document.id, ("report.pdf", PDF))
    (row,), _ = rows()
    with staff_client.get(f"/attachments/{row.id}/download") as response:
        _assert_sandboxed(response)
        assert response.get_data() == PDF
    with staff_client.get(f"/attachments/{row.id}/download", headers={"Range": "bytes=0-9"}) as part:
        _assert_sandboxed(part)
        assert part.get_data() == PDF[:10]


def test_encrypted_downloads_are_sandboxed(app, staff_client, document, keys):
    _encrypted(app, keys)
    upload(staff_client, document.id, ("secret.bin", PAYLOAD))
    (row,), _ = rows()
    with staff_client.get(f"/attachments/{row.id}/download") as response:
        _assert_sandboxed(response)
        assert response.get_data() == PAYLOAD


def test_legacy_downloads_are_sandboxed(app, staff_client, document, tmp_path):
    row = legacy_row(document, tmp_path / "storage", "2019/old.pdf")
    with staff_client.get(f"/attachments/{row.id}/download") as response:
        _assert_sandboxed(response)
        assert response.get_data() == PDF


def test_a_tampered_object_streams_only_true_bytes_before_it_stops(app, staff_client, document, keys, tmp_path):
    """A flipped byte in the third segment: what reaches the browser is a true prefix, never a wrong byte."""
    _encrypted(app, keys)
    upload(staff_client, document.id, ("secret.bin", PAYLOAD))
    (row,), _ = rows()
    path = tmp_path / "storage" / row.storage_path
    data = bytearray(path.read_bytes())
    data[150_000] ^= 0x01
    path.write_bytes(bytes(data))

    received = bytearray()
    response = staff_client.get(f"/attachments/{row.id}/download", buffered=False)
    with pytest.raises(Exception, match="segment"):
        for chunk in response.response:
            received += chunk
    response.close()
    assert len(received) < len(PAYLOAD), "the download must stop before the tampered segment"
    assert bytes(received) == PAYLOAD[: len(received)], "every byte sent before the stop is the original"
