"""Hybrid encryption at rest through the portal: upload, streamed decrypting downloads, rotation, key errors."""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import re
import stat

import pytest
import requests

from portal.extensions import storage
from portal.models import Attachment
from portal.storage.crypto import HEADER_SIZE, SEGMENT_SIZE, TAG_SIZE, ciphertext_size
from portal.storage.encryption import ENVELOPE_METADATA
from portal.storage.keys import DecryptionError, Envelope
from tests.support.accounts import PASSWORD
from tests.support.apps import fresh
from tests.support.files import PDF, downloaded, multipart, purge_trash, rows, upload
from tests.support.keys import keypair
from tests.support.settings import restart_with

PAYLOAD = os.urandom(200_000)  # several 64 KiB segments
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@pytest.fixture
def keys(tmp_path):
    return keypair(tmp_path / "keys")


@pytest.fixture
def app_config(keys):
    key_id, public, private = keys
    return {
        "STORAGE_ENCRYPTION": "hybrid",
        "STORAGE_ENCRYPTION_PUBLIC_KEY": public,
        "STORAGE_ENCRYPTION_PRIVATE_KEYS": [private],
    }


def raw_object(row: Attachment) -> bytes:
    return b"".join(storage.get(row.storage_type).open(row.storage_path))


def test_stored_bytes_are_ciphertext_and_the_download_is_the_original(staff_client, document, keys):
    upload(staff_client, document.id, ("secret.bin", PAYLOAD))
    (row,), _ = rows()
    stored = raw_object(row)
    assert PAYLOAD[:64] not in stored and len(stored) == ciphertext_size(len(PAYLOAD))
    assert row.size == len(PAYLOAD) and row.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert Envelope.from_text(row.encryption).key_id == keys[0]
    assert storage.default.stat(row.storage_path).metadata[ENVELOPE_METADATA] == row.encryption
    page = staff_client.get(f"/documents/{document.id}").get_data(as_text=True)
    assert ">encrypted<" in page
    response = staff_client.get(f"/attachments/{row.id}/download")
    assert response.status_code == 200, "encrypted files are streamed by the portal, never redirected"
    assert response.get_data() == PAYLOAD
    response.close()


def test_uploads_and_downloads_read_no_key_file_after_start_up(app, staff_client, document, monkeypatch):
    from portal.storage import StorageEncryption, keys

    reads = []
    read_blocks = keys._read_blocks  # every key file is read through it, public or private
    monkeypatch.setattr(keys, "_read_blocks", lambda path: reads.append(path) or read_blocks(path))
    upload(staff_client, document.id, ("secret.bin", PAYLOAD), ("second.bin", PAYLOAD[:1000]))
    for row in rows()[0]:
        assert downloaded(staff_client, row.id) == PAYLOAD[: row.size]
        with staff_client.get(f"/attachments/{row.id}/download", headers={"Range": "bytes=10-20"}) as part:
            assert part.get_data() == PAYLOAD[10:21]
    assert reads == []
    StorageEncryption.from_config(app.config)  # what start-up does: the counter sees it
    assert sorted(reads) == sorted(
        [app.config["STORAGE_ENCRYPTION_PUBLIC_KEY"], *app.config["STORAGE_ENCRYPTION_PRIVATE_KEYS"]]
    )


@pytest.mark.parametrize("first, last", [(0, 0), (65535, 65536), (70000, 199_999), (131072, 131072)])
def test_ranges_decrypt_only_what_is_asked(staff_client, document, first, last):
    upload(staff_client, document.id, ("secret.bin", PAYLOAD))
    (row,), _ = rows()
    with staff_client.get(f"/attachments/{row.id}/download", headers={"Range": f"bytes={first}-{last}"}) as part:
        assert part.status_code == 206
        assert part.get_data() == PAYLOAD[first : last + 1]


def test_files_stored_before_encryption_keep_working(app, staff_client, document):
    restart_with(app, STORAGE_ENCRYPTION="off")
    upload(staff_client, document.id, ("plain.pdf", PDF))
    restart_with(app, STORAGE_ENCRYPTION="hybrid")
    upload(staff_client, document.id, ("secret.bin", PAYLOAD))
    by_name = {row.filename: row for row in rows()[0]}
    assert by_name["plain.pdf"].encryption is None and by_name["secret.bin"].encryption
    assert downloaded(staff_client, by_name["plain.pdf"].id) == PDF
    assert downloaded(staff_client, by_name["secret.bin"].id) == PAYLOAD


