"""/admin/storage/missing: rows runs found without their bytes, checked again, paged; "mark as lost" asks,
removes only a row whose bytes are nowhere, and is recorded."""

from __future__ import annotations

import io
import json

from sqlalchemy import select

from portal.extensions import db
from portal.migration.models import MigrationRun
from portal.migration.options import MigrationOptions
from portal.migration.service import DocumentMigrationService
from portal.models import Attachment, AuditEvent
from tests.migration.factory import payload


def _run_to_end(**options):
    service = DocumentMigrationService()
    return service.migrate_all_attachments(service.start_run(MigrationOptions(**options)))


def _lost_row(files, name="Vertrag.pdf"):
    row = files.legacy(payload(100), name=name)
    files.path_of(row).unlink()
    return row


def _events(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def _item_id(page: str) -> int:
    return int(page.split("/admin/storage/missing/")[1].split("/lost")[0])


def test_a_file_a_run_found_missing_is_listed_and_counted_on_the_dashboard(admin_client, files, store):
    row = _lost_row(files)
    run = _run_to_end()
    dashboard = admin_client.get("/admin/storage").get_data(as_text=True)
    assert 'id="missing-bytes"' in dashboard and "Check and settle them" in dashboard
    page = admin_client.get("/admin/storage/missing").get_data(as_text=True)
    listed = page.split('id="missing-files"')[1]
    assert f'<a href="/documents/{row.document_id}">Vertrag.pdf</a>' in listed
    assert "Missing everywhere" in listed and f"run #{run.id}</a>" in listed and "source missing" in listed
    assert "Local disk (older files)" in listed and 'aria-label="Mark Vertrag.pdf as lost"' in listed
    run_page = admin_client.get(f"/admin/storage/runs/{run.id}").get_data(as_text=True)
    assert 'href="/admin/storage/missing"' in run_page


def test_mark_as_lost_asks_first_and_an_unconfirmed_post_removes_nothing(admin_client, files, store):
    row = _lost_row(files)
    _run_to_end()
    item = _item_id(admin_client.get("/admin/storage/missing").get_data(as_text=True))
    response = admin_client.post(f"/admin/storage/missing/{item}/lost")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Mark Vertrag.pdf as lost and remove its row?" in page
    assert "the audit trail keeps its name, size, SHA-256 and where it was" in page
    db.session.expire_all()
    assert db.session.get(Attachment, row.id) is not None and _events("file.lost") == []


def test_a_confirmed_mark_as_lost_removes_the_row_and_records_it(admin_client, files, store):
    row = _lost_row(files)
    row_id, document_id, filepath = row.id, row.document_id, row.filepath
    _run_to_end()
    item = _item_id(admin_client.get("/admin/storage/missing").get_data(as_text=True))
    page = admin_client.post(
        f"/admin/storage/missing/{item}/lost", data={"confirmed": "yes"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Vertrag.pdf is marked as lost and its row is removed" in page
    assert "No run has found a file without its bytes." in page
    db.session.expire_all()
    assert db.session.get(Attachment, row_id) is None
    [event] = _events("file.lost")
    detail = json.loads(event.detail)
    assert (event.object_type, event.object_id) == ("attachment", str(row_id))
    assert (detail["filename"], detail["document_id"], detail["filepath"]) == ("Vertrag.pdf", document_id, filepath)
    assert detail["reason"].startswith("source missing") and detail["size"] == 100


def test_a_file_found_again_is_not_removed(admin_client, files, store):
    row = files.legacy(payload(100), name="back.pdf")
    data = files.path_of(row).read_bytes()
    files.path_of(row).unlink()
    _run_to_end()
    files.path_of(row).write_bytes(data)  # someone restored it from a backup
    page = admin_client.get("/admin/storage/missing").get_data(as_text=True)
    assert "Found again" in page and "Mark back.pdf as lost" not in page
    item = _item_id_from_db()
    refused = admin_client.post(
        f"/admin/storage/missing/{item}/lost", data={"confirmed": "yes"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "back.pdf is not lost: its bytes are back where the row says. Nothing was removed." in refused
    db.session.expire_all()
    assert db.session.get(Attachment, row.id) is not None


def test_an_object_a_later_verification_finds_whole_leaves_the_list(admin_client, files, store):
    kept, restored = files.legacy(payload(100), name="kept.pdf"), files.legacy(payload(200), name="restored.pdf")
    _run_to_end()
    db.session.expire_all()
    service = DocumentMigrationService()
    backups = {}
    for row in (kept, restored):
        backups[row.id] = b"".join(store.open(db.session.get(Attachment, row.id).storage_path))
        store.delete(db.session.get(Attachment, row.id).storage_path)
    service.verify_run(service.start_verify_run(False))
    listed = admin_client.get("/admin/storage/missing").get_data(as_text=True)
    assert "kept.pdf" in listed and "restored.pdf" in listed

    path = db.session.get(Attachment, restored.id).storage_path
    store.save(path, io.BytesIO(backups[restored.id]), size=200)  # put back from a backup
    assert "Found again" in admin_client.get("/admin/storage/missing").get_data(as_text=True)
    db.session.add(MigrationRun(kind="verify", status="cancelled", options="{}"))
    db.session.commit()
    assert "restored.pdf" in admin_client.get("/admin/storage/missing").get_data(as_text=True)  # not a full check

    service.verify_run(service.start_verify_run(False))
    listed = admin_client.get("/admin/storage/missing").get_data(as_text=True)
    assert "kept.pdf" in listed and "restored.pdf" not in listed
    assert "or a later verification run to its end finds it whole" in listed


def test_a_legacy_file_stays_listed_whatever_a_verification_finds(admin_client, files, store):
    _lost_row(files, name="legacy.pdf")
    _run_to_end()
    service = DocumentMigrationService()
    service.verify_run(service.start_verify_run(False))  # verification does not check legacy rows
    assert "legacy.pdf" in admin_client.get("/admin/storage/missing").get_data(as_text=True)


def test_a_file_the_quarantine_still_holds_is_not_removed(admin_client, files, store):
    row = files.legacy(payload(100), name="moved.pdf")
    _run_to_end(delete_source=True)  # the local file goes to the quarantine once its copy is verified
    db.session.expire_all()
    moved = db.session.get(Attachment, row.id)
    store.delete(moved.storage_path)  # then the object store loses it
    service = DocumentMigrationService()
    service.verify_run(service.start_verify_run(False))
    page = admin_client.get("/admin/storage/missing").get_data(as_text=True)
    assert "In the quarantine" in page and "moved.pdf" in page and "Mark moved.pdf as lost" not in page
    refused = admin_client.post(
        f"/admin/storage/missing/{_item_id_from_db()}/lost", data={"confirmed": "yes"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "moved.pdf is not lost: a copy waits in the quarantine" in refused
    db.session.expire_all()
    assert db.session.get(Attachment, row.id) is not None


def test_the_list_is_paged_and_a_page_past_the_end_says_so(admin_client, files, store):
    for number in range(27):
        _lost_row(files, name=f"scan-{number:02d}.pdf")
    _run_to_end()
    first = admin_client.get("/admin/storage/missing").get_data(as_text=True)
    second = admin_client.get("/admin/storage/missing?page=2").get_data(as_text=True)
    assert first.count("Missing everywhere") == 25 and second.count("Missing everywhere") == 2
    assert "scan-26.pdf" in first and "scan-00.pdf" in second  # newest report first
    past = admin_client.get("/admin/storage/missing?page=9").get_data(as_text=True)
    assert "Page 9 is past the end: there are 2 pages." in past


def test_staff_cannot_see_or_settle_missing_files(staff_client):
    assert staff_client.get("/admin/storage/missing").status_code == 403
    assert staff_client.post("/admin/storage/missing/1/lost", data={"confirmed": "yes"}).status_code == 403


def _item_id_from_db() -> int:
    from portal.migration.models import MigrationItem

    return db.session.scalars(select(MigrationItem.id).order_by(MigrationItem.id.desc())).first()
