"""Staged uploads: stage, review, remove, promote on save, base64, and purging what is never saved."""

from __future__ import annotations

import base64
import io
from datetime import timedelta

from portal.extensions import db
from portal.models import AttachmentStaging, Document, utcnow
from tests.support.files import PDF, PNG, downloaded, rows, stage, stored_keys


def test_staged_files_become_attachments_when_the_document_is_saved(staff_client):
    first = stage(staff_client, ("a.pdf", PDF)).get_json()["files"][0]
    second = stage(staff_client, ("b.png", PNG)).get_json()["files"][0]
    assert [key.split("/")[0] for key in stored_keys()] == ["staging", "staging"]
    response = staff_client.post(
        "/documents/new",
        data={"title": "Contract", "description": "", "staged_ids": [str(first["id"]), str(second["id"])]},
    )
    assert response.status_code == 302
    page = staff_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "a.pdf" in page and "b.png" in page
    attachments, staged = rows()
    assert staged == [] and {a.filename for a in attachments} == {"a.pdf", "b.png"}
    assert all(key.startswith("attachments/") for key in stored_keys()) and len(stored_keys()) == 2
    assert {downloaded(staff_client, a.id) for a in attachments} == {PDF, PNG}


def test_removing_a_staged_file(staff_client):
    staged = stage(staff_client, ("a.pdf", PDF)).get_json()["files"][0]
    response = staff_client.post(f"/staging/{staged['id']}/delete", headers={"Accept": "application/json"})
    assert response.get_json() == {"removed": staged["id"]}
    assert rows() == ([], []) and stored_keys() == []


def test_others_staged_files_are_out_of_reach(app, client, auth, staff_user, admin_user):
    auth.login(admin_user.email)
    theirs = stage(client, ("secret.pdf", PDF)).get_json()["files"][0]
    auth.logout()
    auth.login(staff_user.email)
    assert client.post(f"/staging/{theirs['id']}/delete").status_code == 404
    response = client.post("/documents/new", data={"title": "Mine", "staged_ids": [str(theirs["id"])]})
    assert response.status_code == 200  # the form again, saying why (docs/uploads.md, Bad input)
    assert "1 of the staged files is no longer available" in response.get_data(as_text=True)
    assert db.session.query(Document).count() == 0
    assert len(rows()[1]) == 1


def test_a_staged_file_that_expired_meanwhile_stops_the_save(staff_client, runner):
    kept = stage(staff_client, ("kept.pdf", PDF)).get_json()["files"][0]["id"]
    gone = stage(staff_client, ("gone.pdf", PDF)).get_json()["files"][0]["id"]
    staff_client.post(f"/staging/{gone}/delete")
    response = staff_client.post("/documents/new", data={"title": "Doc", "staged_ids": [str(kept), str(gone)]})
    page = response.get_data(as_text=True)
    assert "1 of the staged files is no longer available" in page and "kept.pdf" in page
    assert db.session.query(Document).count() == 0
    assert [row.id for row in rows()[1]] == [kept]


def test_without_javascript_files_travel_with_the_form(staff_client):
    response = staff_client.post(
        "/documents/new",
        data={
            "title": "Plain form",
            "files": [(io.BytesIO(PDF), "plain.pdf"), (io.BytesIO(PNG), "plain.png")],
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "“Plain form” was created with 2 attachments." in response.get_data(as_text=True)
    attachments, staged = rows()
    assert len(attachments) == 2 and staged == []


def test_base64_and_data_urls(staff_client):
    encoded = base64.b64encode(PNG).decode()
    plain = staff_client.post("/staging/base64?filename=paste.png", data=encoded, content_type="text/plain")
    assert plain.status_code == 201, plain.get_json()
    data_url = staff_client.post(
        "/staging/base64?filename=clip", data="data:image/png;base64," + encoded, content_type="text/plain"
    )
    assert data_url.status_code == 201
    assert data_url.get_json()["files"][0]["content_type"] == "image/png"
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    assert staff_client.post("/staging/base64?filename=w.png", data=wrapped).status_code == 201
    _, staged = rows()
    assert len(staged) == 3 and all(row.size == len(PNG) for row in staged)


def test_purge_staging_removes_only_old_unsaved_files(staff_client, runner):
    old = stage(staff_client, ("old.pdf", PDF)).get_json()["files"][0]
    stage(staff_client, ("new.pdf", PDF))
    row = db.session.get(AttachmentStaging, old["id"])
    row.created_at = utcnow() - timedelta(hours=30)
    db.session.commit()
    result = runner.invoke(args=["storage", "purge-staging", "--older-than", "24h"])
    assert result.exit_code == 0, result.output
    assert "Removed 1 staged file older than 1 day" in result.output
    _, staged = rows()
    assert [s.filename for s in staged] == ["new.pdf"] and len(stored_keys()) == 1
    bad = runner.invoke(args=["storage", "purge-staging", "--older-than", "soon"])
    assert bad.exit_code == 2 and "write it like 30m, 24h or 7d" in bad.output


def test_no_database_lock_is_held_while_staged_files_are_copied(app, staff_client, monkeypatch):
    """Other people can sign in and upload while a big promotion copies its objects."""
    import sqlite3

    from sqlalchemy import text

    from portal.extensions import storage

    staged = stage(staff_client, ("a.pdf", PDF)).get_json()["files"][0]["id"]
    provider = storage.default
    real_copy = provider.copy
    writes = []

    def copy_while_someone_writes(src, dst):
        url = db.engine.url
        if url.get_backend_name() == "sqlite":
            with sqlite3.connect(url.database, timeout=1) as other:
                other.execute(
                    "INSERT INTO login_attempt (email, remote_addr, succeeded, created_at)"
                    " VALUES ('x@example.com', '10.0.0.1', 0, '2026-01-01')"
                )
        else:
            with db.engine.begin() as other:
                other.execute(
                    text(
                        "INSERT INTO login_attempt (email, remote_addr, succeeded, created_at)"
                        " VALUES ('x@example.com', '10.0.0.1', false, now())"
                    )
                )
        writes.append(src)
        return real_copy(src, dst)

    monkeypatch.setattr(provider, "copy", copy_while_someone_writes)
    response = staff_client.post("/documents/new", data={"title": "Doc", "staged_ids": [str(staged)]})
    assert response.status_code == 302 and len(writes) == 1


def test_a_legacy_staged_file_is_promoted_into_the_store(app, staff_client, staff_user, tmp_path):
    legacy = tmp_path / "storage" / "legacy" / "tmp"
    legacy.mkdir(parents=True)
    (legacy / "draft.pdf").write_bytes(PDF)
    row = AttachmentStaging(
        filename="draft.pdf",
        content_type="application/pdf",
        size=len(PDF),
        filepath="legacy/tmp/draft.pdf",
        owner_id=staff_user.id,
    )
    db.session.add(row)
    db.session.commit()
    response = staff_client.post("/documents/new", data={"title": "From legacy", "staged_ids": [str(row.id)]})
    assert response.status_code == 302
    (attachment,), staged = rows()
    assert staged == [] and attachment.storage_path.startswith("attachments/") and attachment.location == "local"
    assert downloaded(staff_client, attachment.id) == PDF
    assert (legacy / "draft.pdf").read_bytes() == PDF  # the legacy file itself is left for the migration's quarantine