def test_a_host_with_only_the_public_key_uploads_but_cannot_read(app, staff_client, document, keys):
    restart_with(app, STORAGE_ENCRYPTION_PRIVATE_KEYS=[])
    assert upload(staff_client, document.id, ("secret.bin", PAYLOAD), json=True).status_code == 201
    (row,), _ = rows()
    response = staff_client.get(f"/attachments/{row.id}/download")
    assert response.status_code == 503
    assert f"this portal has no private key for key id {keys[0]}" in response.get_data(as_text=True)


def tamper(row: Attachment, position: int) -> None:
    """Flip one bit of the stored ciphertext at ``position``."""
    path = storage.default.local_path(row.storage_path)
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_tampered_object_never_yields_wrong_bytes(app, staff_client, document, caplog):
    upload(staff_client, document.id, ("secret.bin", PAYLOAD))
    (row,), _ = rows()
    tamper(row, HEADER_SIZE + 2 * (SEGMENT_SIZE + TAG_SIZE) + 10)  # in the third segment
    response = fresh(staff_client, f"/attachments/{row.id}/download")
    assert response.status_code == 200  # the first segment was fine: the answer has started
    # The body is read as a server reads it: after the view returned, outside any app or request context.
    with pytest.raises(DecryptionError, match="segment 2"):
        contextvars.Context().run(response.get_data)
    response.close()
    [line] = [r.getMessage() for r in caplog.records if "stopped" in r.getMessage()]
    assert line.startswith(f"download of attachment {row.id} (secret.bin) stopped: ") and "segment 2" in line


@pytest.mark.parametrize("headers", [{}, {"Range": "bytes=10-20"}], ids=["whole", "range"])
def test_a_tampered_first_segment_gets_the_error_page(app, staff_client, document, caplog, headers):
    upload(staff_client, document.id, ("secret.bin", PAYLOAD))
    (row,), _ = rows()
    tamper(row, HEADER_SIZE + 100)
    response = fresh(staff_client, f"/attachments/{row.id}/download", headers=headers)
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "failed its integrity check" in page and "tell an administrator" in page
    assert f"download of attachment {row.id} (secret.bin) refused: " in caplog.text


def test_through_gunicorn_a_tampered_first_segment_is_the_portals_503_page(app, staff_user, document, tmp_path):
    """A real server: the first segment is checked before the status line goes out; a later one is logged."""
    from tests.support.gunicorn import served_by_gunicorn

    log = tmp_path / "gunicorn.log"
    with served_by_gunicorn(app, log=log) as (base, _):
        session = requests.Session()
        token = CSRF.search(session.get(f"{base}/auth/login", timeout=30).text).group(1)
        session.post(
            f"{base}/auth/login",
            data={"email": staff_user.email, "password": PASSWORD, "csrf_token": token},
            timeout=30,
        )
        token = CSRF.search(session.get(f"{base}/documents/{document.id}", timeout=30).text).group(1)
        body, content_type = multipart([("first.bin", PAYLOAD), ("later.bin", PAYLOAD)], csrf_token=token)
        session.post(
            f"{base}/documents/{document.id}/attachments",
            data=body,
            headers={"Content-Type": content_type},
            timeout=60,
        )
        first, later = sorted(rows()[0], key=lambda row: row.filename)
        tamper(first, HEADER_SIZE + 100)
        tamper(later, HEADER_SIZE + 2 * (SEGMENT_SIZE + TAG_SIZE) + 10)
        refused = session.get(f"{base}/attachments/{first.id}/download", timeout=30)
        assert refused.status_code == 503 and refused.headers["Content-Type"].startswith("text/html")
        assert "failed its integrity check" in refused.text and PAYLOAD[:100] not in refused.content
        with pytest.raises(requests.RequestException):  # cut off mid-way: fewer bytes than Content-Length
            session.get(f"{base}/attachments/{later.id}/download", timeout=30).raise_for_status()
    text = log.read_text()
    assert f"download of attachment {first.id} (first.bin) refused: " in text
    assert f"download of attachment {later.id} (later.bin) stopped: " in text and "segment 2" in text


