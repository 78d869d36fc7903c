"""Operator commands: `flask users ...` and `flask storage ...`."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from portal.auth.service import AccountError, create_user
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


@storage_cli.command("init")
def storage_init() -> None:
    """Create the local folder and the bucket if they are missing, then check every store."""
    failed = False
    for name in storage.names:
        provider = storage.get(name)
        try:
            provider.ensure_ready()
        except StorageError as exc:
            failed = True
            click.echo(f"{name}: {exc}", err=True)
        else:
            click.echo(f"{name}: ready")
    if failed:
        raise SystemExit(1)
