"""The storage dashboard says what happened: failed runs look failed, failures are listed (live) with their
documents, shares by files and bytes, staff-facing names."""

from __future__ import annotations

from portal.extensions import db
from portal.migration import lifecycle, run_state
from portal.migration.claims import claim_batch
from portal.migration.options import MigrationOptions
from portal.migration.service import DocumentMigrationService
from tests.migration.factory import payload


def _run_to_end(options: MigrationOptions | None = None):
    service = DocumentMigrationService()
    return service.migrate_all_attachments(service.start_run(options or MigrationOptions()))


def _lose(files, row) -> bytes:
    data = files.path_of(row).read_bytes()
    files.path_of(row).unlink()
    return data


def test_a_retry_in_which_every_file_failed_is_failed_not_completed(admin_client, files, store):
    rows = [files.legacy(payload(100), name=f"scan-{n}.pdf") for n in range(2)]
    for row in rows:
        _lose(files, row)
    first = _run_to_end()
    assert (first.status, first.items_done, first.items_failed) == ("failed", 0, 2)
    retry = _run_to_end(DocumentMigrationService().retry_options(first.id, limit=None))
    assert (retry.status, retry.retry_of, retry.items_failed) == ("failed", first.id, 2)
    assert "all 2 file(s) failed, nothing was moved" in retry.message
    # they were legacy files: the rows were not moved and still point where they did (not "their local files")
    assert retry.message.endswith("their rows were left as they were, pointing on the local disk")
    page = admin_client.get(f"/admin/storage/runs/{retry.id}").get_data(as_text=True)
    assert "time left" not in page and "took " in page  # an ended run has nothing left to wait for
    assert 'class="badge state-badge tone-bad" data-field="state">Failed<' in page
    assert "run-progress tone-bad" in page and "Completed" not in page
    assert "Retry failed (2)" in page
    history = admin_client.get("/admin/storage").get_data(as_text=True).split('id="run-history"')[1]
    assert history.count('tone-bad">Failed<') == 2
    progress = admin_client.get(f"/admin/storage/runs/{retry.id}/progress").get_json()
    assert (progress["state"], progress["state_label"], progress["tone"]) == ("failed", "Failed", "bad")


def test_a_run_with_some_failures_says_so_in_amber(admin_client, files, store):
    files.legacy(payload(100), name="kept.pdf")
    _lose(files, files.legacy(payload(100), name="gone.pdf"))
    run = _run_to_end()
    assert (run.status, run.items_done, run.items_failed) == ("completed", 1, 1)
    page = admin_client.get(f"/admin/storage/runs/{run.id}").get_data(as_text=True)
    assert 'tone-warn" data-field="state">Completed with 1 failure<' in page
    assert '<p class="empty" data-failures-empty hidden>None.</p>' in page


def test_failures_name_the_file_and_link_to_its_document(admin_client, files, store):
    row = files.legacy(payload(100), name="Vertrag Müller.pdf")
    _lose(files, row)
    staged = files.legacy(payload(100), name="pasted.png", table="attachment_staging")
    _lose(files, staged)
    run = _run_to_end()
    page = admin_client.get(f"/admin/storage/runs/{run.id}").get_data(as_text=True)
    failures = page.split('id="run-failures"')[1].split("</table>")[0]
    assert f'<a href="/documents/{row.document_id}">Vertrag Müller.pdf</a>' in failures
    assert "pasted.png" in failures and "staged upload, not saved to a document yet" in failures
    assert "Attachments #" in failures and "Staged uploads (not saved yet) #" in failures
    assert "source missing" in failures and 'tone-bad">Failed<' in failures
    live = admin_client.get(f"/admin/storage/runs/{run.id}/progress").get_json()["failures"]
    assert [(item["filename"], item["document_url"]) for item in live] == [
        ("Vertrag Müller.pdf", f"/documents/{row.document_id}"),
        ("pasted.png", None),
    ]


def test_an_active_run_lists_its_failures_so_far_on_the_dashboard(admin_client, files, store):
    _lose(files, files.legacy(payload(100), name="gone.pdf"))
    files.legacy(payload(100), name="later.pdf")
    service = DocumentMigrationService()
    run = service.start_run(MigrationOptions(batch_size=1))
    migrator = service.migrator(MigrationOptions())
    worker = lifecycle.attach_worker(db.engine, run.id, exclusive=True)
    first = claim_batch(db.engine, run.id, worker, "attachment", 0, 1)
    migrator.commit([(first[0], migrator.copy(first[0]))], run_id=run.id, worker_id=worker)
    assert run_state.fetch_run(db.engine, run.id).is_active
    for path in ("/admin/storage", f"/admin/storage/runs/{run.id}"):
        page = admin_client.get(path).get_data(as_text=True)
        failures = page.split("data-run-failures")[1]
        assert "gone.pdf" in failures and "None so far" in failures  # the empty note, hidden
        assert "data-failures-empty hidden" in failures, path
    progress = admin_client.get(f"/admin/storage/runs/{run.id}/progress").get_json()
    assert progress["items_failed"] == 1 and [item["filename"] for item in progress["failures"]] == ["gone.pdf"]


def test_shares_by_files_and_by_bytes(admin_client, files, store):
    files.legacy(payload(3000))
    files.legacy(payload(1000))
    service = DocumentMigrationService()
    service.migrate_all_attachments(service.start_run(MigrationOptions(limit=1)))
    stats = admin_client.get("/admin/storage").get_data(as_text=True).split('id="storage-stats"')[1]
    stats = stats.split("</table>")[0]
    assert "S3 object store" in stats and "Local disk (older files)" in stats
    assert "50% of the files, 75% of the bytes" in stats and "50% of the files, 25% of the bytes" in stats


def test_shares_round_down_and_a_sliver_is_not_zero():
    from portal.admin.dashboard import with_shares

    stats = [
        {"table": "attachment", "location": "legacy", "files": 1, "bytes": 10},
        {"table": "attachment", "location": "s3", "files": 2999, "bytes": 10**9},
        {"table": "attachment_staging", "location": "local", "files": 3, "bytes": 0},
    ]
    shares = [(row["files_share"], row["bytes_share"]) for row in with_shares(stats)]
    assert shares == [("<1", "<1"), ("99", "99"), ("100", "100")]
