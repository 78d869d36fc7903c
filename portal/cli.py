"""Operator commands: `flask users ...` and `flask storage ...` (the migration's are in portal.migration.cli)."""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import AppGroup

from portal.auth.service import AccountError, create_user, normalize_email
from portal.cli_options import duration
from portal.extensions import storage
from portal.storage.base import StorageError

users_cli = AppGroup("users", help="Manage portal accounts.")
storage_cli = AppGroup("storage", help="Set up, migrate and verify file storage.")


@users_cli.command("create")
@click.argument("email")
@click.option("--name", default="", help="Display name (default: the part of the email before @).")
@click.option("--admin", is_flag=True, help="Make the account an administrator.")
@click.password_option(help="Password (asked for when not given).")
def create_user_command(email: str, name: str, admin: bool, password: str) -> None:
    """Create an account that can sign in."""
    try:
        user = create_user(email, name, password, is_admin=admin)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created {user.role} {user.email}.")


def _user_by_email(email: str):
    """The account with ``email``; a ClickException naming it otherwise."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import User

    user = db.session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise click.ClickException(f"No account has the email {normalize_email(email)}.")
    return user


@users_cli.command("list")
def list_users_command() -> None:
    """Every account: email, role, status, name."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import User

    for user in db.session.scalars(select(User).order_by(User.email)):
        click.echo(f"{user.email}\t{user.role}\t{'active' if user.is_active else 'deactivated'}\t{user.name}")


@users_cli.command("set-password")
@click.argument("email")
@click.password_option(help="New password (asked for when not given).")
def set_password_command(email: str, password: str) -> None:
    """Give an account a new password; its sessions end and its unused reset links die."""
    from portal.auth.accounts import set_password

    user = _user_by_email(email)
    try:
        ended = set_password(user, password)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Password of {user.email} set; {ended} session{'s' if ended != 1 else ''} ended.")


@users_cli.command("reset-link")
@click.argument("email")
def reset_link_command(email: str) -> None:
    """Print a one-time password reset link for an account (valid RESET_LINK_HOURS, earlier links die)."""
    from flask import current_app

    from portal.auth.resets import issue_reset_link, reset_url

    user = _user_by_email(email)
    try:
        token = issue_reset_link(user, issued_by=None, via="cli")
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    url = reset_url(token)
    click.echo(url)
    if not current_app.config["PORTAL_URL"]:
        click.echo("(set PORTAL_URL to print the full address; prefix this path with the portal's address)", err=True)


@storage_cli.command("init")
def storage_init() -> None:
    """Create the local folder and the bucket if they are missing, check every store, and have each bucket
    abort multipart uploads left incomplete S3_ABORT_INCOMPLETE_DAYS days (where it takes lifecycle rules)."""
    from flask import current_app

    days = current_app.config["S3_ABORT_INCOMPLETE_DAYS"]
    failed, seen = False, set()
    for name in storage.names:
        provider = storage.get(name)
        try:
            provider.ensure_ready()
        except StorageError as exc:
            failed = True
            click.echo(f"{name}: {exc}", err=True)
            continue
        click.echo(f"{name}: ready")
        if id(provider) in seen:
            continue
        seen.add(id(provider))
        try:
            ruled = provider.expire_incomplete_uploads(days)
        except StorageError as exc:
            click.echo(f"{name}: no lifecycle rule for incomplete uploads: {exc}", err=True)
            continue
        if ruled and days:
            click.echo(f"{name}: multipart uploads left incomplete are aborted after {days} day(s)")
        elif ruled:
            click.echo(f"{name}: no lifecycle rule for incomplete uploads (S3_ABORT_INCOMPLETE_DAYS=0)")
    if failed:
        raise SystemExit(1)


@storage_cli.command("purge-staging")
@click.option("--older-than", "older_than", default=None, help="Age like 24h or 7d (default STAGING_MAX_AGE_HOURS).")
def purge_staging(older_than: str | None) -> None:
    """Delete staged uploads that were never saved into a document."""
    from flask import current_app

    from portal.documents.service import DocumentStorageService

    age = (
        duration(older_than, "--older-than")
        if older_than
        else timedelta(hours=current_app.config["STAGING_MAX_AGE_HOURS"])
    )
    removed = DocumentStorageService().purge_staging(age)
    click.echo(f"Removed {removed} staged file{'s' if removed != 1 else ''} older than {age}.")


