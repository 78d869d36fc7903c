"""/metrics tells monitoring what the scrub found and when each upkeep job last ran (read from the database)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from portal.extensions import storage
from tests.support.metrics import scrape, value
from tests.support.scrub import stamp


def test_scrub_and_job_gauges(app, client, add, runner):
    before = scrape(client)
    assert value(before, "portal_scrub_last_finished_timestamp_seconds") == 0
    assert value(before, "portal_scrub_rows", outcome="never") == 0
    rows = [add(os.urandom(1000), f"{n}.bin") for n in range(4)]
    stamp(rows[3].id, days_ago=45)
    storage.get("local").delete(rows[0].storage_path)
    waiting = scrape(client)
    assert value(waiting, "portal_scrub_rows", outcome="never") == 3
    assert value(waiting, "portal_scrub_oldest_proof_age_seconds") >= 45 * 86400
    started = datetime.now(UTC).timestamp()
    assert runner.invoke(args=["storage", "maintain", "--only", "scrub"]).exit_code == 1
    after = scrape(client)
    assert value(after, "portal_scrub_rows", outcome="ok") == 3
    assert value(after, "portal_scrub_rows", outcome="missing") == 1
    assert value(after, "portal_scrub_rows", outcome="never") == 0
    assert value(after, "portal_scrub_rows_proven_recently") == 3
    assert value(after, "portal_scrub_last_problems") == 1
    assert value(after, "portal_scrub_last_rows_checked") == 4
    assert value(after, "portal_scrub_last_bytes_checked") == 4000
    assert value(after, "portal_scrub_last_finished_timestamp_seconds") >= int(started)
    assert value(after, "portal_scrub_oldest_proof_age_seconds") < 3600
    assert value(after, "portal_maintenance_job_last_ok", task="scrub") == 0
    assert value(after, "portal_maintenance_job_running", task="scrub") == 0
    assert value(after, "portal_maintenance_job_last_finished_timestamp_seconds", task="scrub") >= int(started)
