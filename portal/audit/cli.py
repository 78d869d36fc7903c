"""`flask audit export`: the audit trail as CSV on standard output."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import click
from flask.cli import AppGroup

from portal.audit.query import AuditFilter, csv_lines

audit_cli = AppGroup("audit", help="Read the audit trail.")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str) -> datetime:
    """'7d', '24h', '30m' (ago) or a date '2026-01-31' (its start, UTC); raises click.BadParameter."""
    match = re.fullmatch(r"(\d{1,6})([mhd])", value.strip().lower())
    if match and int(match.group(1)) > 0:
        return datetime.now(UTC) - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        return datetime.combine(date.fromisoformat(value.strip()), time(), tzinfo=UTC)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither an age like 30m, 24h, 7d nor a date like 2026-01-31") from None


@audit_cli.command("export")
@click.option("--since", "since", default="7d", show_default=True, help="Age like 7d or 24h, or a date (YYYY-MM-DD).")
@click.option("--event", default="", help="Only this event, e.g. auth.login.")
@click.option("--user", "email", default="", help="Only events whose user's email contains this.")
def export(since: str, event: str, email: str) -> None:
    """Write matching events as CSV to standard output, newest first."""
    where = AuditFilter(event=event, email=email, since=parse_since(since))
    for line in csv_lines(where):
        click.echo(line, nl=False)
