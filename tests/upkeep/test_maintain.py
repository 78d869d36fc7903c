"""`flask storage maintain`: every job that is due, each under a database lease; what the dashboard shows of it."""

from __future__ import annotations

import io
import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.documents.file_rules import IncomingFile
from portal.documents.service import DocumentStorageService
from portal.documents.trash import TrashService
from portal.extensions import db, storage
from portal.models import Attachment, AttachmentStaging, AuditEvent
from portal.upkeep import leases
from tests.support.migration import flask_subprocess
from tests.support.scrub import attachment

JOB_NAMES = ["outbox", "uploads", "staging", "trash", "quarantine", "scrub"]


@pytest.fixture
def due_work(app, add, staff_user):
    """Something for every job: expired staging, an attachment long in the trash, an old quarantined file,
    and attachments never scrubbed. Returns what was made."""
    service = DocumentStorageService()
    staged = service.stage(
        [IncomingFile(f"paste-{n}.png", "image/png", io.BytesIO(os.urandom(200))) for n in range(4)], staff_user
    )
    db.session.execute(AttachmentStaging.__table__.update().values(created_at=datetime.now(UTC) - timedelta(days=3)))
    kept = [add(os.urandom(3000), f"kept-{n}.bin") for n in range(3)]
    trashed = add(os.urandom(500), "old.bin")
    db.session.execute(
        Attachment.__table__.update()
        .where(Attachment.id == trashed.id)
        .values(deleted_at=datetime.now(UTC) - timedelta(days=45), deleted_by=staff_user.id)
    )
    db.session.commit()
    quarantined = Path(app.config["QUARANTINE_PATH"]) / "legacy" / "2019" / "old.pdf"
    quarantined.parent.mkdir(parents=True)
    quarantined.write_bytes(b"%PDF-1.4 moved long ago")
    old = time.time() - 30 * 86400
    os.utime(quarantined, (old, old))
    return {"staged": staged, "kept": kept, "trashed": trashed, "quarantined": quarantined}


def job_rows() -> dict:
    return leases.jobs(db.engine)


def test_maintain_runs_every_job_and_the_dashboard_shows_each(app, due_work, runner, admin_client):
    result = runner.invoke(args=["storage", "maintain"])
    assert result.exit_code == 0, result.output
    for line in (
        "Cleanup outbox: 0 deleted, 0 dropped (a row points at the key again), 0 still refused.",
        "Staging: 4 upload(s) older than 24 h removed.",
        "Trash: 0 document(s) and 1 attachment(s) (500 B) in the trash for longer than 30 d removed.",
        "Quarantine: 1 file(s), 23 B, older than 7 d deleted.",
        "Scrub: 3 object(s), 8.8 KiB re-hashed: 3 ok, 0 mismatched, 0 missing, 0 unreadable; every object was checked once.",
    ):
        assert line in result.output
    assert db.session.scalar(select(func.count()).select_from(AttachmentStaging)) == 0
    assert attachment(due_work["trashed"].id) is None and not due_work["quarantined"].exists()
    assert all(attachment(row.id).verify_outcome == "ok" for row in due_work["kept"])
    rows = job_rows()
    assert sorted(rows) == sorted(JOB_NAMES) and {row.last_outcome for row in rows.values()} == {"ok"}
    assert (rows["scrub"].items, rows["scrub"].bytes, rows["trash"].items) == (3, 9000, 1)
    page = admin_client.get("/admin/storage").get_data(as_text=True)
    assert "Every object was re-hashed and matched within the last 30 days (3 objects)." in page
    jobs = page[page.index('id="upkeep-jobs"') :]
    for title in ("Cleanup outbox", "Incomplete uploads", "Expired staging", "Trash purge", "Quarantine purge"):
        assert re.search(rf"<td>{title}</td>\s*<td><span class=\"badge job-ok\">ok</span>", jobs), title
    assert "Scrub: 3 object(s), 8.8 KiB re-hashed" in jobs


