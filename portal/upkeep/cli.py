"""`flask storage maintain` (every job that is due, each under its lease) and `flask storage scrub`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.cli_options import duration, rate
from portal.extensions import db
from portal.formatting import format_duration
from portal.upkeep import leases
from portal.upkeep.jobs import JOBS, Outcome, run_job, scrub_result, scrubber
from portal.upkeep.status import integrity


def _rate(value: str | None) -> int | None:
    """--rate as bytes a second; the SCRUB_RATE setting when not given; 0 for no limit."""
    return current_app.config["SCRUB_RATE"] if value is None else rate(value, "--rate")


def _budget(value: str | None, option: str = "--budget", allow_zero: bool = False) -> timedelta | None:
    """A budget option as a duration; the SCRUB_BUDGET_MINUTES setting when not given; None ('none') for no limit."""
    if value is None:
        return timedelta(minutes=current_app.config["SCRUB_BUDGET_MINUTES"])
    if value.strip().lower() in ("none", "unlimited"):
        return None
    if allow_zero and value.strip() == "0":
        return timedelta(0)
    return duration(value, option, allow_zero=allow_zero)


def _print(outcome: Outcome) -> None:
    if outcome.result is not None:
        for line in outcome.result.lines:
            click.echo(line)
        for line in outcome.result.errors:
            click.echo(f"  {line}", err=True)
        return
    claim = outcome.claim
    since = claim.last_started_at.strftime("%Y-%m-%d %H:%M:%S UTC") if claim.last_started_at else "unknown"
    if outcome.state == "running":
        click.echo(f"{outcome.job.title}: skipped, {claim.holder} has been running it since {since}.")
    else:
        click.echo(
            f"{outcome.job.title}: not due, it last started {since} "
            f"(MAINTAIN_INTERVAL_MINUTES={current_app.config['MAINTAIN_INTERVAL_MINUTES']})."
        )


def _coverage_line() -> str:
    days = current_app.config["SCRUB_INTERVAL_DAYS"]
    with db.engine.connect() as conn:
        found = integrity(conn, datetime.now(UTC), days, problems=False)
    if found.all_proven:
        return f"Every object was re-hashed and matched within the last {days} days ({found.total} objects)."
    return (
        f"{found.proven} of {found.total} objects were re-hashed and matched within the last {days} days; "
        f"{found.never} never checked, {found.problem_count} found wrong."
    )


@click.command("maintain")
@click.option(
    "--limit",
    default=10_000,
    show_default=True,
    type=click.IntRange(1),
    help="Retry at most this many owed deletions in this run.",
)
@click.option(
    "--upload-age", default="1d", show_default=True, help="Abort multipart uploads left incomplete at least this long."
)
@click.option(
    "--scrub-budget", default=None, help="Time the scrub may take (default SCRUB_BUDGET_MINUTES; 0 skips it)."
)
@click.option("--only", "only", multiple=True, type=click.Choice([job.name for job in JOBS]), help="Run only this job.")
@with_appcontext
def maintain_command(limit: int, upload_age: str, scrub_budget: str | None, only: tuple[str, ...]) -> None:
    """Run every upkeep job that is due: owed deletions, incomplete uploads, expired staging, the trash,
    the quarantine, and the integrity scrub within its budget.

    Safe to run from several hosts at once: each job runs under a database lease, and the trash, quarantine
    and scrub at most once per MAINTAIN_INTERVAL_MINUTES. Exit 1 when a job failed, found a problem, or a
    deletion is still owed.
    """
    from portal.cleanup.drain import pending

    options = {
        "limit": limit,
        # 0s is the operator's call after a crash (it aborts uploads still being sent too): allowed, as in orphans
        "upload_age": duration(upload_age, "--upload-age", allow_zero=True),
        "budget": _budget(scrub_budget, "--scrub-budget", allow_zero=True),
        "rate": current_app.config["SCRUB_RATE"],
    }
    spacing = timedelta(minutes=current_app.config["MAINTAIN_INTERVAL_MINUTES"])
    holder, failed = leases.holder_name(), False
    for job in JOBS:
        if only and job.name not in only:
            continue
        outcome = run_job(job, options, holder=holder, every=spacing if job.spaced else timedelta(0))
        _print(outcome)
        failed |= outcome.result is not None and not outcome.result.ok
    waiting, _ = pending(db.engine)
    if waiting:
        click.echo(f"{waiting} deletion(s) still owed; they are retried with backoff by the next run.")
    if failed or waiting:
        raise SystemExit(1)


@click.command("scrub")
@click.option(
    "--budget",
    default=None,
    help="Stop after this long, e.g. 10m or 2h (default SCRUB_BUDGET_MINUTES; none: no limit).",
)
@click.option(
    "--rate", default=None, help="Read at most this many bytes a second, e.g. 20MB/s (default SCRUB_RATE; 0: no limit)."
)
@with_appcontext
def scrub_command(budget: str | None, rate: str | None) -> None:
    """Re-hash the objects verified longest ago (never-verified first) and record what each holds.

    Every store's objects are read back and hashed (never the ETag); encrypted ones are decrypted, which
    authenticates every segment. Exit 1 when an object is missing or wrong, or a store cannot be reached.
    """
    limit, pace = _budget(budget), _rate(rate)
    if limit is not None and not limit:
        limit = None  # SCRUB_BUDGET_MINUTES=0 keeps maintain from scrubbing; asked by hand, the scrub has no limit
    holder, now = leases.holder_name(), datetime.now(UTC)
    claim = leases.claim(
        db.engine, "scrub", holder, now=now, lease=timedelta(hours=1) + (limit or timedelta(days=1)), every=timedelta(0)
    )
    if not claim.won:
        since = claim.last_started_at.strftime("%Y-%m-%d %H:%M:%S UTC") if claim.last_started_at else "unknown"
        click.echo(f"Not scrubbing: {claim.holder} has been scrubbing since {since}.", err=True)
        raise SystemExit(1)

    def on_row(row, outcome: str, reason: str | None) -> None:
        if outcome != "ok":
            click.echo(f"{outcome.upper()} attachment #{row.id} {row.storage_type}:{row.storage_path}: {reason}")

    try:
        report = scrubber(limit, pace).run(on_row=on_row)
    except Exception as exc:
        leases.finish(
            db.engine, "scrub", holder, now=datetime.now(UTC), ok=False, summary=f"{type(exc).__name__}: {exc}"
        )
        raise
    result = scrub_result(report, limit)
    leases.finish(
        db.engine,
        "scrub",
        holder,
        now=datetime.now(UTC),
        ok=result.ok,
        summary=result.summary,
        items=result.items,
        size=result.size,
        problems=result.problems,
    )
    for line in result.lines:
        click.echo(f"{line} ({format_duration((datetime.now(UTC) - now).total_seconds())})")
    for name, why in report.unavailable.items():
        click.echo(f"{name}: not scrubbed, the store cannot be used: {why}", err=True)
    click.echo(_coverage_line())
    if not result.ok:
        raise SystemExit(1)
