"""The jobs of `flask storage maintain`, each run under its lease (portal.upkeep.leases), in a fixed order.

Every job calls the service its own command uses. The cleanup jobs (outbox, incomplete uploads, staging)
run on every `maintain`: each of their items is claimed or guarded on its own, so a second host only finds
less to do. The others (trash, quarantine, scrub) are spaced: at most one start per
MAINTAIN_INTERVAL_MINUTES across all hosts, so N hosts with the same timer do not do the work N times.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app

from portal.cleanup.cli import outbox_job, staging_job, uploads_job
from portal.extensions import db, storage
from portal.formatting import format_duration, format_size
from portal.upkeep import leases
from portal.upkeep.result import JobResult

log = logging.getLogger("portal.upkeep")

#: how long a claimed job is protected from a second host; the scrub's lease adds its budget
LEASE = timedelta(hours=1)


@dataclass(frozen=True)
class Job:
    """A named piece of upkeep; ``spaced`` jobs wait MAINTAIN_INTERVAL_MINUTES between starts."""

    name: str
    title: str
    run: Callable[[dict], JobResult]
    spaced: bool


def trash_job(options: dict) -> JobResult:
    """What `flask storage purge-trash` does with its default age (TRASH_RETENTION_DAYS), audited the same way."""
    from portal.documents.trash import TrashService, record_purge, retention

    age = retention()
    report = TrashService().purge(age)
    record_purge(report, age, "maintain")
    result = JobResult(
        ok=not (report.failed or report.kept),
        items=report.attachments,
        size=report.bytes,
        problems=len(report.failed) + len(report.kept),
    )
    result.lines.append(
        f"Trash: {report.documents} document(s) and {report.attachments} attachment(s) ({format_size(report.bytes)}) "
        f"in the trash for longer than {age.days} d removed."
    )
    if report.failed:
        result.errors.append(
            f"Trash: {len(report.failed)} file deletion(s) the store refused, owed in the cleanup outbox:"
        )
        result.errors.extend(f"  {line}" for line in report.failed[:20])
    if report.kept:
        result.errors.append(f"Trash: {len(report.kept)} attachment(s) kept, their legacy file could not be deleted:")
        result.errors.extend(f"  {line}" for line in report.kept[:20])
    return result


def quarantine_job(options: dict) -> JobResult:
    """What `flask storage purge-quarantine --older-than QUARANTINE_RETENTION_DAYS` does; nothing when that is 0."""
    from portal.migration.service import DocumentMigrationService

    days = current_app.config["QUARANTINE_RETENTION_DAYS"]
    if not days:
        return JobResult(lines=["Quarantine: left alone (QUARANTINE_RETENTION_DAYS=0)."])
    age = timedelta(days=days)
    report = DocumentMigrationService().purge_quarantine(age, source="maintain")
    return JobResult(
        ok=not report.errors,
        lines=[f"Quarantine: {report.files} file(s), {format_size(report.bytes)}, older than {days} d deleted."],
        errors=[f"Quarantine not purged: {error}" for error in report.errors],
        items=report.files,
        size=report.bytes,
        problems=len(report.errors),
    )


def scrub_job(options: dict) -> JobResult:
    """Re-hash the objects verified longest ago for ``budget`` (SCRUB_BUDGET_MINUTES), at ``rate`` at most."""
    budget: timedelta | None = options.get("budget")
    if budget is not None and not budget:
        return JobResult(lines=["Scrub: off (SCRUB_BUDGET_MINUTES=0)."])
    report = scrubber(budget, options.get("rate"), clock=options.get("clock"), sleep=options.get("sleep")).run(
        on_row=options.get("on_row")
    )
    return scrub_result(report, budget)


def scrubber(budget: timedelta | None, rate: int | None, *, clock=None, sleep=None):
    """A Scrubber over this app's stores and keys (``clock``/``sleep`` for tests)."""
    from portal.documents.service import DocumentStorageService
    from portal.upkeep.scrub import Scrubber

    extra = {name: value for name, value in (("clock", clock), ("sleep", sleep)) if value is not None}
    return Scrubber(
        db.engine,
        storage.get,
        storage.encryption,
        DocumentStorageService().legacy_store(),
        budget=budget,
        rate=rate or None,
        **extra,
    )


def scrub_result(report, budget: timedelta | None) -> JobResult:
    """The scrub's report as a job's result: its summary line, each problem, each store it could not reach."""
    counts = report.outcomes
    result = JobResult(
        ok=report.passed,
        items=report.checked,
        size=report.bytes,
        problems=report.problem_count,
        errors_in_summary=False,
    )
    stopped = (
        f"stopped after its budget of {format_duration(budget.total_seconds())}; the next scrub goes on from there"
        if report.stopped == "budget" and budget is not None
        else "every object was checked once"
    )
    result.lines.append(
        f"Scrub: {report.checked} object(s), {format_size(report.bytes)} re-hashed: {counts['ok']} ok, "
        f"{counts['mismatch']} mismatched, {counts['missing']} missing, {counts['unreadable']} unreadable; {stopped}."
    )
    result.errors.extend(report.problems[:50])
    result.errors.extend(
        f"{name}: not scrubbed, the store cannot be used: {why}" for name, why in report.unavailable.items()
    )
    return result


JOBS: tuple[Job, ...] = (
    Job("outbox", "Cleanup outbox", outbox_job, spaced=False),
    Job("uploads", "Incomplete uploads", uploads_job, spaced=False),
    Job("staging", "Expired staging", staging_job, spaced=False),
    Job("trash", "Trash purge", trash_job, spaced=True),
    Job("quarantine", "Quarantine purge", quarantine_job, spaced=True),
    Job("scrub", "Integrity scrub", scrub_job, spaced=True),
)


@dataclass
class Outcome:
    """One job in one `maintain`: 'ran' (with its result), 'running' elsewhere or 'not due' (with who/when)."""

    job: Job
    state: str
    result: JobResult | None = None
    claim: leases.Claim | None = None


def run_job(
    job: Job, options: dict, *, holder: str, every: timedelta, now: Callable[[], datetime] | None = None
) -> Outcome:
    """Claim ``job``'s lease, run it, record how it went. A job that raises has failed (its error is the
    result and goes to the log with its traceback), so the jobs after it still run."""
    now = now or (lambda: datetime.now(UTC))
    lease = LEASE
    if job.name == "scrub":  # its lease must outlast its budget (a day when it has none)
        lease += options["budget"] if options.get("budget") is not None else timedelta(days=1)
    claim = leases.claim(db.engine, job.name, holder, now=now(), lease=lease, every=every)
    if not claim.won:
        return Outcome(job, claim.reason, claim=claim)
    try:
        result = job.run(options)
    except Exception as exc:
        db.session.rollback()
        log.exception("maintain: %s failed", job.name)
        result = JobResult(ok=False, errors=[f"{job.title}: failed: {type(exc).__name__}: {exc}"])
    leases.finish(
        db.engine,
        job.name,
        holder,
        now=now(),
        ok=result.ok,
        summary=result.summary,
        items=result.items,
        size=result.size,
        problems=result.problems,
    )
    return Outcome(job, "ran", result, claim)