def test_spaced_jobs_wait_for_their_interval_and_cleanup_runs_every_time(app, due_work, runner):
    assert runner.invoke(args=["storage", "maintain"]).exit_code == 0
    again = runner.invoke(args=["storage", "maintain"])
    assert again.exit_code == 0, again.output
    assert "Cleanup outbox: 0 deleted" in again.output and "Staging: 0 upload(s)" in again.output
    for title in ("Trash purge", "Quarantine purge", "Integrity scrub"):
        assert f"{title}: not due, it last started " in again.output
    assert "(MAINTAIN_INTERVAL_MINUTES=50)" in again.output and "Scrub:" not in again.output
    app.config["MAINTAIN_INTERVAL_MINUTES"] = 0
    third = runner.invoke(args=["storage", "maintain"])
    assert "Scrub: 3 object(s)" in third.output and "not due" not in third.output


def test_two_maintains_at_once_do_each_job_once(app, due_work):
    first, second = flask_subprocess(app, "storage", "maintain"), flask_subprocess(app, "storage", "maintain")
    (code_a, out_a), (code_b, out_b) = first.finish(), second.finish()
    assert (code_a, code_b) == (0, 0), out_a + out_b
    both = out_a + out_b
    for started, passed in (
        ("Trash: ", "Trash purge: "),
        ("Quarantine: ", "Quarantine purge: "),
        ("Scrub: ", "Integrity scrub: "),
    ):
        ran = [out for out in (out_a, out_b) if re.search(rf"^{started}", out, re.M)]
        assert len(ran) == 1, both  # one of the two did it ...
        other = out_b if ran[0] is out_a else out_a
        assert re.search(rf"^{passed}(skipped|not due)", other, re.M), both  # ... the other left it alone
    removed = sum(int(n) for n in re.findall(r"^Staging: (\d+) upload", both, re.M))
    assert removed == 4  # each expired staged upload removed by exactly one of them
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "trash.purge")) == 1
    rows = job_rows()
    # 4 when the scrub got to the trashed attachment before the other process purged it
    assert rows["scrub"].items in (3, 4) and {row.last_outcome for row in rows.values()} == {"ok"}
    assert all(attachment(row.id).verify_outcome == "ok" for row in due_work["kept"])


def test_a_job_held_by_another_host_is_skipped(app, due_work, runner):
    now = datetime.now(UTC)
    assert leases.claim(
        db.engine, "trash", "portal-2:77:abc", now=now, lease=timedelta(hours=1), every=timedelta(0)
    ).won
    result = runner.invoke(args=["storage", "maintain"])
    assert result.exit_code == 0, result.output
    assert "Trash purge: skipped, portal-2:77:abc has been running it since" in result.output
    assert attachment(due_work["trashed"].id) is not None  # left to the host that holds it


def test_a_lease_left_by_a_dead_host_runs_out(app, due_work, runner, admin_client):
    then = datetime.now(UTC) - timedelta(hours=3)
    assert leases.claim(
        db.engine, "trash", "portal-2:77:abc", now=then, lease=timedelta(hours=1), every=timedelta(0)
    ).won
    page = admin_client.get("/admin/storage").get_data(as_text=True)
    assert re.search(r"<td>Trash purge</td>\s*<td><span class=\"badge job-interrupted\">interrupted</span>", page)
    result = runner.invoke(args=["storage", "maintain"])
    assert "Trash: 0 document(s) and 1 attachment(s)" in result.output
    assert job_rows()["trash"].last_outcome == "ok"


def test_a_job_that_fails_is_recorded_and_the_others_still_run(app, due_work, runner, admin_client, monkeypatch):
    counted = TrashService.purge

    def broken(self, older_than, dry_run=False):
        if dry_run:  # the dashboard's count of what is due still works
            return counted(self, older_than, dry_run=True)
        raise RuntimeError("the trash table is locked")

    monkeypatch.setattr(TrashService, "purge", broken)
    result = runner.invoke(args=["storage", "maintain"])
    assert result.exit_code == 1
    assert "Trash purge: failed: RuntimeError: the trash table is locked" in result.output
    assert "Scrub: 4 object(s)" in result.output  # the jobs after it ran (the trashed file is still there)
    rows = job_rows()
    assert rows["trash"].last_outcome == "failed" and rows["trash"].lease_until is None
    page = admin_client.get("/admin/storage").get_data(as_text=True)
    assert re.search(r"<td>Trash purge</td>\s*<td><span class=\"badge job-failed\">failed</span>", page)
    assert "Trash purge: failed: RuntimeError: the trash table is locked" in page