@storage_cli.command("purge-trash")
@click.option(
    "--older-than", "older_than", default=None, help="Age like 30d or 12h (default TRASH_RETENTION_DAYS days)."
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed and change nothing.")
def purge_trash(older_than: str | None, dry_run: bool) -> None:
    """Remove documents and attachments that have been in the trash longer than their retention."""
    from portal.documents.trash import TrashService, record_purge, retention
    from portal.formatting import format_size

    age = duration(older_than, "--older-than") if older_than else retention()
    report = TrashService().purge(age, dry_run=dry_run)
    verb = "Would remove" if dry_run else "Removed"
    click.echo(
        f"{verb} {report.documents} document{'s' if report.documents != 1 else ''} and "
        f"{report.attachments} attachment{'s' if report.attachments != 1 else ''} "
        f"({format_size(report.bytes)}) in the trash for longer than {age}."
    )
    if dry_run:
        return
    record_purge(report, age, "cli")
    _complain(
        report.failed,
        f"{len(report.failed)} object{'s' if len(report.failed) != 1 else ''} not deleted yet (the store "
        "refused); the deletions wait in the cleanup outbox and `flask storage maintain` retries them:",
    )
    _complain(
        report.kept,
        f"{len(report.kept)} legacy file{'s' if len(report.kept) != 1 else ''} could not be deleted; "
        "their rows stay in the trash and the next purge tries again:",
    )
    if report.failed or report.kept:
        raise SystemExit(1)


def _complain(lines: list[str], heading: str) -> None:
    """``heading`` and then each of ``lines`` indented, on stderr; nothing when there are no lines."""
    if lines:
        click.echo(heading, err=True)
        for line in lines:
            click.echo(f"  {line}", err=True)


keys_cli = AppGroup("keys", help="Key pairs for hybrid encryption at rest.")
storage_cli.add_command(keys_cli)


@keys_cli.command("generate")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--pq", is_flag=True, help="Post-quantum hybrid ML-KEM-768+X25519 instead of X25519.")
def keys_generate(directory: str, pq: bool) -> None:
    """Write a new key pair into DIRECTORY (private key mode 0600) and print its key id."""
    from portal.storage.keys import write_keypair

    try:
        key_id = write_keypair(directory, pq=pq)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"key id: {key_id}")
    click.echo(f"public key (STORAGE_ENCRYPTION_PUBLIC_KEY): {directory}/{key_id}.pub.pem")
    click.echo(f"private key (STORAGE_ENCRYPTION_PRIVATE_KEYS): {directory}/{key_id}.key.pem")


@storage_cli.command("rotate-key")
def rotate_key() -> None:
    """Re-wrap every encrypted file's data key to STORAGE_ENCRYPTION_PUBLIC_KEY (content is not re-encrypted)."""
    from flask import current_app

    from portal.documents.rotation import KeyRotationService

    if not current_app.config["STORAGE_ENCRYPTION_PUBLIC_KEY"]:
        raise click.ClickException("set STORAGE_ENCRYPTION_PUBLIC_KEY to the new public key first")
    service = KeyRotationService()
    total = service.pending()
    click.echo(f"{total} encrypted file{'s' if total != 1 else ''} to re-wrap to {service.public_key.key_id}.")
    with click.progressbar(length=total, label="Re-wrapping", show_pos=True) as bar:
        report = service.rotate(progress=bar.update)
    click.echo(f"Re-wrapped {report.rewrapped}; {len(report.failures)} failed.")
    for failure in report.failures:
        click.echo(f"  {failure}", err=True)
    if report.remaining:
        click.echo(
            f"{report.remaining} file(s) are still under an older key (added or promoted during the run); "
            "run `flask storage rotate-key` again before retiring the old private key.",
            err=True,
        )
    if report.failures or report.remaining:
        raise SystemExit(1)