def test_a_tampered_header_gets_an_error_page(staff_client, document):
    upload(staff_client, document.id, ("secret.bin", PAYLOAD))
    (row,), _ = rows()
    path = storage.default.local_path(row.storage_path)
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01
    path.write_bytes(bytes(data))
    response = staff_client.get(f"/attachments/{row.id}/download")
    assert response.status_code == 503 and PAYLOAD[:100] not in response.get_data()


def test_keys_generate_writes_a_private_key_only_the_owner_reads(runner, tmp_path):
    result = runner.invoke(args=["storage", "keys", "generate", str(tmp_path / "new"), "--pq"])
    assert result.exit_code == 0, result.output
    key_id = result.output.split("key id: ")[1].split()[0]
    assert key_id.startswith("mlkem768x25519-")
    private = tmp_path / "new" / f"{key_id}.key.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    again = runner.invoke(args=["storage", "keys", "generate", str(tmp_path / "new")])
    assert again.exit_code == 0  # a second pair beside the first, never an overwrite


def test_rotate_key_rewraps_without_touching_content(app, staff_client, document, runner, keys, tmp_path):
    old_id, _, old_private = keys
    upload(staff_client, document.id, ("a.bin", PAYLOAD), ("b.pdf", PDF))
    before = {row.id: raw_object(row) for row in rows()[0]}
    new_id, new_public, new_private = keypair(tmp_path / "keys2", pq=True)
    restart_with(
        app, STORAGE_ENCRYPTION_PUBLIC_KEY=new_public, STORAGE_ENCRYPTION_PRIVATE_KEYS=[old_private, new_private]
    )
    result = runner.invoke(args=["storage", "rotate-key"])
    assert result.exit_code == 0, result.output
    assert f"2 encrypted files to re-wrap to {new_id}." in result.output and "Re-wrapped 2; 0 failed." in result.output
    for row in rows()[0]:
        assert Envelope.from_text(row.encryption).key_id == new_id
        assert raw_object(row) == before[row.id]
        assert storage.default.stat(row.storage_path).metadata[ENVELOPE_METADATA] == row.encryption
    restart_with(app, STORAGE_ENCRYPTION_PRIVATE_KEYS=[new_private])  # the old key can now be retired
    assert {downloaded(staff_client, row.id) for row in rows()[0]} == {PAYLOAD, PDF}
    again = runner.invoke(args=["storage", "rotate-key"])
    assert "0 encrypted files to re-wrap" in again.output


def test_rotate_key_without_the_old_private_key_reports_each_file(app, staff_client, document, runner, tmp_path):
    upload(staff_client, document.id, ("a.bin", PAYLOAD))
    _, new_public, new_private = keypair(tmp_path / "keys2")
    restart_with(app, STORAGE_ENCRYPTION_PUBLIC_KEY=new_public, STORAGE_ENCRYPTION_PRIVATE_KEYS=[new_private])
    result = runner.invoke(args=["storage", "rotate-key"])
    assert result.exit_code == 1
    assert "no private key for key id" in result.output and "Re-wrapped 0; 1 failed." in result.output


def test_key_rotation_is_in_the_audit_trail_with_its_counts(app, staff_client, document, runner, keys, tmp_path):
    from tests.support.audit import admin_trail

    upload(staff_client, document.id, ("a.bin", PAYLOAD))
    new_id, new_public, new_private = keypair(tmp_path / "keys2")
    restart_with(app, STORAGE_ENCRYPTION_PUBLIC_KEY=new_public, STORAGE_ENCRYPTION_PRIVATE_KEYS=[new_private])
    assert runner.invoke(args=["storage", "rotate-key"]).exit_code == 1  # the old private key is missing
    restart_with(app, STORAGE_ENCRYPTION_PRIVATE_KEYS=[keys[2], new_private])
    assert runner.invoke(args=["storage", "rotate-key"]).exit_code == 0
    trail = admin_trail(app, "admin@example.com", PASSWORD)("storage.rotate_key")
    assert [(row["outcome"], row["address"]) for row in trail] == [("failure", "cli"), ("success", "cli")]
    assert [json.loads(row["detail"]) for row in trail] == [
        {"key_id": new_id, "rewrapped": 0, "current": 0, "failed": 1, "remaining": 1},
        {"key_id": new_id, "rewrapped": 1, "current": 0, "failed": 0, "remaining": 0},
    ]