def test_a_scrub_that_finds_damage_fails_maintain_and_shows_on_the_dashboard(app, due_work, runner, admin_client):
    damaged = due_work["kept"][0]
    storage.get("local").delete(damaged.storage_path)
    result = runner.invoke(args=["storage", "maintain"])
    assert result.exit_code == 1
    assert f"attachment #{damaged.id} local:{damaged.storage_path}: object missing from the store" in result.output
    page = admin_client.get("/admin/storage").get_data(as_text=True)
    assert (
        "2 of 3 objects were re-hashed and matched within the last 30 days: 0 never checked, 0 checked longer ago, 1 found wrong."
        in page
    )
    problems = page[page.index('id="integrity-problems"') :]
    assert f"#{damaged.id} kept-0.bin" in problems and "object missing from the store" in problems
    assert job_rows()["scrub"].last_outcome == "failed" and job_rows()["scrub"].problems == 1


@pytest.mark.parametrize("budget", ["0", "0m"])
def test_settings_of_zero_leave_the_quarantine_and_the_scrub_alone(app, due_work, runner, budget):
    app.config["QUARANTINE_RETENTION_DAYS"] = 0
    result = runner.invoke(args=["storage", "maintain", "--scrub-budget", budget])
    assert result.exit_code == 0, result.output
    assert "Quarantine: left alone (QUARANTINE_RETENTION_DAYS=0)." in result.output
    assert "Scrub: off (SCRUB_BUDGET_MINUTES=0)." in result.output
    assert due_work["quarantined"].exists() and attachment(due_work["kept"][0].id).last_verified_at is None


def test_the_scrub_budget_setting_of_zero_turns_the_scrub_off(app, due_work, runner):
    app.config["SCRUB_BUDGET_MINUTES"] = 0
    result = runner.invoke(args=["storage", "maintain", "--only", "scrub"])
    assert result.exit_code == 0 and "Scrub: off (SCRUB_BUDGET_MINUTES=0)." in result.output


def test_maintain_gives_the_scrub_its_budget_and_rate(app, due_work, runner, monkeypatch, fake_time):
    import portal.upkeep.jobs as jobs

    made = jobs.scrubber
    monkeypatch.setattr(
        jobs, "scrubber", lambda budget, rate, **kw: made(budget, rate, clock=fake_time.clock, sleep=fake_time.sleep)
    )
    app.config["SCRUB_RATE"] = 1000  # the kept files are 3000 bytes: three seconds each on the fake clock
    result = runner.invoke(args=["storage", "maintain", "--only", "scrub", "--scrub-budget", "4s"])
    assert result.exit_code == 0, result.output
    assert "Scrub: 2 object(s)" in result.output
    assert "stopped after its budget of 4 s; the next scrub goes on from there" in result.output
    assert sum(fake_time.sleeps) == pytest.approx(6.0)
    assert leases.jobs(db.engine)["scrub"].lease_until is None


def test_only_runs_the_named_jobs(app, due_work, runner):
    result = runner.invoke(args=["storage", "maintain", "--only", "scrub"])
    assert (
        "Scrub: 4 object(s)" in result.output
    )  # the trashed file too: it may yet be restored and "Staging" not in result.output
    assert sorted(job_rows()) == ["scrub"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scrub-budget", "later"], "'later' is not a duration"),
        (["--upload-age", "old"], "'old' is not a duration"),
    ],
)
def test_bad_options_change_nothing(app, due_work, runner, args, message):
    result = runner.invoke(args=["storage", "maintain", *args])
    assert result.exit_code == 2 and message in result.output
    assert job_rows() == {} and due_work["quarantined"].exists()
