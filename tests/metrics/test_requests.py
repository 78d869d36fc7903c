"""Request counters and latency by route name and status, as a scrape of /metrics shows them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from portal import metrics
from portal.metrics.hooks import init_metrics
from tests.support.files import PDF, downloaded, rows, upload
from tests.support.metrics import requests_counted, scrape, value

ROOT = Path(__file__).resolve().parents[2]


def test_an_upload_a_download_and_a_failed_sign_in_are_counted(app, client, auth, staff_user, document):
    before = scrape(client)
    refused = auth.login(staff_user.email, "not the password").status_code
    assert refused != 302  # not signed in
    assert auth.login(staff_user.email).status_code == 302
    assert upload(client, document.id, ("report.pdf", PDF), json=True).status_code == 201
    (attachment,), _ = rows()
    assert downloaded(client, attachment.id) == PDF
    after = scrape(client)

    def moved(endpoint: str, method: str, status: int) -> float:
        return requests_counted(after, endpoint, method, status) - requests_counted(before, endpoint, method, status)

    assert moved("auth.login", "POST", refused) == 1  # the failed sign-in: the form again
    assert moved("auth.login", "POST", 302) == 1  # the good one
    assert moved("attachments.upload", "POST", 201) == 1
    assert moved("attachments.download", "GET", 302) == 1
    assert moved("storage_files.download", "GET", 200) == 1
    assert moved("metrics.scrape", "GET", 200) == 1  # the first scrape, counted by the time of the second
    durations = ("portal_http_request_duration_seconds_count", {"endpoint": "attachments.upload", "method": "POST"})
    assert value(after, durations[0], **durations[1]) - value(before, durations[0], **durations[1]) == 1
    assert (
        value(
            after,
            "portal_http_request_duration_seconds_bucket",
            endpoint="attachments.upload",
            method="POST",
            le="+Inf",
        )
        >= 1
    )


def test_the_portal_itself_moves_the_feature_counters(app, client, auth, staff_user, document):
    """Uploads, downloads (a repeated one served from the redirect cache too), storage operations and a
    failed sign-in, counted where they happen."""
    before = scrape(client)
    auth.login(staff_user.email, "not the password")
    auth.login(staff_user.email)
    upload(client, document.id, ("report.pdf", PDF), json=True)
    (attachment,), _ = rows()
    assert downloaded(client, attachment.id) == PDF
    assert client.get(f"/attachments/{attachment.id}/download").status_code == 302  # from the cache
    after = scrape(client)

    def moved(name: str, **labels) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("portal_login_failures_total") == 1
    assert moved("portal_uploads_total", store="local") == 1
    assert moved("portal_upload_bytes_total", store="local") == len(PDF)
    assert moved("portal_downloads_total", store="local") == 2
    assert moved("portal_download_bytes_total", store="local") == 2 * len(PDF)
    assert moved("portal_storage_operations_total", store="local", op="save", outcome="ok") == 1


def test_unknown_paths_and_methods_never_become_labels(client):
    before = scrape(client)
    client.get("/no/such/page/8d1c")
    client.open("/healthz", method="BREW")
    after = scrape(client)
    assert requests_counted(after, "unmatched", "GET", 404) - requests_counted(before, "unmatched", "GET", 404) == 1
    assert requests_counted(after, "unmatched", "other", 405) - requests_counted(before, "unmatched", "other", 405) == 1
    assert not any("8d1c" in str(labels) or "BREW" in str(labels) for _, labels in after)


def test_no_request_is_left_in_progress(client):
    client.get("/healthz")
    # Only the scrape itself is in progress while it is answered.
    assert value(scrape(client), "portal_http_requests_in_progress") == 1


def test_feature_counters_move_by_store(client):
    before = scrape(client)
    metrics.count_upload("s3", 1000)
    metrics.count_download("local", 250)
    metrics.count_download("local", 50)
    metrics.storage_op("s3", "save", "ok", 0.2)
    metrics.storage_op("s3", "save", "StorageUnavailable", 5.0)
    metrics.login_failed()
    metrics.lockout()
    metrics.run_finished("migrate", "completed")
    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("portal_uploads_total", store="s3") == 1
    assert moved("portal_upload_bytes_total", store="s3") == 1000
    assert moved("portal_downloads_total", store="local") == 2
    assert moved("portal_download_bytes_total", store="local") == 300
    assert moved("portal_storage_operations_total", store="s3", op="save", outcome="ok") == 1
    assert moved("portal_storage_operations_total", store="s3", op="save", outcome="StorageUnavailable") == 1
    assert moved("portal_storage_operation_duration_seconds_count", store="s3", op="save") == 2
    assert moved("portal_login_failures_total") == 1
    assert moved("portal_login_lockouts_total") == 1
    assert moved("portal_migration_runs_finished_total", kind="migrate", status="completed") == 1


def test_negative_sizes_count_the_file_and_no_bytes(client):
    before = scrape(client)
    metrics.count_upload("local", -1)  # a size not known: counted, never a crash in the upload
    after = scrape(client)
    assert (
        value(after, "portal_uploads_total", store="local") - value(before, "portal_uploads_total", store="local") == 1
    )
    assert value(after, "portal_upload_bytes_total", store="local") == value(
        before, "portal_upload_bytes_total", store="local"
    )


def test_the_recording_functions_import_nothing_of_the_database_or_storage():
    """The storage layer and the models call portal.metrics: it must not import them back (an import cycle)."""
    code = (
        "import sys, portal.metrics; "
        "loaded = [m for m in ('portal.extensions', 'portal.models', 'portal.storage') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_init_metrics_refuses_a_second_call(app):
    with pytest.raises(RuntimeError, match="already called"):
        init_metrics(app)
