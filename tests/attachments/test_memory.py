"""No request holds a file in memory: Python's allocations while a large file goes up or comes down
stay a small fraction of its size (tracemalloc counts every allocation, whatever the timing)."""

from __future__ import annotations

import hashlib
import os
import tracemalloc

import pytest

from tests.support.files import declared, multipart, rows

MiB = 1024 * 1024
SIZE = 32 * MiB
BOUND = 8 * MiB  # measured 2-5 MiB: reads of 256 KiB and 1 MiB, 64 KiB segments; a whole file would be 32


def traced_peak(call):
    tracemalloc.start()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


@pytest.fixture(scope="module")
def content() -> bytes:
    return b"%PDF-1.7\n" + os.urandom(SIZE)


@pytest.fixture(params=["plain", "encrypted"])
def app_config(request, tmp_path):
    config = {"DOWNLOAD_MODE": "proxy"}
    if request.param == "encrypted":
        from tests.support.keys import keypair

        _, public, private = keypair(tmp_path / "keys")
        config.update(
            STORAGE_ENCRYPTION="hybrid", STORAGE_ENCRYPTION_PUBLIC_KEY=public, STORAGE_ENCRYPTION_PRIVATE_KEYS=[private]
        )
    return config


@pytest.mark.parametrize("form", ["plain form", "declared size"])
def test_an_upload_and_its_download_never_hold_the_file(staff_client, document, content, form):
    body, content_type = (
        multipart([("big.pdf", content)]) if form == "plain form" else declared([("big.pdf", content, len(content))])
    )
    url = f"/documents/{document.id}/attachments"
    response, peak = traced_peak(
        lambda: staff_client.post(url, data=body, content_type=content_type, headers={"Accept": "application/json"})
    )
    assert response.status_code == 201
    assert peak < BOUND, f"upload peak {peak / MiB:.1f} MiB"
    (row,), _ = rows()

    def download() -> tuple[int, str]:
        digest, size = hashlib.sha256(), 0
        with staff_client.get(f"/attachments/{row.id}/download") as served:
            assert served.status_code == 200
            for chunk in served.response:
                digest.update(chunk)
                size += len(chunk)
        return size, digest.hexdigest()

    (size, sha256), peak = traced_peak(download)
    assert (size, sha256) == (len(content), hashlib.sha256(content).hexdigest())
    assert peak < BOUND, f"download peak {peak / MiB:.1f} MiB"
