"""`flask storage scrub` on the local store: damage found, its order, its budget, its rate, encrypted and legacy rows."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from portal.extensions import db, storage
from portal.models import Attachment
from portal.storage.base import CHUNK_SIZE, StorageMisconfigured, StorageUnavailable
from portal.upkeep import leases
from portal.upkeep.jobs import scrubber
from tests.support.files import legacy_row
from tests.support.keys import keypair
from tests.support.scrub import attachment, stamp
from tests.support.settings import restart_with


def flip_local_byte(row: Attachment, offset: int = 5) -> None:
    path = storage.get("local").local_path(row.storage_path)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_scrub_finds_a_flipped_byte_and_a_missing_object(app, add, runner):
    good, flipped, gone = add(os.urandom(5000), "good.bin"), add(os.urandom(5000), "flipped.bin"), add(b"x" * 10)
    flip_local_byte(flipped)
    storage.get("local").delete(gone.storage_path)
    result = runner.invoke(args=["storage", "scrub"])
    assert result.exit_code == 1, result.output
    assert f"MISMATCH attachment #{flipped.id} local:{flipped.storage_path}: SHA-256 mismatch" in result.output
    assert f"MISSING attachment #{gone.id} local:{gone.storage_path}: object missing from the store" in result.output
    assert "Scrub: 3 object(s), 9.8 KiB re-hashed: 1 ok, 1 mismatched, 1 missing, 0 unreadable" in result.output
    assert "1 of 3 objects were re-hashed and matched within the last 30 days; 0 never checked, 2 found wrong." in (
        result.output
    )
    outcomes = {
        row.id: (row.verify_outcome, row.last_verified_at is not None)
        for row in map(attachment, (good.id, flipped.id, gone.id))
    }
    assert outcomes == {good.id: ("ok", True), flipped.id: ("mismatch", True), gone.id: ("missing", True)}
    assert "differ from the row's checksum" in attachment(flipped.id).verify_detail


def test_an_intact_store_passes_and_the_promise_is_kept(app, add, runner):
    for number in range(3):
        add(os.urandom(100 + number))
    result = runner.invoke(args=["storage", "scrub"])
    assert result.exit_code == 0, result.output
    assert "3 ok, 0 mismatched, 0 missing, 0 unreadable; every object was checked once" in result.output
    assert "Every object was re-hashed and matched within the last 30 days (3 objects)." in result.output
    [job] = leases.jobs(db.engine).values()
    assert (job.name, job.last_outcome, job.items, job.problems, job.lease_until) == ("scrub", "ok", 3, 0, None)


def test_never_verified_rows_go_first_then_the_longest_ago(app, add):
    rows = [add(os.urandom(64), f"{n}.bin") for n in range(5)]
    stamp(rows[0].id, days_ago=3)
    stamp(rows[1].id, days_ago=40)
    stamp(rows[2].id, days_ago=10)
    seen = []
    report = scrubber(None, None).run(on_row=lambda row, outcome, reason: seen.append(row.id))
    assert seen == [rows[3].id, rows[4].id, rows[1].id, rows[2].id, rows[0].id]
    assert (report.checked, report.stopped) == (5, "done")


def test_the_budget_stops_a_pass_and_the_next_goes_on_from_there(app, add, fake_time):
    rows = [add(os.urandom(1000), f"{n}.bin") for n in range(7)]
    # 1000 bytes at 1000 B/s: each object costs one second of the fake clock.
    first = scrubber(timedelta(seconds=2.5), 1000, clock=fake_time.clock, sleep=fake_time.sleep).run()
    assert (first.checked, first.stopped) == (3, "budget")
    checked = {row.id for row in map(attachment, (r.id for r in rows)) if row.last_verified_at is not None}
    assert checked == {row.id for row in rows[:3]}
    seen = []
    second = scrubber(timedelta(seconds=3.5), 1000, clock=fake_time.clock, sleep=fake_time.sleep).run(
        on_row=lambda row, outcome, reason: seen.append(row.id)
    )
    assert (second.checked, second.stopped) == (4, "budget")
    assert seen == [row.id for row in rows[3:]]  # the rest, not the first three again
    seen.clear()
    third = scrubber(None, None).run(on_row=lambda row, outcome, reason: seen.append(row.id))
    assert seen == [row.id for row in rows] and third.stopped == "done"  # then round again, oldest first


def test_the_cli_budget_applies(app, add, runner, monkeypatch, fake_time):
    import portal.upkeep.jobs as jobs

    for number in range(4):
        add(os.urandom(1000), f"{number}.bin")
    made = jobs.scrubber
    monkeypatch.setattr(
        jobs, "scrubber", lambda budget, rate, **kw: made(budget, rate, clock=fake_time.clock, sleep=fake_time.sleep)
    )
    monkeypatch.setattr("portal.upkeep.cli.scrubber", jobs.scrubber)
    result = runner.invoke(args=["storage", "scrub", "--budget", "2s", "--rate", "1000/s"])
    assert result.exit_code == 0, result.output
    assert "Scrub: 2 object(s)" in result.output
    assert "stopped after its budget of 2 s; the next scrub goes on from there" in result.output
    assert "2 of 4 objects were re-hashed and matched within the last 30 days; 2 never checked" in result.output


def test_by_hand_a_budget_setting_of_zero_means_no_limit(app, add, runner):
    app.config["SCRUB_BUDGET_MINUTES"] = 0
    add(b"data")
    result = runner.invoke(args=["storage", "scrub"])
    assert result.exit_code == 0 and "Scrub: 1 object(s)" in result.output


def test_the_rate_limit_paces_the_reads(app, add, fake_time):
    size = CHUNK_SIZE * 5 // 2  # three chunks each
    rows = [add(os.urandom(size), f"{n}.bin") for n in range(2)]
    report = scrubber(None, CHUNK_SIZE, clock=fake_time.clock, sleep=fake_time.sleep).run()
    assert report.checked == 2 and report.bytes == 2 * size
    assert len(fake_time.sleeps) == 6  # paced chunk by chunk while reading, not once per object
    assert sum(fake_time.sleeps) == pytest.approx(2 * size / CHUNK_SIZE)
    assert all(attachment(row.id).verify_outcome == "ok" for row in rows)


def test_without_a_rate_nothing_sleeps(app, add, fake_time):
    add(os.urandom(300_000))
    assert scrubber(None, None, clock=fake_time.clock, sleep=fake_time.sleep).run().checked == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "fast"], "'fast' is not a rate; write e.g. 20MB/s"),
        (["--rate", "0.0/s"], "is no rate at all"),
        (["--budget", "soon"], "'soon' is not a duration"),
        (["--budget", "0s"], "is no time at all"),
    ],
)
def test_bad_options_are_refused_and_nothing_is_checked(app, add, runner, args, message):
    row = add(b"data")
    result = runner.invoke(args=["storage", "scrub", *args])
    assert result.exit_code == 2 and message in result.output
    assert attachment(row.id).last_verified_at is None and leases.jobs(db.engine) == {}


def test_a_second_scrub_at_once_is_refused(app, add, runner):
    row = add(b"data")
    now = datetime.now(UTC)
    assert leases.claim(
        db.engine, "scrub", "other-host:42:abc", now=now, lease=timedelta(hours=1), every=timedelta(0)
    ).won
    result = runner.invoke(args=["storage", "scrub"])
    assert result.exit_code == 1
    assert "Not scrubbing: other-host:42:abc has been scrubbing since" in result.output
    assert attachment(row.id).last_verified_at is None


def test_an_unreachable_store_is_reported_and_its_rows_keep_their_place(app, add, runner, monkeypatch):
    row = add(b"data")
    stamp(row.id, days_ago=5)

    def down(key):
        raise StorageUnavailable("the store is unavailable (connection refused); try again later")

    monkeypatch.setattr(storage.get("local"), "stat", down)
    result = runner.invoke(args=["storage", "scrub"])
    assert result.exit_code == 1
    assert (
        "local: not scrubbed, the store cannot be used: the store is unavailable (connection refused)" in result.output
    )
    after = attachment(row.id)
    assert after.verify_outcome == "ok" and (datetime.now(UTC) - after.last_verified_at.replace(tzinfo=UTC)).days == 5


def test_a_misconfigured_store_leaves_its_rows_as_they_were(app, add, runner, monkeypatch):
    row = add(b"data")
    stamp(row.id, days_ago=5)

    def refused(**kwargs):
        raise StorageMisconfigured("access to bucket 'b' at http://127.0.0.1:9 was refused (403); check ...")

    monkeypatch.setattr(storage.get("local"), "check", refused)
    result = runner.invoke(args=["storage", "scrub"])
    assert result.exit_code == 1
    assert "local: not scrubbed, the store cannot be used: access to bucket 'b'" in result.output
    after = attachment(row.id)
    assert after.verify_outcome == "ok" and (datetime.now(UTC) - after.last_verified_at.replace(tzinfo=UTC)).days == 5


def test_legacy_rows_are_scrubbed_in_their_folder(app, document, runner, tmp_path):
    root = tmp_path / "storage"  # LEGACY_FILES_ROOT defaults to LOCAL_STORAGE_PATH
    kept = legacy_row(document, root, "old/kept.pdf", b"%PDF-1.4 kept")
    lost = legacy_row(document, root, "old/lost.pdf", b"%PDF-1.4 lost")
    for row in (kept, lost):
        import hashlib

        row.sha256 = hashlib.sha256((root / row.filepath).read_bytes()).hexdigest()
    db.session.commit()
    (root / lost.filepath).unlink()
    result = runner.invoke(args=["storage", "scrub"])
    assert f"MISSING attachment #{lost.id} legacy:old/lost.pdf" in result.output
    assert (attachment(kept.id).verify_outcome, attachment(lost.id).verify_outcome) == ("ok", "missing")


def test_a_row_without_a_checksum_cannot_be_proven(app, document, runner, tmp_path):
    row = legacy_row(document, tmp_path / "storage", "old/unhashed.pdf", b"%PDF-1.4")
    result = runner.invoke(args=["storage", "scrub"])
    assert result.exit_code == 1
    assert f"UNREADABLE attachment #{row.id}" in result.output and "no SHA-256 is recorded" in result.output


def test_encrypted_rows_are_proven_by_authenticated_decryption(app, add, runner, tmp_path):
    _, public, private = keypair(tmp_path / "keys")
    restart_with(
        app,
        STORAGE_ENCRYPTION="hybrid",
        STORAGE_ENCRYPTION_PUBLIC_KEY=public,
        STORAGE_ENCRYPTION_PRIVATE_KEYS=[private],
    )
    intact, tampered = add(os.urandom(150_000), "a.bin"), add(os.urandom(150_000), "b.bin")
    assert intact.encryption and tampered.encryption
    flip_local_byte(tampered, offset=100_000)
    result = runner.invoke(args=["storage", "scrub"])
    assert result.exit_code == 1
    assert attachment(intact.id).verify_outcome == "ok"
    bad = attachment(tampered.id)
    assert bad.verify_outcome == "mismatch"
    assert bad.verify_detail == "segment 1 failed authentication (tampered, truncated, reordered or wrong key)"
    restart_with(app, STORAGE_ENCRYPTION_PRIVATE_KEYS=[])
    stamp(intact.id, days_ago=1)
    result = runner.invoke(args=["storage", "scrub"])
    assert f"UNREADABLE attachment #{intact.id}" in result.output
    assert attachment(intact.id).verify_outcome == "unreadable"


def test_a_row_moved_while_it_was_checked_is_not_stamped(app, add, monkeypatch):
    row = add(b"data")
    real = storage.get("local").read_back

    def moved_meanwhile(key):
        db.session.execute(Attachment.__table__.update().values(storage_path="attachments/elsewhere"))
        db.session.commit()
        return real(key)

    monkeypatch.setattr(storage.get("local"), "read_back", moved_meanwhile)
    report = scrubber(None, None).run()
    assert report.checked == 0 and attachment(row.id).last_verified_at is None


def test_a_legacy_folder_mounted_read_only_is_scrubbed_all_the_same(app, document, runner, tmp_path, monkeypatch):
    """Old files are often mounted read-only: the scrub only reads, so it must not ask for write access."""
    import hashlib
    import os

    from portal.storage import local

    root = tmp_path / "storage"
    kept = legacy_row(document, root, "old/kept.pdf", b"%PDF-1.4 kept")
    kept.sha256 = hashlib.sha256((root / kept.filepath).read_bytes()).hexdigest()
    db.session.commit()
    real_access = os.access
    monkeypatch.setattr(local.os, "access", lambda path, mode: not (mode & os.W_OK) and real_access(path, mode))
    result = runner.invoke(args=["storage", "scrub"])
    assert result.exit_code == 0, result.output
    assert attachment(kept.id).verify_outcome == "ok"
