"""Gauges computed from the database at scrape time: staging, migration runs, and a database that fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from portal.extensions import db
from portal.metrics.database import DatabaseGauges
from portal.migration.models import MigrationRun
from portal.models import Attachment, AttachmentStaging, Document
from tests.support.apps import make_app
from tests.support.metrics import scrape, value


def _staged(user, size: int, age: timedelta, store: str = "local") -> AttachmentStaging:
    return AttachmentStaging(
        owner_id=user.id,
        filename="a.pdf",
        size=size,
        storage_type=store,
        storage_path=f"staging/{size}",
        created_at=datetime.now(UTC) - age,
    )


def test_an_empty_portal(client):
    samples = scrape(client)
    assert value(samples, "portal_metrics_database_up") == 1
    assert value(samples, "portal_staging_oldest_age_seconds") == 0
    assert value(samples, "portal_migration_run_active", kind="migrate") == 0
    assert value(samples, "portal_migration_run_active", kind="verify") == 0
    assert not any(name == "portal_staging_files" for name, _ in samples)


def test_staging_files_bytes_and_oldest_age(client, staff_user):
    db.session.add_all(
        [
            _staged(staff_user, 100, timedelta(hours=1)),
            _staged(staff_user, 50, timedelta(hours=30)),
            _staged(staff_user, 7, timedelta(minutes=5), store="s3"),
        ]
    )
    db.session.commit()
    samples = scrape(client)
    assert value(samples, "portal_staging_files", store="local") == 2
    assert value(samples, "portal_staging_bytes", store="local") == 150
    assert value(samples, "portal_staging_files", store="s3") == 1
    assert value(samples, "portal_staging_bytes", store="s3") == 7
    # Between 30 h and a generous upper bound: the age is measured at scrape time.
    assert 30 * 3600 <= value(samples, "portal_staging_oldest_age_seconds") < 31 * 3600


def test_the_active_run_and_the_last_finished_ones(client):
    now = datetime.now(UTC)
    db.session.add_all(
        [
            MigrationRun(kind="migrate", target="s3", status="completed", finished_at=now - timedelta(days=2)),
            MigrationRun(kind="verify", target="", status="failed", finished_at=now - timedelta(days=1)),
            MigrationRun(
                kind="migrate",
                target="s3",
                status="running",
                active=1,
                items_total=10,
                items_done=4,
                items_failed=1,
                items_skipped=2,
                bytes_total=1000,
                bytes_done=400,
                started_at=now,
                heartbeat_at=now - timedelta(minutes=10),
            ),
        ]
    )
    db.session.commit()
    samples = scrape(client)
    assert value(samples, "portal_migration_run_active", kind="migrate") == 1
    assert value(samples, "portal_migration_run_active", kind="verify") == 0
    for state, expected in (("total", 10), ("done", 4), ("failed", 1), ("skipped", 2)):
        assert value(samples, "portal_migration_run_items", kind="migrate", state=state) == expected
    assert value(samples, "portal_migration_run_bytes", kind="migrate", state="done") == 400
    assert value(samples, "portal_migration_run_bytes", kind="migrate", state="total") == 1000
    assert 600 <= value(samples, "portal_migration_run_heartbeat_age_seconds", kind="migrate") < 3600
    last = value(samples, "portal_migration_run_last_finished_timestamp_seconds", kind="verify", status="failed")
    assert abs(last - (now - timedelta(days=1)).timestamp()) < 1
    assert (
        value(samples, "portal_migration_run_last_finished_timestamp_seconds", kind="migrate", status="completed") > 0
    )


def test_a_database_that_fails_still_gives_the_request_counters(tmp_path, caplog):
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'no-such-folder' / 'portal.db'}")
    samples = scrape(app.test_client())
    assert value(samples, "portal_metrics_database_up") == 0
    assert not any(name.startswith(("portal_staging_", "portal_migration_run_")) for name, _ in samples)
    assert any(name == "portal_http_requests_total" for name, _ in samples)
    assert "database gauges unavailable: OperationalError" in caplog.text


def test_a_probe_of_another_feature_joins_the_scrape(app):
    from prometheus_client.core import GaugeMetricFamily

    def trash(conn, now):
        yield GaugeMetricFamily("portal_trash_files", "Files in the trash.", value=5)

    families = {family.name: family for family in DatabaseGauges(db.engine, probes=[trash]).collect()}
    assert families["portal_trash_files"].samples[0].value == 5
    assert families["portal_metrics_database_up"].samples[0].value == 1


def test_trash_files_and_bytes(client, staff_user):
    document = Document(title="Old", created_by=staff_user.id)
    db.session.add(document)
    db.session.add_all(
        [
            Attachment(document=document, filename="a.pdf", size=100, storage_path="a", deleted_at=datetime.now(UTC)),
            Attachment(document=document, filename="b.pdf", size=20, storage_path="b", deleted_at=datetime.now(UTC)),
            Attachment(document=document, filename="live.pdf", size=5, storage_path="c"),
        ]
    )
    db.session.commit()
    samples = scrape(client)
    assert value(samples, "portal_trash_files") == 2
    assert value(samples, "portal_trash_bytes") == 120