def test_a_bad_key_file_stops_start_up(tmp_path):
    from portal import ConfigError, create_app

    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(ConfigError) as caught:
        create_app(
            {"INSTANCE_PATH": str(tmp_path)},
            environ={"STORAGE_ENCRYPTION": "hybrid", "STORAGE_ENCRYPTION_PUBLIC_KEY": str(bad)},
        )
    assert str(bad) in str(caught.value) and "\n" not in str(caught.value)


class TestOnS3:
    @pytest.fixture
    def app_config(self, s3_app_config, keys):
        _, public, private = keys
        return {
            **s3_app_config,
            "STORAGE_ENCRYPTION": "hybrid",
            "STORAGE_ENCRYPTION_PUBLIC_KEY": public,
            "STORAGE_ENCRYPTION_PRIVATE_KEYS": [private],
        }

    def test_multipart_encrypted_upload_download_and_rotation(self, app, staff_client, document, runner, tmp_path):
        storage.default.ensure_ready()
        payload = os.urandom(11 * 1024 * 1024 + 5)  # three 5 MiB parts
        upload(staff_client, document.id, ("big.bin", payload))
        (row,), _ = rows()
        assert row.storage_type == "s3"
        stored = raw_object(row)
        assert len(stored) == ciphertext_size(len(payload)) and payload[:1000] not in stored
        assert downloaded(staff_client, row.id) == payload
        _, new_public, new_private = keypair(tmp_path / "keys2")
        restart_with(
            app,
            STORAGE_ENCRYPTION_PUBLIC_KEY=new_public,
            STORAGE_ENCRYPTION_PRIVATE_KEYS=[*app.config["STORAGE_ENCRYPTION_PRIVATE_KEYS"], new_private],
        )
        assert runner.invoke(args=["storage", "rotate-key"]).exit_code == 0
        (row,), _ = rows()
        assert storage.default.stat(row.storage_path).metadata[ENVELOPE_METADATA] == row.encryption
        assert raw_object(row) == stored
        restart_with(app, STORAGE_ENCRYPTION_PRIVATE_KEYS=[new_private])
        with staff_client.get(f"/attachments/{row.id}/download", headers={"Range": "bytes=5242870-5242889"}) as part:
            assert part.get_data() == payload[5242870:5242890]


def test_rotation_survives_deletes_and_reports_files_added_meanwhile(
    app, staff_client, document, runner, keys, tmp_path, monkeypatch
):
    from portal.documents import rotation
    from portal.models import AttachmentStaging
    from tests.support.files import stage

    _, old_public, old_private = keys
    upload(staff_client, document.id, ("a.bin", PAYLOAD), ("b.bin", PAYLOAD), ("c.bin", PAYLOAD))
    stage(staff_client, ("s.bin", PAYLOAD))
    first, second, third = sorted(row.id for row in rows()[0])
    _, new_public, new_private = keypair(tmp_path / "keys2")
    real_rotate_row = rotation.KeyRotationService._rotate_row

    def meanwhile(self, row, report):
        if isinstance(row, Attachment) and row.id == first:
            staff_client.post(f"/attachments/{second}/delete")  # deleted (and purged) before its turn
            purge_trash()
        if isinstance(row, AttachmentStaging):
            # An attachment under the old key arrives after the attachments pass has ended.
            restart_with(app, STORAGE_ENCRYPTION_PUBLIC_KEY=old_public)
            upload(staff_client, document.id, ("late.bin", PAYLOAD))
            restart_with(app, STORAGE_ENCRYPTION_PUBLIC_KEY=new_public)
        return real_rotate_row(self, row, report)

    monkeypatch.setattr(rotation.KeyRotationService, "_rotate_row", meanwhile)
    restart_with(
        app, STORAGE_ENCRYPTION_PUBLIC_KEY=new_public, STORAGE_ENCRYPTION_PRIVATE_KEYS=[old_private, new_private]
    )
    result = runner.invoke(args=["storage", "rotate-key"])
    assert result.exit_code == 1, result.output
    assert "Re-wrapped 3; 0 failed." in result.output and "1 file(s) are still under an older key" in result.output
    monkeypatch.undo()
    again = runner.invoke(args=["storage", "rotate-key"])
    assert again.exit_code == 0 and "Re-wrapped 1; 0 failed." in again.output
