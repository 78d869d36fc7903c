"""A database from before object storage, with its files on disk: upgrade, browse, migrate, verify, download."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import requests
from flask_migrate import upgrade
from sqlalchemy import text

from portal.auth.service import create_user
from portal.extensions import db, storage
from tests.databases import engines, scratch_database
from tests.support.accounts import PASSWORD, AuthActions
from tests.support.apps import make_app
from tests.support.buckets import empty_bucket
from tests.support.migration import s3_config

LEGACY = {  # attachment id -> (legacy filepath, bytes)
    1: ("2019/03/contract.pdf", b"%PDF-1.4 contract " + os.urandom(40_000)),
    2: ("2019/03/photo.png", b"\x89PNG\r\n\x1a\n" + os.urandom(3_000)),
    3: ("2020/empty-dir/notes.txt", b"meeting notes\n" * 200),
}
STAGED = ("tmp/draft.png", b"\x89PNG\r\n\x1a\n draft" + os.urandom(500))


@pytest.fixture(params=engines())
def legacy_portal(request, tmp_path, s3_server, bucket_name):
    """A portal whose database was created at 0001_baseline with rows and files, as an old install."""
    with scratch_database(tmp_path / "db", request.param) as url:
        app = make_app(tmp_path, url, **s3_config(tmp_path, s3_server, bucket_name))
        with app.app_context():
            try:
                _old_install(tmp_path / "legacy")
                upgrade()
                storage.get("local").ensure_ready()
                storage.get("s3").ensure_ready()
                create_user("staff@example.com", "Sam Staff", PASSWORD)
                yield app
                empty_bucket(storage.get("s3"))
            finally:
                db.session.remove()
                db.engine.dispose()


def _old_install(root) -> None:
    """Revision 1 with rows inserted as the old portal did, and their files under ``root``."""
    upgrade(revision="0001_baseline")
    postgres = db.engine.dialect.name == "postgresql"
    schema = "document." if postgres else ""
    db.session.execute(
        text("INSERT INTO \"user\" (id, email, name, password_hash) VALUES (1, 'old@example.com', 'Old', 'x')")
    )
    db.session.execute(text(f"INSERT INTO {schema}document (id, title, created_by) VALUES (1, 'Lease', 1)"))
    for row_id, (path, data) in LEGACY.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
        filepath = str(root / path) if row_id == 3 else path  # one old row kept an absolute path
        db.session.execute(
            text(
                f"INSERT INTO {schema}attachment (id, document_id, filename, content_type, size, filepath, "
                "uploaded_by) VALUES (:id, 1, :name, 'application/octet-stream', :size, :path, 1)"
            ),
            {"id": row_id, "name": path.rsplit("/", 1)[1], "size": len(data), "path": filepath},
        )
    (root / STAGED[0]).parent.mkdir(parents=True, exist_ok=True)
    (root / STAGED[0]).write_bytes(STAGED[1])
    db.session.execute(
        text(
            f"INSERT INTO {schema}attachment_staging (id, filename, content_type, size, filepath, owner_id)"
            " VALUES (1, 'draft.png', 'image/png', :size, :path, 1)"
        ),
        {"size": len(STAGED[1]), "path": STAGED[0]},
    )
    if postgres:  # rows inserted with explicit ids: move the sequences past them, as the old portal's were
        for table in ('"user"', "document.document", "document.attachment", "document.attachment_staging"):
            db.session.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            )
    db.session.commit()


def test_upgrade_browse_migrate_verify_and_download_from_the_store(legacy_portal, s3_server):
    app = legacy_portal
    client, runner = app.test_client(), app.test_cli_runner()
    AuthActions(client).login("staff@example.com")
    page = client.get("/documents/1").get_data(as_text=True)
    assert all(path.rsplit("/", 1)[1] in page for path, _ in LEGACY.values())
    for row_id, (_, data) in LEGACY.items():  # before: served from the legacy file
        with client.get(f"/attachments/{row_id}/download") as response:
            assert response.status_code == 200 and response.get_data() == data

    dry = runner.invoke(args=["storage", "migrate", "s3", "--dry-run"])
    assert dry.exit_code == 0 and "total: 4 file(s)" in dry.output and "No row has lost its local file." in dry.output
    moved = runner.invoke(args=["storage", "migrate", "s3", "--batch-size", "2"])
    assert moved.exit_code == 0, moved.output
    assert "4 moved" in moved.output and "0 failed" in moved.output
    verified = runner.invoke(args=["storage", "verify", "--deep"])
    assert verified.exit_code == 0 and "4 ok, 0 mismatched" in verified.output, verified.output

    for row_id, (_, data) in LEGACY.items():  # after: a presigned URL on the store, same bytes
        response = client.get(f"/attachments/{row_id}/download")
        assert response.status_code == 302
        assert response.location.startswith(f"{s3_server.endpoint}/")
        fetched = requests.get(response.location, timeout=10)
        assert fetched.status_code == 200 and fetched.content == data
    schema = "document." if db.engine.dialect.name == "postgresql" else ""
    rows = db.session.execute(text(f"SELECT id, storage_type, size, sha256 FROM {schema}attachment ORDER BY id")).all()
    assert [tuple(row) for row in rows] == [
        (row_id, "s3", len(data), hashlib.sha256(data).hexdigest()) for row_id, (_, data) in LEGACY.items()
    ]
    staged = db.session.execute(text(f"SELECT storage_type, storage_path FROM {schema}attachment_staging")).one()
    assert staged.storage_type == "s3"
    assert b"".join(storage.get("s3").open(staged.storage_path)) == STAGED[1]
    root = Path(app.config["LEGACY_FILES_ROOT"])
    assert all((root / path).exists() for path, _ in LEGACY.values())  # no --delete-source: the files stay
